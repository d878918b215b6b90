package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// FetchBatch fetches many keys: it serves the keys the store holds fresh
// and passes the distinct misses down in one call (see BatchFetcher), then
// fills them. Misses coalesce with single fetches and other batches: a key
// already in flight is not fetched again. The batch below runs detached from
// ctx's cancellation like a shared single fetch; when ctx ends, FetchBatch
// returns at once with ctx.Err() for the keys still in flight.
func (c *cache[K, V]) FetchBatch(ctx context.Context, keys []K, out []Result[V]) {
	// If no flight lands between here and the batch's own flights, the
	// store cannot have gained any of its misses: no need to look again.
	at := c.snapshot()
	var misses []int
	if c.bstore != nil {
		misses = c.batchLookup(ctx, keys, out)
	} else {
		misses = c.singleLookups(ctx, keys, out)
	}
	if len(misses) > 0 {
		c.batchMiss(ctx, keys, out, misses, at.landed)
	}
	if c.tracked.Load() {
		c.registerBatch(ctx, keys, out, at.gen)
	}
}

// batchLookup reads keys from the BatchStore in one call and serves the
// fresh ones; it returns the indexes of the others. A miss leaves a zero
// result in out, or the expired entry, kept for stale-if-error.
func (c *cache[K, V]) batchLookup(ctx context.Context, keys []K, out []Result[V]) (misses []int) {
	c.bstore.GetBatch(ctx, keys, out)
	hooked := c.observer != nil || tracing.Load() != 0
	for i := range out {
		r := &out[i]
		if r.Err == nil && r.Expires.IsZero() { // the common hit: nothing to judge
			if hooked {
				c.emit(ctx, Hit, keys[i], nil, 0)
			}
			continue
		}
		var st state
		if r.Err == ErrNotFound || errors.Is(r.Err, ErrNotFound) {
			st = absent
		} else {
			st = c.judge(ctx, keys[i], r.Entry, r.Err == nil, r.Err)
		}
		switch st {
		case fresh, due:
			c.emit(ctx, Hit, keys[i], nil, 0)
			if st == due {
				c.refresh(ctx, keys[i], r.Entry)
			}
			continue
		case expired: // kept for stale-if-error
		default:
			*r = Result[V]{}
		}
		misses = append(misses, i)
	}
	return misses
}

// singleLookups reads keys from the store one at a time; otherwise as
// batchLookup.
func (c *cache[K, V]) singleLookups(ctx context.Context, keys []K, out []Result[V]) (misses []int) {
	hooked := c.observer != nil || tracing.Load() != 0
	for i, k := range keys {
		if c.plainHits { // as in Fetch
			v, ok, err := c.store.Get(ctx, k)
			if ok && err == nil {
				if hooked {
					c.emit(ctx, Hit, k, nil, 0)
				}
				out[i] = Result[V]{Entry: Entry[V]{Value: v}}
				continue
			}
			if err != nil {
				c.judge(ctx, k, Entry[V]{}, false, err) // reports it
			}
			out[i] = Result[V]{}
			misses = append(misses, i)
			continue
		}
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
	return misses
}

// batchKey is one distinct missed key of a batch.
type batchKey[V any] struct {
	idx int        // first index of the key in the batch
	f   *flight[V] // the flight that resolves it: the batch's own, or one it joined
}

// errUnresolved marks a batch's flights until their result is known, so that
// a panic can tell which ones it must fail.
var errUnresolved = errors.New("pipeline: unresolved")

// errAbandoned is the result of a batch's flights when the batch stopped
// before fetching them (an observer panicked).
var errAbandoned = errors.New("pipeline: batch abandoned")

// release ends the batch's own flights (those closed by done): it gives
// them err if it is not nil, removes them from the flights map and wakes
// their waiters.
func (c *cache[K, V]) release(keys []K, work []batchKey[V], done chan struct{}, err error) {
	c.landed.Add(1)
	c.mu.Lock()
	for _, w := range work {
		if w.f.done != done {
			continue
		}
		if err != nil {
			w.f.e, w.f.err = Entry[V]{}, err
		}
		k := keys[w.idx]
		c.flights.remove(k, c.flights.hash(k), w.f)
	}
	c.mu.Unlock()
	close(done)
}

// batchMiss resolves the keys at the indexes misses, which the store did
// not hold fresh.
func (c *cache[K, V]) batchMiss(ctx context.Context, keys []K, out []Result[V], misses []int, landed uint64) {
	var now time.Time
	if c.neg != nil {
		now = c.opts.Clock()
	}
	// Repeated keys are found by the flights map when coalescing, by seen
	// otherwise.
	var seen map[K]int // key → index in work
	if !c.coalesce && len(misses) > 1 {
		seen = make(map[K]int, len(misses))
	}
	var dups []batchKey[V] // repeated keys, resolved by the flight of their first
	var olds []Entry[V]    // expired entries aligned with work, for stale-if-error; nil if none
	work := make([]batchKey[V], 0, len(misses))
	// The flights this batch leads all end together: they share one done
	// channel, which also tells them from flights the batch joined.
	flights := make([]flight[V], len(misses))
	done := make(chan struct{})
	for _, i := range misses {
		k := keys[i]
		if c.neg != nil && c.neg.has(k, now) { // each occurrence answers for itself
			c.emit(ctx, NegativeHit, k, nil, 0)
			out[i] = Result[V]{Err: c.negErr}
			continue
		}
		if seen != nil {
			if j, ok := seen[k]; ok {
				dups = append(dups, batchKey[V]{idx: i, f: &flights[j]})
				continue
			}
			seen[k] = len(work)
		}
		if !out[i].Expires.IsZero() {
			if olds == nil {
				olds = make([]Entry[V], len(misses))
			}
			olds[len(work)] = out[i].Entry
		}
		f := &flights[len(work)]
		f.done = done
		work = append(work, batchKey[V]{idx: i, f: f})
	}

	lead, recheck := len(work), false
	if c.coalesce && lead > 0 {
		all := work
		work = work[:0]
		c.mu.Lock()
		for n, w := range all {
			k := keys[w.idx]
			h := c.flights.hash(k)
			if f := c.flights.get(k, h); f != nil {
				if f.done == done { // repeated in this batch
					lead--
					dups = append(dups, batchKey[V]{idx: w.idx, f: f})
					continue
				}
				lead--
				if f.done == nil {
					f.done = make(chan struct{})
				}
				w.f = f
			} else {
				c.flights.put(k, h, w.f)
			}
			if olds != nil {
				olds[len(work)] = olds[n] // compact with work; len(work) <= n
			}
			work = append(work, w)
		}
		recheck = c.landed.Load() != landed
		c.mu.Unlock()
	}

	// Report now that repeats are known: a Miss per distinct key, and a
	// SharedWait for each flight joined. Should an observer panic, the
	// batch's own flights are released first, so that no key stays stuck.
	started := false
	defer func() {
		if !started {
			c.release(keys, work, done, errAbandoned)
		}
	}()
	for _, w := range work {
		c.emit(ctx, Miss, keys[w.idx], nil, 0)
		if w.f.done != done {
			c.emit(ctx, SharedWait, keys[w.idx], nil, 0)
		}
	}
	started = true
	switch {
	case lead == 0:
		close(done)
	case !c.coalesce || ctx.Done() == nil:
		c.runBatch(ctx, keys, work, olds, done, recheck)
	default:
		// The batch below may outlive this call: give it its own keys.
		own := make([]K, len(keys))
		copy(own, keys)
		if !c.background(ctx, func(ctx context.Context) { c.runBatch(ctx, own, work, olds, done, recheck) }) {
			c.runBatch(ctx, keys, work, olds, done, recheck) // closed: no background work
		}
	}

	// Wait for the batch's own flights (one channel, once), and for each
	// flight it joined.
	ownDone := false
	for n, w := range work {
		if w.f.done != done || !ownDone {
			if !waitDone(ctx, w.f.done) {
				for _, w := range work[n:] {
					if isClosed(w.f.done) {
						out[w.idx] = Result[V]{Entry: w.f.e, Err: w.f.err}
					} else {
						out[w.idx] = Result[V]{Err: ctx.Err()}
					}
				}
				break
			}
			ownDone = ownDone || w.f.done == done
		}
		out[w.idx] = Result[V]{Entry: w.f.e, Err: w.f.err}
	}
	for _, d := range dups {
		if isClosed(d.f.done) {
			out[d.idx] = Result[V]{Entry: d.f.e, Err: d.f.err}
		} else { // ctx ended first
			out[d.idx] = Result[V]{Err: ctx.Err()}
		}
	}
}

// waitDone waits for done to close, or for ctx to end first (false).
func waitDone(ctx context.Context, done chan struct{}) bool {
	if ctx.Done() == nil {
		<-done
		return true
	}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// isClosed reports whether done is closed, without waiting.
func isClosed(done chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// runBatch fetches the keys whose flights the batch leads (those closed by
// done) with one call below, stores them, and releases their waiters. It
// recovers panics. work and olds are only read.
func (c *cache[K, V]) runBatch(ctx context.Context, keys []K, work []batchKey[V], olds []Entry[V], done chan struct{}, recheck bool) {
	for _, w := range work {
		if w.f.done == done {
			w.f.err = errUnresolved
		}
	}
	// Two defers: the release runs even if reporting the panic panics.
	defer c.release(keys, work, done, nil)
	defer func() {
		if r := recover(); r != nil {
			perr := &PanicError{Layer: c.name, Value: r, Stack: debug.Stack()}
			for _, w := range work {
				if w.f.done == done && w.f.err == errUnresolved {
					w.f.e, w.f.err = Entry[V]{}, perr
				}
			}
			c.emit(ctx, Error, keys[work[0].idx], perr, 0)
		}
	}()

	fetch := make([]int, 0, len(work)) // indexes in work of the keys to fetch
	for n, w := range work {
		if w.f.done != done {
			continue
		}
		if recheck { // check the store again inside the flights
			cur, st := c.lookup(ctx, keys[w.idx])
			if st == fresh || st == due {
				w.f.e, w.f.err = cur, nil
				continue
			}
			if st == expired {
				if olds == nil {
					olds = make([]Entry[V], len(work))
				}
				olds[n] = cur
			}
		}
		fetch = append(fetch, n)
	}
	if len(fetch) == 0 {
		return
	}
	ask := make([]K, len(fetch))
	for j, n := range fetch {
		ask[j] = keys[work[n].idx]
	}
	res := make([]Result[V], len(fetch))
	gen := c.gen.Load()
	nctx := ctx
	if c.trackBelow {
		nctx = context.WithValue(ctx, depKey{}, &batchMarker[K, V]{c, ask})
	}
	start := c.now()
	if d, ok := c.nextBatch.(distinctBatcher[K, V]); ok {
		d.fetchDistinct(nctx, ask, res) // ask holds each key once
	} else {
		c.nextBatch.FetchBatch(nctx, ask, res)
	}
	elapsed := since(start)
	if c.bstore != nil {
		c.finishBatch(ctx, ask, res, work, fetch, olds, elapsed, gen)
		return
	}
	for j, n := range fetch {
		old, st := staleOf(olds, n)
		f := work[n].f
		f.e, f.err = res[j].Entry, res[j].Err
		c.finish(ctx, ask[j], f, elapsed, &old, st, gen)
	}
}

// staleOf returns the expired entry kept for work item n, if any.
func staleOf[V any](olds []Entry[V], n int) (Entry[V], state) {
	if olds != nil && !olds[n].Expires.IsZero() {
		return olds[n], expired
	}
	return Entry[V]{}, absent
}

// finishBatch is finish for the keys a batch fetched (ask, with results
// res and work items fetch), storing the values with one SetBatch. Events
// follow the order of ask, as with finish.
func (c *cache[K, V]) finishBatch(ctx context.Context, ask []K, res []Result[V], work []batchKey[V], fetch []int, olds []Entry[V], elapsed time.Duration, gen uint64) {
	keys, entries := make([]K, 0, len(ask)), make([]Entry[V], 0, len(ask))
	for j := range fetch {
		if res[j].Err == nil {
			e := res[j].Entry
			e.Expires = c.expiry(e.Expires, c.opts.TTL)
			res[j].Entry = e
			keys, entries = append(keys, ask[j]), append(entries, e)
		}
	}
	kept := len(keys) > 0 && c.gen.Load() == gen // not after an invalidation
	if kept {
		if err := c.bstore.SetBatch(ctx, keys, entries); err != nil {
			err = fmt.Errorf("pipeline: %s: store set: %w", c.name, err)
			for _, k := range keys {
				c.emit(ctx, Error, k, err, 0)
			}
			kept = false
		} else if c.gen.Load() != gen {
			for _, k := range keys { // see put
				c.deleteQuietly(ctx, k)
			}
			kept = false
		}
	}
	for j, n := range fetch {
		f := work[n].f
		if err := res[j].Err; err != nil {
			old, st := staleOf(olds, n)
			f.e, f.err = c.failed(ctx, ask[j], err, elapsed, &old, st, gen)
			continue
		}
		f.e, f.err = res[j].Entry, nil
		if kept {
			c.emit(ctx, Fill, ask[j], nil, elapsed)
		}
	}
}
