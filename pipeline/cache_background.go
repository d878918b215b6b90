package pipeline

import (
	"context"
	"time"
)

// Background work of a cache layer: shared fetches detached from their
// first caller, and refresh-ahead. All of it is counted, so that Close can
// cancel it and wait for it.

// background runs fn in a goroutine under a context that keeps ctx's values
// but not its cancellation, bounded by FetchTimeout and cancelled by Close.
// Once the layer is closed it starts nothing and reports false.
func (c *cache[K, V]) background(ctx context.Context, fn func(context.Context)) bool {
	c.bgMu.Lock()
	if c.closed {
		c.bgMu.Unlock()
		return false
	}
	c.bg.Add(1)
	c.bgMu.Unlock()
	var fctx context.Context
	var cancel context.CancelFunc
	if c.opts.FetchTimeout > 0 {
		fctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), c.opts.FetchTimeout)
	} else {
		fctx, cancel = context.WithCancel(context.WithoutCancel(ctx))
	}
	stop := context.AfterFunc(c.closing, cancel)
	go func() {
		defer c.bg.Done()
		defer cancel()
		defer stop()
		fn(fctx)
	}()
	return true
}

// Close cancels the layer's background work (shared fetches and refreshes
// under way) and waits for it to end. It does not close the store or the
// layers below. Fetches still work after Close, each in its caller's
// goroutine; waiters of a cancelled shared fetch get its context error.
func (c *cache[K, V]) Close() error {
	c.bgMu.Lock()
	c.closed = true
	c.bgMu.Unlock()
	c.closeFn()
	c.bg.Wait()
	return nil
}

// backoffState delays refreshes of a key whose last refresh failed.
type backoffState struct {
	until    time.Time
	failures int
}

// maxRefreshBackoff caps the doubling of RefreshBackoff.
const maxRefreshBackoff = 64

// refresh starts a background refresh of key, whose value is fresh but due,
// unless a fetch of key is under way, the refresh limit is reached, or the
// key is backing off after a failed refresh.
func (c *cache[K, V]) refresh(ctx context.Context, key K, old Entry[V]) {
	now := c.opts.Clock()
	h := c.flights.hash(key)
	c.mu.Lock()
	if busy := c.flights.get(key, h, c.gen.Load()) != nil; busy || c.refreshing >= c.opts.RefreshConcurrency || now.Before(c.backoff[key].until) {
		c.mu.Unlock()
		return
	}
	f := &flight[V]{}
	c.flights.put(key, h, f)
	c.refreshing++
	c.mu.Unlock()

	started := c.background(ctx, func(ctx context.Context) {
		err := c.run(ctx, key, h, f, &old, fresh, false, nil)
		c.mu.Lock()
		c.refreshing--
		if err != nil {
			b := c.backoff[key]
			b.failures++
			d := c.opts.RefreshBackoff * time.Duration(min(1<<(b.failures-1), maxRefreshBackoff))
			b.until = c.opts.Clock().Add(d)
			c.backoff[key] = b
		} else {
			delete(c.backoff, key)
		}
		c.mu.Unlock()
	})
	if !started {
		// Closed: refresh here rather than abandon a caller that may have
		// joined the flight meanwhile.
		c.run(ctx, key, h, f, &old, fresh, false, nil)
		c.mu.Lock()
		c.refreshing--
		c.mu.Unlock()
	}
}
