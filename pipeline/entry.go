package pipeline

import (
	"context"
	"time"
)

// An Entry is a value with what the layers know of its lifetime; it is how
// expiry travels between layers (see [EntryFetcher]).
type Entry[V any] struct {
	Value V
	// Expires is when the value stops being fresh. The zero time means the
	// lifetime is unknown; a cache layer then applies its own TTL.
	Expires time.Time
}

// An EntryFetcher is a Fetcher that also tells how long a value stays fresh.
// It is optional, as http.Flusher is: every stock layer passes it through,
// and a cache layer filled from one stores the entry's Expires, capped by
// its own TTL, so that no outer layer keeps a value longer than the layer it
// came from. A source implements it (see [EntryFetcherFunc]) to give a
// per-value expiry, say from a Cache-Control header; below a plain Fetcher,
// every lifetime is unknown.
type EntryFetcher[K, V any] interface {
	Fetcher[K, V]
	// FetchEntry is Fetch with the value's lifetime. Errors are as for Fetch.
	FetchEntry(ctx context.Context, key K) (Entry[V], error)
}

// The EntryFetcherFunc type is an adapter to allow the use of ordinary
// functions that know a value's lifetime as EntryFetchers.
type EntryFetcherFunc[K, V any] func(ctx context.Context, key K) (Entry[V], error)

// FetchEntry calls f(ctx, key).
func (f EntryFetcherFunc[K, V]) FetchEntry(ctx context.Context, key K) (Entry[V], error) {
	return f(ctx, key)
}

// Fetch calls f(ctx, key) and returns the entry's value.
func (f EntryFetcherFunc[K, V]) Fetch(ctx context.Context, key K) (V, error) {
	e, err := f(ctx, key)
	return e.Value, err
}

// Entries returns f as an EntryFetcher: f itself if it is one, otherwise an
// adapter whose entries have an unknown lifetime. Layers call it once, when
// built, so that a fetch needs no type assertion.
func Entries[K, V any](f Fetcher[K, V]) EntryFetcher[K, V] {
	if ef, ok := f.(EntryFetcher[K, V]); ok {
		return ef
	}
	return plainEntries[K, V]{f}
}

type plainEntries[K, V any] struct{ Fetcher[K, V] }

func (p plainEntries[K, V]) FetchEntry(ctx context.Context, key K) (Entry[V], error) {
	v, err := p.Fetch(ctx, key)
	return Entry[V]{Value: v}, err
}
