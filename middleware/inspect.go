package middleware

import (
	"context"
	"sync"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// Inspect returns a middleware that reports, after each fetch, what every
// layer below it did for that fetch: the seed's per-layer inspect list, such
// as "miss parsed_files a, hit raw_files a". report receives the caller's
// ctx, the key, the events in the order they happened (pre-order: a layer's
// Miss comes before the events of the layers below it) with keys of any type
// as each layer saw them, and the error the fetch returned, which the
// middleware also returns unchanged, along with the value.
//
// report is called on the fetching goroutine, once per fetch, from many
// goroutines at once: it must be safe for concurrent use. It owns the events
// slice and may keep it. A fetch that panics is not reported.
//
// Inspect is for diagnostics, not metrics: it traces each fetch with
// pipeline.WithTrace, which costs allocations per fetch and per event, and
// while any trace is active every layer in the process looks in its context
// for one. Use observers (pipeline.CacheOptions.Observer) to count.
//
// Only layers that emit events appear: cache layers and those built on
// them. A layer that joined a fetch another caller started shows a
// SharedWait, and the events of that fetch belong to the other caller. An
// Inspect or Log layer above this one still sees the events from below it.
//
// The returned Fetcher implements pipeline.EntryFetcher,
// pipeline.Invalidator, pipeline.Clearer and pipeline.Closer (passed to
// next, not reported), and pipeline.Describer. It is not a
// pipeline.BatchFetcher: a batch reaching it is fetched key by key, each
// fetch reported on its own.
//
// V comes first because it cannot be inferred: write
// middleware.Inspect[Doc](report).
//
// Inspect panics if report is nil, and the middleware panics if next is nil.
func Inspect[V, K any](report func(ctx context.Context, key K, events []pipeline.Event[any], err error)) pipeline.Middleware[K, V] {
	if report == nil {
		panic("middleware: Inspect: nil report function")
	}
	return func(next pipeline.Fetcher[K, V]) pipeline.Fetcher[K, V] {
		plumbing.MustNext("middleware: Inspect", next)
		return &inspect[K, V]{report: report, passInward: inward(next), entries: pipeline.Entries(next)}
	}
}

// inspect is the Fetcher returned by Inspect.
type inspect[K, V any] struct {
	report           func(ctx context.Context, key K, events []pipeline.Event[any], err error)
	passInward[K, V] // next, and Invalidate, Clear and Close passed to it
	entries          pipeline.EntryFetcher[K, V]
}

// Fetch fetches key from next under a trace, then reports.
func (in *inspect[K, V]) Fetch(ctx context.Context, key K) (V, error) {
	e, err := in.FetchEntry(ctx, key)
	return e.Value, err
}

// FetchEntry fetches the entry of key from next under a trace, then reports.
func (in *inspect[K, V]) FetchEntry(ctx context.Context, key K) (pipeline.Entry[V], error) {
	c := &collector{}
	tctx, end := pipeline.WithTrace(ctx, c)
	defer end()
	e, err := in.entries.FetchEntry(tctx, key)
	in.report(ctx, key, c.finish(), err)
	return e, err
}

// Describe says that the layer inspects fetches.
func (in *inspect[K, V]) Describe() pipeline.Description {
	return pipeline.Description{Kind: "inspect", Next: []any{in.next}}
}

// collector gathers the events of one traced fetch. A shared fetch may go on
// in the background after the fetch returned, and still emit to the trace:
// once finished, the collector keeps nothing more, so that the slice handed
// to report does not change.
type collector struct {
	mu     sync.Mutex
	events []pipeline.Event[any]
	done   bool
}

// Observe records e, unless the fetch was reported already.
func (c *collector) Observe(ctx context.Context, e pipeline.Event[any]) {
	c.mu.Lock()
	if !c.done {
		c.events = append(c.events, e)
	}
	c.mu.Unlock()
}

// finish ends the collection and returns the events.
func (c *collector) finish() []pipeline.Event[any] {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	return c.events
}
