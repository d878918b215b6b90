// Package plumbing holds what the library's packages share but users never
// call: the build-time check of a layer's next Fetcher, the allocation-free
// counting interface of the metrics observer, and the marks of a batching
// layer that keeps a batch in order and of a layer that keeps keys.
package plumbing

import (
	"context"
	"sync"
	"sync/atomic"
	"unsafe"
)

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
	Counter(kind uint8) *Count
}

// A Count is a counter that goroutines on many cores add to at once: one
// atomic counter shared by every core would cost each hit a cache line
// moved between cores (with Metrics on, parallel hits over the otter store
// took 46% longer on 2 cores). Add adds to one of countStripes counters,
// each on its own cache line, picked by the address of the caller's stack,
// so that goroutines running at once mostly add to different ones; Load
// sums them. The zero value is a count of 0.
type Count struct {
	stripes [countStripes]struct {
		n atomic.Uint64
		_ [56]byte // to the next cache line
	}
}

// countStripes is the number of a Count's stripes: 2 to the stripeBits.
const (
	stripeBits   = 4
	countStripes = 1 << stripeBits
)

// Add adds n to c.
func (c *Count) Add(n uint64) { c.stripes[stackStripe()].n.Add(n) }

// Load returns the count: the sum of what every Add added before it began,
// and perhaps of some that ran meanwhile.
func (c *Count) Load() uint64 {
	var sum uint64
	for i := range c.stripes {
		sum += c.stripes[i].n.Load()
	}
	return sum
}

// stackStripe returns a stripe for the calling goroutine, from the address
// of its stack: the same while it runs (a stack that grows moves, and the
// goroutine may change stripes), different for goroutines running at once
// unless they collide. The multiplication spreads every bit of the address
// (stacks may be as little as 2 KiB apart) into the top stripeBits.
func stackStripe() uint64 {
	var b byte
	h := uint64(uintptr(unsafe.Pointer(&b))) * 0x9e3779b97f4a7c15
	return h >> (64 - stripeBits)
}

// An InOrder BatchFetcher passes a batch below whole and in order to the
// Fetcher BatchNext returns: the i-th key it asks below comes from the i-th
// key it was given, and no key is dropped or added. A cache layer above
// relies on it to tell which outer key each key below serves. Only the
// library's own layers implement it; a batch that reaches a cache layer
// through any other BatchFetcher is recorded as a whole (see pipeline's
// dependency index).
type InOrder interface {
	BatchNext() any
}

// A SameKey layer asks the Fetcher SameKeyNext returns for the key it was
// given, and for no other, in every fetch (a batch: the same keys), so
// that each of its values derives from the value of the same key below. A
// cache layer built over a chain of them down to a cache layer with the
// same key type needs no dependency record there: the layer below drops
// the key above with its own (see pipeline's dependency index). Only the
// library's own layers implement it.
type SameKey interface {
	SameKeyNext() any
}

// A Holder is a layer that counts the layers above it that will release
// it when they close, so that a layer shared by a tree closes when its last
// dependent does. Layers call Hold on their next Fetcher when they are built,
// and Release on it when they close.
type Holder interface {
	Hold()
	Release() error
}

// Hold calls next.Hold if next is a Holder.
func Hold(next any) {
	if h, ok := next.(Holder); ok {
		h.Hold()
	}
}

// Release releases next when the layer above it closes: next.Release if it
// is a Holder, otherwise next.Close if it has one.
func Release(next any) error {
	switch n := next.(type) {
	case Holder:
		return n.Release()
	case interface{ Close() error }:
		return n.Close()
	}
	return nil
}

// Refs is the count of a Holder. Its zero value is ready to use.
type Refs struct {
	mu     sync.Mutex
	held   int
	closed bool
}

// Hold adds a holder.
func (r *Refs) Hold() {
	r.mu.Lock()
	r.held++
	r.mu.Unlock()
}

// Release removes a holder and reports whether it was the last one, so that
// the layer must close now.
func (r *Refs) Release() (last bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held--
	return r.held == 0 && !r.closed
}

// Close marks the layer closed and reports whether it was open: only the
// first Close does the work.
func (r *Refs) Close() (first bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	first = !r.closed
	r.closed = true
	return first
}

// Inward is embedded by the layers that hold no state of their own: it
// passes Clear and Close to Next and counts its holders. Invalidate, which
// is typed by the key, each layer passes on itself.
type Inward struct {
	Next any
	Refs
}

// Hold adds a holder.
func (in *Inward) Hold() { in.Refs.Hold() }

// Release removes a holder, and closes the layer when it was the last.
func (in *Inward) Release() error {
	if in.Refs.Release() {
		return in.Close()
	}
	return nil
}

// Close closes the layer once: it releases Next.
func (in *Inward) Close() error {
	if !in.Refs.Close() {
		return nil
	}
	return Release(in.Next)
}

// Clear clears Next if it can be cleared.
func (in *Inward) Clear(ctx context.Context) error {
	if c, ok := in.Next.(interface{ Clear(context.Context) error }); ok {
		return c.Clear(ctx)
	}
	return nil
}
