package middleware

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// Timeout returns a middleware that bounds each fetch below it to d, with
// context.WithTimeout: the layers below see a ctx that ends after d, and
// the caller's own deadline still applies when it is sooner.
//
// When d runs out before the fetch returns, the fetch fails with an error
// that wraps context.DeadlineExceeded (test with errors.Is) and names the
// layer: "middleware: timeout after 1s: ...". How quickly it returns depends
// on the layers below honouring their ctx, as every stock layer does; a
// cache layer below that shares its fetch with other callers gives up
// waiting for it but lets it go on for the others. A value or a not-found
// answer that arrives in time is returned unchanged, as are the errors of a
// fetch that failed for another reason.
//
// Timeout is safe for concurrent use. Each fetch costs what
// context.WithTimeout costs: a few allocations and a timer; when the
// caller's deadline is sooner than d, it costs a clock read and nothing
// else. So put it below the cache layers, right above what it bounds (a
// source, a remote store's layer), where only misses reach it; above a
// cache layer every hit would pay for it. A batch (pipeline.BatchFetcher,
// when next is one) is bounded as a whole.
//
// The returned Fetcher implements pipeline.EntryFetcher,
// pipeline.Invalidator, pipeline.Clearer and pipeline.Closer (passed to next
// unbounded), pipeline.Describer, and pipeline.BatchFetcher when next is
// one.
//
// Timeout panics if d <= 0, and the middleware panics if next is nil.
func Timeout[K, V any](d time.Duration) pipeline.Middleware[K, V] {
	if d <= 0 {
		panic("middleware: Timeout: non-positive duration")
	}
	return func(next pipeline.Fetcher[K, V]) pipeline.Fetcher[K, V] {
		plumbing.MustNext("middleware: Timeout", next)
		t := &timeout[K, V]{
			d:          d,
			cause:      fmt.Errorf("middleware: timeout after %v: %w", d, context.DeadlineExceeded),
			passInward: inward(next),
			entries:    pipeline.Entries(next),
		}
		if b, ok := next.(pipeline.BatchFetcher[K, V]); ok {
			return &timeoutBatch[K, V]{timeout: t, batch: b}
		}
		return t
	}
}

// timeout is the Fetcher returned by Timeout.
type timeout[K, V any] struct {
	d                time.Duration
	cause            error // the cause of this layer's deadline; also its error
	passInward[K, V]       // next, and Invalidate, Clear and Close passed to it
	entries          pipeline.EntryFetcher[K, V]
}

// Fetch fetches key from next within the layer's bound.
func (t *timeout[K, V]) Fetch(ctx context.Context, key K) (V, error) {
	if t.sooner(ctx) {
		return t.next.Fetch(ctx, key)
	}
	tctx, cancel := context.WithTimeoutCause(ctx, t.d, t.cause)
	defer cancel()
	v, err := t.next.Fetch(tctx, key)
	return v, t.check(tctx, err)
}

// FetchEntry fetches the entry of key from next within the layer's bound.
func (t *timeout[K, V]) FetchEntry(ctx context.Context, key K) (pipeline.Entry[V], error) {
	if t.sooner(ctx) {
		return t.entries.FetchEntry(ctx, key)
	}
	tctx, cancel := context.WithTimeoutCause(ctx, t.d, t.cause)
	defer cancel()
	e, err := t.entries.FetchEntry(tctx, key)
	return e, t.check(tctx, err)
}

// sooner reports whether ctx ends before the layer's bound would.
func (t *timeout[K, V]) sooner(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && !dl.After(time.Now().Add(t.d))
}

// check returns err, named after the layer if the layer's own deadline
// (not the caller's) ended the fetch.
func (t *timeout[K, V]) check(tctx context.Context, err error) error {
	if err == nil || errors.Is(err, pipeline.ErrNotFound) || context.Cause(tctx) != t.cause {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("middleware: timeout after %v: %w", t.d, err)
	}
	// Below reported its own error for the ended ctx: keep both.
	return fmt.Errorf("%w: %w", t.cause, err)
}

// Describe says that the layer bounds fetches, and to how long.
func (t *timeout[K, V]) Describe() pipeline.Description {
	return pipeline.Description{Kind: "timeout", Detail: t.d.String(), Next: []any{t.next}}
}

// timeoutBatch is a timeout over a BatchFetcher.
type timeoutBatch[K, V any] struct {
	*timeout[K, V]
	batch pipeline.BatchFetcher[K, V]
}

// BatchNext returns the Fetcher a batch goes to, whole and in order.
func (t *timeoutBatch[K, V]) BatchNext() any { return t.batch }

// FetchBatch fetches keys with one batch below, bounded as a whole.
func (t *timeoutBatch[K, V]) FetchBatch(ctx context.Context, keys []K, out []pipeline.Result[V]) {
	if t.sooner(ctx) {
		t.batch.FetchBatch(ctx, keys, out)
		return
	}
	tctx, cancel := context.WithTimeoutCause(ctx, t.d, t.cause)
	defer cancel()
	t.batch.FetchBatch(tctx, keys, out)
	for i := range out {
		out[i].Err = t.check(tctx, out[i].Err)
	}
}
