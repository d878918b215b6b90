// Package plumbing holds what the library's packages share but users never
// call: the build-time check of a layer's next Fetcher, the allocation-free
// counting interface of the metrics observer, and the mark of a batching
// layer that keeps a batch in order.
package plumbing

import "sync/atomic"

// MustNext panics with a message naming the layer if next is nil. Layers
// call it at build time, so that a wiring mistake fails where the pipeline
// is built rather than on the first fetch.
func MustNext(layer string, next any) {
	if next == nil {
		panic(layer + ": nil next Fetcher")
	}
}

// A Counter is an observer that counts events by kind (pipeline.EventKind
// values). A cache layer whose observer is a Counter asks it once, when it
// is built, for the counter of each kind; from then on an event that
// carries nothing but its kind and key (a hit, a miss, a shared wait) is
// counted with one atomic add, without building an Event. A nil counter
// means "send this kind to Observe".
type Counter interface {
	Counter(kind uint8) *atomic.Uint64
}

// An InOrder BatchFetcher passes a batch below whole and in order: the i-th
// key it asks below comes from the i-th key it was given, and no key is
// dropped or added. A cache layer below relies on it to tell which outer key
// each of its keys serves. Only the library's own layers implement it; a
// batch that reaches a cache layer through any other BatchFetcher is
// recorded as a whole (see pipeline's dependency index).
type InOrder interface {
	BatchInOrder()
}
