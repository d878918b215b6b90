package redis

import (
	"context"
	"errors"
	"fmt"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// Coherent returns the layer of bus: placed between an instance's local
// layers and its Redis cache layer, it keeps the local layers coherent with
// those of the other instances on the bus's channel (see the package
// documentation). V comes first because it cannot be inferred:
//
//	redis.Coherent[Profile](bus)(redisLayer)
//
// A fetch passes through to next, and the entry's expiry is capped at
// BusOptions.MaxStale from now. Invalidate and Clear are passed to next,
// then published; their error joins next's and the publish's. Close closes
// the bus, then passes Close inward.
//
// The returned Fetcher implements pipeline.EntryFetcher,
// pipeline.Invalidator, pipeline.Clearer, pipeline.Closer,
// pipeline.Describer, and pipeline.BatchFetcher when next is one (a batch
// passes down whole, in order).
//
// Coherent panics if bus is nil, and the layer panics if next is nil, if
// next is not a pipeline.Origin (a cache layer), or if bus already has a
// layer: a bus serves one.
func Coherent[V, K any](bus *Bus[K]) pipeline.Middleware[K, V] {
	if bus == nil {
		panic("stores/redis: Coherent: nil bus")
	}
	return func(next pipeline.Fetcher[K, V]) pipeline.Fetcher[K, V] {
		plumbing.MustNext("stores/redis: Coherent", next)
		origin, ok := next.(pipeline.Origin[K])
		if !ok {
			panic(errNotOrigin)
		}
		if !bus.origin.CompareAndSwap(nil, &origin) {
			panic("stores/redis: Coherent: the bus already has a layer; a bus serves one")
		}
		plumbing.Hold(next)
		c := &coherent[K, V]{bus: bus, next: next, entries: pipeline.Entries(next)}
		if b, ok := next.(pipeline.BatchFetcher[K, V]); ok {
			return &coherentBatch[K, V]{coherent: c, batch: b}
		}
		return c
	}
}

// coherent is the Fetcher returned by Coherent's layer.
type coherent[K, V any] struct {
	bus     *Bus[K]
	next    pipeline.Fetcher[K, V]
	entries pipeline.EntryFetcher[K, V]
	refs    plumbing.Refs
}

// SameKeyNext returns next, which the layer asks for the key it was given
// and no other (see plumbing.SameKey): a cache layer above needs no
// dependency records in the one below.
func (c *coherent[K, V]) SameKeyNext() any { return c.next }

// Fetch fetches key from next.
func (c *coherent[K, V]) Fetch(ctx context.Context, key K) (V, error) {
	return c.next.Fetch(ctx, key)
}

// FetchEntry fetches the entry of key from next, its expiry capped at
// MaxStale from now.
func (c *coherent[K, V]) FetchEntry(ctx context.Context, key K) (pipeline.Entry[V], error) {
	e, err := c.entries.FetchEntry(ctx, key)
	if err == nil {
		e.Expires = c.bus.capExpiry(e.Expires)
	}
	return e, err
}

// Invalidate passes key to next, then publishes it.
func (c *coherent[K, V]) Invalidate(ctx context.Context, key K) error {
	err := pipeline.Invalidate(ctx, c.next, key)
	return errors.Join(err, c.bus.publishKey(ctx, key))
}

// Clear clears next, then publishes the Clear.
func (c *coherent[K, V]) Clear(ctx context.Context) error {
	err := pipeline.Clear(ctx, c.next)
	return errors.Join(err, c.bus.publish(ctx, message{kind: kindClear}))
}

// Close closes the bus and releases next, once.
func (c *coherent[K, V]) Close() error {
	if !c.refs.Close() {
		return nil
	}
	return errors.Join(c.bus.Close(), plumbing.Release(c.next))
}

// Hold adds a layer above that will release this one.
func (c *coherent[K, V]) Hold() { c.refs.Hold() }

// Release removes a layer above, and closes this one when it was the last.
func (c *coherent[K, V]) Release() error {
	if c.refs.Release() {
		return c.Close()
	}
	return nil
}

// Describe says that the layer is an invalidation bus, on which channel,
// in what health, with the count of the invalidations and Clears of other
// instances it applied and of its clears for gaps.
func (c *coherent[K, V]) Describe() pipeline.Description {
	st := c.bus.Stats()
	cl := st.Clears
	gaps := cl.Subscribed + cl.HeartbeatLost + cl.HeartbeatBack + cl.BadMessage + cl.DropFailed
	return pipeline.Description{
		Name:   c.bus.channel,
		Kind:   "invalidation bus",
		Detail: fmt.Sprintf("%v, applied %d, gap clears %d, max stale %v", st.Health, st.Applied, gaps, c.bus.maxStale),
		Next:   []any{c.next},
	}
}

// coherentBatch is a coherent layer over a BatchFetcher.
type coherentBatch[K, V any] struct {
	*coherent[K, V]
	batch pipeline.BatchFetcher[K, V]
}

// BatchNext returns the Fetcher a batch goes to, whole and in order.
func (c *coherentBatch[K, V]) BatchNext() any { return c.batch }

// FetchBatch fetches keys with one batch below, each expiry capped at
// MaxStale from now.
func (c *coherentBatch[K, V]) FetchBatch(ctx context.Context, keys []K, out []pipeline.Result[V]) {
	c.batch.FetchBatch(ctx, keys, out)
	for i := range out {
		if out[i].Err == nil {
			out[i].Expires = c.bus.capExpiry(out[i].Expires)
		}
	}
}
