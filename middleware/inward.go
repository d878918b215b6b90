package middleware

import (
	"context"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// passInward holds a layer's next Fetcher and passes invalidations and
// clears to it unchanged. The layers that keep no state and do not change
// keys (Parse, Transform, Inspect, Log, Timeout) embed it.
type passInward[K, V any] struct {
	next pipeline.Fetcher[K, V]
}

// Invalidate passes key to next if next is a pipeline.Invalidator;
// otherwise it does nothing.
func (p passInward[K, V]) Invalidate(ctx context.Context, key K) error {
	_, err := pipeline.Invalidate(ctx, p.next, key)
	return err
}

// Clear clears next if next is a pipeline.Clearer; otherwise it does
// nothing.
func (p passInward[K, V]) Clear(ctx context.Context) error {
	return clearNext(ctx, p.next)
}

// clearNext clears next if it is a pipeline.Clearer.
func clearNext(ctx context.Context, next any) error {
	if c, ok := next.(pipeline.Clearer); ok {
		return c.Clear(ctx)
	}
	return nil
}
