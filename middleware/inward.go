package middleware

import (
	"context"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// passInward holds a layer's next Fetcher and passes Invalidate, Clear and
// Close to it unchanged, counting the layers above that hold it (see
// pipeline.Closer for trees). The layers that keep no state and do not
// change keys (Parse, Transform, Inspect, Log, Timeout) embed it.
type passInward[K, V any] struct {
	*plumbing.Inward // Clear, Close
	next             pipeline.Fetcher[K, V]
}

// SameKeyNext returns next: every layer that embeds passInward asks next
// for the key it was given and no other (see plumbing.SameKey).
func (p passInward[K, V]) SameKeyNext() any { return p.next }

// inward returns the passInward of a layer being built over next.
func inward[K, V any](next pipeline.Fetcher[K, V]) passInward[K, V] {
	plumbing.Hold(next)
	return passInward[K, V]{Inward: &plumbing.Inward{Next: next}, next: next}
}

// Invalidate passes key to next if next is a pipeline.Invalidator;
// otherwise it does nothing.
func (p passInward[K, V]) Invalidate(ctx context.Context, key K) error {
	return pipeline.Invalidate(ctx, p.next, key)
}
