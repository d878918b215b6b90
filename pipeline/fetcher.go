package pipeline

import "context"

// A Fetcher returns the value for a key. Fetch returns an error wrapping
// [ErrNotFound] when the key has no value, never a zero value with a nil
// error. A Fetcher is safe for concurrent use: a shared inner Fetcher is
// called from all the branches above it.
type Fetcher[K, V any] interface {
	Fetch(ctx context.Context, key K) (V, error)
}

// The FetcherFunc type is an adapter to allow the use of ordinary functions
// as Fetchers. A source (database, bucket, HTTP API) is usually one.
type FetcherFunc[K, V any] func(ctx context.Context, key K) (V, error)

// Fetch calls f(ctx, key).
func (f FetcherFunc[K, V]) Fetch(ctx context.Context, key K) (V, error) {
	return f(ctx, key)
}

// A Layer wraps the Fetcher next, which serves keys of type K with values of
// type V, into a Fetcher of keys K2 and values V2: keys are mapped outer →
// inner, values inner → outer. A Layer is called once, when the pipeline is
// built, and panics if next is nil; the Fetcher it returns is safe for
// concurrent use.
type Layer[K, V, K2, V2 any] func(next Fetcher[K, V]) Fetcher[K2, V2]

// A Middleware is a Layer that keeps the key and value types.
type Middleware[K, V any] = Layer[K, V, K, V]

// Chain composes middlewares, the first outermost: Chain(a, b, c)(f) is
// equivalent to a(b(c(f))). It panics if one is nil.
func Chain[K, V any](outer Middleware[K, V], others ...Middleware[K, V]) Middleware[K, V] {
	for _, m := range append([]Middleware[K, V]{outer}, others...) {
		if m == nil {
			panic("pipeline: Chain: nil middleware")
		}
	}
	return func(next Fetcher[K, V]) Fetcher[K, V] {
		for i := len(others) - 1; i >= 0; i-- {
			next = others[i](next)
		}
		return outer(next)
	}
}

// Compose joins two layers that may change types into one, the outer
// wrapping what the inner returns: Compose(outer, inner)(f) is equivalent to
// outer(inner(f)). It panics if one is nil.
func Compose[K, V, K2, V2, K3, V3 any](
	outer Layer[K2, V2, K3, V3], inner Layer[K, V, K2, V2],
) Layer[K, V, K3, V3] {
	if outer == nil || inner == nil {
		panic("pipeline: Compose: nil layer")
	}
	return func(next Fetcher[K, V]) Fetcher[K3, V3] {
		return outer(inner(next))
	}
}
