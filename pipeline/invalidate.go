package pipeline

import "context"

// An Invalidator is a Fetcher whose layers hold state. Invalidate drops key
// from every stateful layer from this one inward, mapping the key through
// key mappers on the way, so that one call clears a stack. The next fetch of
// the key reaches the first layer that still holds it, or the source.
//
// Stock layers implement it and pass it inward; a layer that holds nothing
// and cannot map the key stops it. Invalidate is safe for concurrent use.
type Invalidator[K any] interface {
	Invalidate(ctx context.Context, key K) error
}

// Invalidate calls f.Invalidate(ctx, key) if f is an Invalidator, and reports
// whether it was.
func Invalidate[K, V any](ctx context.Context, f Fetcher[K, V], key K) (bool, error) {
	inv, ok := f.(Invalidator[K])
	if !ok {
		return false, nil
	}
	return true, inv.Invalidate(ctx, key)
}

// A Clearer is a Fetcher whose layers hold state that can be dropped all at
// once. Clear empties every stateful layer from this one inward, and every
// layer that derives its values from them (see Cache). Stock layers
// implement it and pass it inward. Clear is safe for concurrent use.
type Clearer interface {
	Clear(ctx context.Context) error
}

// A Closer is a Fetcher that runs work in the background (shared fetches,
// refresh-ahead). Close stops that work, cancelling what is under way, and
// returns when none of it runs any more. Fetches still work after Close; they
// just start nothing in the background.
type Closer interface {
	Close() error
}
