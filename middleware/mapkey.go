package middleware

import (
	"context"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
	"github.com/multilayer-cache/multilayer/internal/typename"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// MapKey returns a layer that maps each key on its way inward with fn, so
// that a layer keyed by K2 can fetch from one keyed by K: a parsed-file
// cache keyed by (blob, parser version) over a raw-file cache keyed by blob.
// Values pass through unchanged. V comes first because it cannot be
// inferred:
//
//	middleware.MapKey[Doc](func(k DocKey) string { return k.Blob })
//
// fn is called once per fetch, from many goroutines at once: it must be safe
// for concurrent use, and it should be cheap and pure, for the same outer key
// must always map to the same inner key. Errors from below, not found
// included, are returned unchanged.
//
// The returned Fetcher implements pipeline.EntryFetcher (lifetimes pass
// through), pipeline.Invalidator, pipeline.Clearer and pipeline.Closer
// (Invalidate maps the key and passes it to next), pipeline.Describer, and
// pipeline.BatchFetcher when next is one (a batch is mapped and passed down
// whole, in one call).
//
// MapKey panics if fn is nil, and the layer panics if next is nil.
func MapKey[V, K2, K any](fn func(K2) K) pipeline.Layer[K, V, K2, V] {
	if fn == nil {
		panic("middleware: MapKey: nil function")
	}
	return func(next pipeline.Fetcher[K, V]) pipeline.Fetcher[K2, V] {
		plumbing.MustNext("middleware: MapKey", next)
		plumbing.Hold(next)
		m := &mapKey[K2, K, V]{Inward: &plumbing.Inward{Next: next}, fn: fn, next: next, entries: pipeline.Entries(next)}
		if b, ok := next.(pipeline.BatchFetcher[K, V]); ok {
			return &mapKeyBatch[K2, K, V]{mapKey: m, batch: b}
		}
		return m
	}
}

// mapKey is the Fetcher returned by MapKey.
type mapKey[K2, K, V any] struct {
	*plumbing.Inward // Clear, Close
	fn               func(K2) K
	next             pipeline.Fetcher[K, V]
	entries          pipeline.EntryFetcher[K, V]
}

// Fetch returns the value of the mapped key.
func (m *mapKey[K2, K, V]) Fetch(ctx context.Context, key K2) (V, error) {
	return m.next.Fetch(ctx, m.fn(key))
}

// FetchEntry returns the entry of the mapped key, lifetime included.
func (m *mapKey[K2, K, V]) FetchEntry(ctx context.Context, key K2) (pipeline.Entry[V], error) {
	return m.entries.FetchEntry(ctx, m.fn(key))
}

// Invalidate passes the mapped key to next if next is a
// pipeline.Invalidator; otherwise it does nothing.
func (m *mapKey[K2, K, V]) Invalidate(ctx context.Context, key K2) error {
	return pipeline.Invalidate(ctx, m.next, m.fn(key))
}

// Describe says that the layer maps keys, and from which type to which.
func (m *mapKey[K2, K, V]) Describe() pipeline.Description {
	return pipeline.Description{
		Kind:   "map key",
		Detail: typename.Of[K2]() + " → " + typename.Of[K](),
		Next:   []any{m.next},
	}
}

// mapKeyBatch is a mapKey over a BatchFetcher.
type mapKeyBatch[K2, K, V any] struct {
	*mapKey[K2, K, V]
	batch pipeline.BatchFetcher[K, V]
	keys  scratch[K]
}

// BatchNext returns the Fetcher a batch goes to, mapped key by key, in
// order.
func (m *mapKeyBatch[K2, K, V]) BatchNext() any { return m.batch }

// FetchBatch maps the keys and fetches them with one batch below. The
// results stay aligned with keys.
func (m *mapKeyBatch[K2, K, V]) FetchBatch(ctx context.Context, keys []K2, out []pipeline.Result[V]) {
	p := m.keys.get(len(keys))
	defer m.keys.put(p)
	inner := *p
	for i, k := range keys {
		inner[i] = m.fn(k)
	}
	m.batch.FetchBatch(ctx, inner, out)
}
