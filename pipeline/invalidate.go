package pipeline

import (
	"context"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
)

// An Invalidator is a Fetcher whose layers hold state. Invalidate means "the
// data behind this key changed": it drops key from every stateful layer from
// this one inward, mapping the key through key mappers on the way, and from
// every layer that derived a value from it (see Cache), so that one call
// clears a stack and, in a tree, what every branch derived from a shared
// layer. It returns once all of them have dropped the key, with the error
// of every drop that failed. Invalidate is safe for concurrent use.
type Invalidator[K any] interface {
	Invalidate(ctx context.Context, key K) error
}

// A Clearer is a Fetcher whose layers hold state that can be dropped all at
// once. Clear empties every stateful layer from this one inward, and every
// layer that derives its values from them (see Cache). Clear is safe for
// concurrent use.
type Clearer interface {
	Clear(ctx context.Context) error
}

// A Closer is a Fetcher that runs work in the background (shared fetches,
// refresh-ahead), or stands above one that does. Close stops that work,
// cancelling what is under way, returns when none of it runs any more, and
// passes Close inward. Fetches still work after Close; they just start
// nothing in the background.
//
// In a tree, a layer shared by several dependents is closed when it is
// closed directly, or when the last of the dependents that were built over
// it closes. Close is idempotent. It does not close stores: they belong to
// the user (a store that runs goroutines has a Close of its own).
type Closer interface {
	Close() error
}

// An Origin is a layer that knows which values the layers above it derived
// from its keys, as every cache layer does. DropDerived drops the values
// derived from key (outward, through any number of levels) and ClearDerived
// clears the layers that derive from it, both without touching this
// layer's store or the layers below it; the fills of this layer under way
// for the key (for ClearDerived, all of them) are not kept, and later
// fetches do not join them, for they may carry the old value. An
// invalidation bus uses it to apply another instance's invalidation to the
// local layers above a shared remote layer, which must not be touched.
type Origin[K any] interface {
	DropDerived(ctx context.Context, key K) error
	ClearDerived(ctx context.Context) error
}

// Invalidate calls f.Invalidate(ctx, key) if f is an Invalidator; otherwise
// it does nothing.
func Invalidate[K, V any](ctx context.Context, f Fetcher[K, V], key K) error {
	if inv, ok := f.(Invalidator[K]); ok {
		return inv.Invalidate(ctx, key)
	}
	return nil
}

// Clear calls f.Clear(ctx) if f is a Clearer; otherwise it does nothing.
// Called on the outermost Fetcher of a stack, it empties every layer of it.
func Clear(ctx context.Context, f any) error {
	if c, ok := f.(Clearer); ok {
		return c.Clear(ctx)
	}
	return nil
}

// Close calls f.Close() if f is a Closer; otherwise it does nothing. Called
// on the outermost Fetcher of a stack, it stops the background work of
// every layer of it (see Closer for trees), so that a service keeps one
// handle.
func Close(f any) error {
	if c, ok := f.(Closer); ok {
		return c.Close()
	}
	return nil
}

// Forward returns a layer over next that fetches with fetch and passes
// Invalidate, Clear and Close on to next: the one-line way to write a layer
// of your own that keeps the guarantees of the layers below it.
//
//	func upper(next pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
//		return pipeline.Forward(next, func(ctx context.Context, k string) (string, error) {
//			v, err := next.Fetch(ctx, k)
//			return strings.ToUpper(v), err
//		})
//	}
//
// fetch should pass its ctx to next, as above: that is how the cache
// layers below learn which values of the layers above derive from theirs
// (see Cache). A layer that is a bare FetcherFunc keeps that part, but
// stops Invalidate, Clear and Close on their way inward: called on a stack
// above it, they do not reach the layers below it. A layer that calls next
// with another context loses both.
//
// Forward panics if next or fetch is nil.
func Forward[K, V, V2 any](next Fetcher[K, V], fetch func(ctx context.Context, key K) (V2, error)) Fetcher[K, V2] {
	plumbing.MustNext("pipeline: Forward", next)
	if fetch == nil {
		panic("pipeline: Forward: nil fetch function")
	}
	f := &forward[K, V, V2]{fetch: fetch, next: next}
	f.Inward.Next = next
	plumbing.Hold(next)
	return f
}

// forward is the Fetcher returned by Forward.
type forward[K, V, V2 any] struct {
	plumbing.Inward // Clear, Close
	fetch           func(ctx context.Context, key K) (V2, error)
	next            Fetcher[K, V]
}

// Fetch calls the layer's fetch function.
func (f *forward[K, V, V2]) Fetch(ctx context.Context, key K) (V2, error) { return f.fetch(ctx, key) }

// Invalidate passes key to next.
func (f *forward[K, V, V2]) Invalidate(ctx context.Context, key K) error {
	return Invalidate(ctx, f.next, key)
}

// Describe says that the layer is a user's, over next.
func (f *forward[K, V, V2]) Describe() Description {
	return Description{Kind: "layer", Next: []any{f.next}}
}
