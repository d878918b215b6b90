package pipeline

import (
	"context"
	"time"
)

// FetchBatch fetches many keys: it serves the keys the store holds fresh
// and passes the distinct misses down in one call (see BatchFetcher), then
// fills them. Misses coalesce with single fetches and other batches: a key
// already in flight is not fetched again. The batch below runs detached from
// ctx's cancellation like a shared single fetch; when ctx ends, FetchBatch
// returns at once with ctx.Err() for the keys still in flight.
func (c *cache[K, V]) FetchBatch(ctx context.Context, keys []K, out []Result[V]) {
	var misses []int
	for i, k := range keys {
		e, st := c.lookup(ctx, k)
		if st == fresh || st == due {
			c.emit(ctx, Hit, k, nil, 0)
			if st == due {
				c.refresh(ctx, k, e)
			}
			out[i] = Result[V]{Entry: e}
			continue
		}
		out[i] = Result[V]{Entry: e} // an expired entry, kept for stale-if-error
		misses = append(misses, i)
	}
	if len(misses) > 0 {
		c.batchMiss(ctx, keys, out, misses)
	}
	if c.tracked.Load() {
		c.registerBatch(ctx, keys, out)
	}
}

// batchKey is one distinct missed key of a batch.
type batchKey[V any] struct {
	idx    int // first index of the key in the batch
	f      *flight[V]
	old    Entry[V]
	st     state
	leader bool
}

// batchMiss resolves the keys at the indexes misses, which the store did
// not hold fresh.
func (c *cache[K, V]) batchMiss(ctx context.Context, keys []K, out []Result[V], misses []int) {
	var now time.Time
	if c.neg != nil {
		now = c.opts.Clock()
	}
	seen := make(map[K]int, len(misses)) // key → first index
	var dups [][2]int                    // {index, first index of its key}
	work := make([]batchKey[V], 0, len(misses))
	for _, i := range misses {
		k := keys[i]
		if j, ok := seen[k]; ok {
			dups = append(dups, [2]int{i, j})
			continue
		}
		seen[k] = i
		if c.neg != nil && c.neg.has(k, now) {
			c.emit(ctx, NegativeHit, k, nil, 0)
			out[i] = Result[V]{Err: c.negErr}
			continue
		}
		c.emit(ctx, Miss, k, nil, 0)
		st := absent
		if !out[i].Expires.IsZero() {
			st = expired
		}
		work = append(work, batchKey[V]{idx: i, f: &flight[V]{done: make(chan struct{})}, old: out[i].Entry, st: st, leader: true})
	}

	if c.coalesce && len(work) > 0 {
		c.mu.Lock()
		for n := range work {
			k := keys[work[n].idx]
			if f, ok := c.flights[k]; ok {
				if f.done == nil {
					f.done = make(chan struct{})
				}
				work[n].f, work[n].leader = f, false
				continue
			}
			c.flights[k] = work[n].f
		}
		c.mu.Unlock()
	}

	var lead []batchKey[V]
	for _, w := range work {
		if w.leader {
			lead = append(lead, w)
		} else {
			c.emit(ctx, SharedWait, keys[w.idx], nil, 0)
		}
	}
	if len(lead) > 0 {
		if !c.coalesce || ctx.Done() == nil {
			c.runBatch(ctx, keys, lead)
		} else {
			fctx, cancel := context.WithoutCancel(ctx), context.CancelFunc(nil)
			if c.opts.FetchTimeout > 0 {
				fctx, cancel = context.WithTimeout(fctx, c.opts.FetchTimeout)
			}
			// The batch below may outlive this call: give it its own keys.
			own := make([]K, len(keys))
			copy(own, keys)
			go func() {
				if cancel != nil {
					defer cancel()
				}
				c.runBatch(fctx, own, lead)
			}()
		}
	}

	for n, w := range work {
		select {
		case <-w.f.done:
			out[w.idx] = Result[V]{Entry: w.f.e, Err: w.f.err}
		case <-ctx.Done():
			for _, w := range work[n:] {
				out[w.idx] = Result[V]{Err: ctx.Err()}
			}
			goto copyDups
		}
	}
copyDups:
	for _, d := range dups {
		out[d[0]] = out[d[1]]
	}
}

// runBatch fetches the keys the batch leads with one call below, stores
// them, and releases their waiters. It recovers panics.
func (c *cache[K, V]) runBatch(ctx context.Context, keys []K, lead []batchKey[V]) {
	resolved := make([]bool, len(lead))
	defer func() {
		if r := recover(); r != nil {
			err := c.panicked(ctx, keys[lead[0].idx], r)
			for n := range lead {
				if !resolved[n] {
					lead[n].f.e, lead[n].f.err = Entry[V]{}, err
				}
			}
		}
		c.mu.Lock()
		for _, w := range lead {
			if c.flights[keys[w.idx]] == w.f {
				delete(c.flights, keys[w.idx])
			}
		}
		c.mu.Unlock()
		for _, w := range lead {
			close(w.f.done)
		}
	}()

	// Check the store again inside the flights.
	fetch := make([]int, 0, len(lead))
	for n := range lead {
		w := &lead[n]
		if c.coalesce {
			cur, st := c.lookup(ctx, keys[w.idx])
			if st == fresh || st == due {
				w.f.e, resolved[n] = cur, true
				continue
			}
			if st == expired {
				w.old, w.st = cur, expired
			}
		}
		fetch = append(fetch, n)
	}
	if len(fetch) == 0 {
		return
	}
	ask := make([]K, len(fetch))
	for j, n := range fetch {
		ask[j] = keys[lead[n].idx]
	}
	res := make([]Result[V], len(fetch))
	gen := c.gen.Load()
	nctx := ctx
	if c.trackBelow {
		nctx = context.WithValue(ctx, depKey{}, &batchMarker[K, V]{c, ask})
	}
	start := time.Now()
	c.nextBatch.FetchBatch(nctx, ask, res)
	elapsed := time.Since(start)
	for j, n := range fetch {
		w := &lead[n]
		w.f.e, w.f.err = c.finish(ctx, ask[j], res[j].Entry, res[j].Err, elapsed, w.old, w.st, gen)
		resolved[n] = true
	}
}
