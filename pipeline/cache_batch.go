package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// FetchBatch fetches many keys: it serves the keys the store holds fresh
// and passes the distinct misses down in one call (see BatchFetcher), then
// fills them. Misses coalesce with single fetches and other batches: a key
// already in flight is not fetched again. The batch below runs detached from
// ctx's cancellation like a shared single fetch; when ctx ends, FetchBatch
// returns at once with ctx.Err() for the keys still in flight.
func (c *cache[K, V]) FetchBatch(ctx context.Context, keys []K, out []Result[V]) {
	c.fetchBatch(ctx, keys, out, false)
}

// fetchDistinct is FetchBatch for keys that do not repeat, as an outer cache
// layer passes its misses down: they need no check for repeats.
func (c *cache[K, V]) fetchDistinct(ctx context.Context, keys []K, out []Result[V]) {
	c.fetchBatch(ctx, keys, out, true)
}

func (c *cache[K, V]) fetchBatch(ctx context.Context, keys []K, out []Result[V], distinctKeys bool) {
	if c.checkKeys && c.badKeys(ctx, keys, out, distinctKeys) {
		return
	}
	if c.tracked.Load() {
		c.registerBatch(ctx, keys) // before the read; see register
	}
	// If no flight lands between here and the batch's own flights, the
	// store cannot have gained any of its misses: no need to look again.
	landed := c.landed.Load()
	s := c.getScratch()
	if c.bstore != nil {
		s.misses = c.batchLookup(ctx, keys, out, s.misses)
	} else {
		s.misses = c.singleLookups(ctx, keys, out, s.misses)
	}
	if len(s.misses) > 0 {
		c.batchMiss(ctx, keys, out, s, landed, distinctKeys)
	}
	c.putScratch(s)
}

// badKeys checks every key of a batch (see checkKey). If some cannot be
// hashed, it gives them their error, fetches the others as a batch of their
// own, and reports true.
func (c *cache[K, V]) badKeys(ctx context.Context, keys []K, out []Result[V], distinctKeys bool) bool {
	var bad []int
	for i, k := range keys {
		if err := c.checkKey(ctx, k); err != nil {
			out[i] = Result[V]{Err: err}
			bad = append(bad, i)
		}
	}
	if len(bad) == 0 {
		return false
	}
	good := make([]K, 0, len(keys)-len(bad))
	at := make([]int, 0, len(keys)-len(bad))
	for i, k := range keys {
		if len(bad) > 0 && bad[0] == i {
			bad = bad[1:]
			continue
		}
		good, at = append(good, k), append(at, i)
	}
	res := make([]Result[V], len(good))
	c.fetchBatch(ctx, good, res, distinctKeys)
	for j, i := range at {
		out[i] = res[j]
	}
	return true
}

// batchLookup reads keys from the BatchStore in one call and serves the
// fresh ones; it appends the indexes of the others to misses. A miss leaves a zero
// result in out, or the expired entry, kept for stale-if-error.
func (c *cache[K, V]) batchLookup(ctx context.Context, keys []K, out []Result[V], misses []int) []int {
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
func (c *cache[K, V]) singleLookups(ctx context.Context, keys []K, out []Result[V], misses []int) []int {
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
// them err if it is not nil, removes them from the flight table (bf, nil if
// the layer does not coalesce) and wakes their waiters.
func (c *cache[K, V]) release(bf *batchFlights[K, V], work []batchKey[V], done chan struct{}, err error) {
	c.landed.Add(1)
	c.mu.Lock()
	if err != nil {
		for _, w := range work {
			if w.f.done == done {
				w.f.e, w.f.err = Entry[V]{}, err
			}
		}
	}
	if bf != nil {
		c.flights.removeBatch(bf)
	}
	c.mu.Unlock()
	close(done)
}

// batchMiss resolves the keys at the indexes s.misses, which the store did
// not hold fresh. If distinctKeys is set, no key repeats.
func (c *cache[K, V]) batchMiss(ctx context.Context, keys []K, out []Result[V], s *batchScratch[K, V], landed uint64, distinctKeys bool) {
	misses := s.misses
	var now time.Time
	if c.neg != nil {
		now = c.opts.Clock()
	}
	// Repeated keys are resolved by the flight of their first occurrence.
	var seen map[K]int // key → index in work
	if !distinctKeys && len(misses) > 1 {
		if s.seen == nil {
			s.seen = make(map[K]int, len(misses))
		}
		seen = s.seen
	}
	var dups []batchKey[V] // repeated keys
	var olds []Entry[V]    // expired entries aligned with work, for stale-if-error; nil if none
	// The batch below runs detached when ctx can end first (see below).
	// Its work items and flights (and, detached, its keys) come from the
	// scratch, and go back to it once neither this call nor the batch
	// needs them (see giveBack).
	detach := c.coalesce && ctx.Done() != nil
	work, flights := grow(s.work, len(misses))[:0], grow(s.flights, len(misses))
	s.work, s.flights = nil, nil
	// The flights this batch leads all end together: they share one done
	// channel, which also tells them from flights the batch joined.
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

	// A detached batch needs keys of its own.
	runKeys := keys
	if detach {
		runKeys = append(s.runKeys[:0], keys...)
		s.runKeys = nil
	}

	// Join the keys already in flight, and add the others as this batch's.
	var bf *batchFlights[K, V]
	lead, recheck := len(work), false
	if c.coalesce && lead > 0 {
		gen := c.gen.Load()
		c.mu.Lock()
		if !c.flights.idle() {
			for n := range work {
				w := &work[n]
				k := keys[w.idx]
				if f := c.flights.get(k, c.flights.hash(k), gen); f != nil {
					lead--
					if f.done == nil {
						f.done = make(chan struct{})
					}
					w.f = f
				}
			}
		}
		if lead > 0 {
			bf = &batchFlights[K, V]{keys: runKeys, work: work, done: done, gen: gen}
			c.flights.addBatch(bf)
		}
		recheck = c.landed.Load() != landed
		c.mu.Unlock()
		if seen != nil && lead < len(work) {
			// A repeat of a key this batch joined waits for that flight.
			for n := range dups {
				d := &dups[n]
				d.f = work[seen[keys[d.idx]]].f
			}
		}
	}

	// Report now that repeats are known: a Miss per distinct key, and a
	// SharedWait for each flight joined. Should an observer panic, the
	// batch's own flights are released first, so that no key stays stuck.
	started := false
	defer func() {
		if !started {
			c.release(bf, work, done, errAbandoned)
		}
	}()
	if c.observed() {
		for _, w := range work {
			c.emitSlow(ctx, Miss, keys[w.idx], nil, 0)
			if w.f.done != done {
				c.emitSlow(ctx, SharedWait, keys[w.idx], nil, 0)
			}
		}
	}
	started = true
	// giveBack returns the batch's memory to scratch r, unless someone
	// joined one of its flights and may still read it. It is called by the
	// last of this call and the batch to finish with the memory: the batch
	// has then ended, and with it bf's time in the flight table, so joined
	// is final.
	giveBack := func(r *batchScratch[K, V]) {
		if bf == nil || !bf.joined {
			r.work, r.flights = work, flights
			if detach {
				r.runKeys = runKeys
			}
		}
	}
	var users atomic.Int32 // of the memory: this call, and a detached batch
	users.Store(1)
	switch {
	case lead == 0:
		close(done)
	case !detach:
		c.runBatch(ctx, keys, work, olds, bf, done, recheck)
	default:
		users.Add(1)
		run := func(ctx context.Context) {
			c.runBatch(ctx, runKeys, work, olds, bf, done, recheck)
			if users.Add(-1) == 0 {
				r := c.getScratch()
				giveBack(r)
				c.putScratch(r)
			}
		}
		if !c.background(ctx, run) {
			run(ctx) // closed: no background work
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
	if users.Add(-1) == 0 {
		giveBack(s)
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
func (c *cache[K, V]) runBatch(ctx context.Context, keys []K, work []batchKey[V], olds []Entry[V], bf *batchFlights[K, V], done chan struct{}, recheck bool) {
	for _, w := range work {
		if w.f.done == done {
			w.f.err = errUnresolved
		}
	}
	// Two defers: the release runs even if reporting the panic panics.
	defer c.release(bf, work, done, nil)
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

	s := c.getScratch()
	defer c.putScratch(s)
	fetch := s.fetch[:0] // indexes in work of the keys to fetch
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
			switch {
			case st == expired:
				if olds == nil {
					olds = make([]Entry[V], len(work))
				}
				olds[n] = cur
			case olds != nil:
				// Gone since the first look (invalidated, say): what was
				// read then is not to be served stale.
				olds[n] = Entry[V]{}
			}
		}
		fetch = append(fetch, n)
	}
	s.fetch = fetch
	if len(fetch) == 0 {
		return
	}
	// ask is not pooled: it goes down in the fill marker, and so in the
	// context of any background work below.
	ask := make([]K, len(fetch))
	for j, n := range fetch {
		ask[j] = keys[work[n].idx]
	}
	s.res = grow(s.res, len(fetch))
	res := s.res
	gen := c.gen.Load()
	nctx := ctx
	switch {
	case c.trackBelow:
		nctx = context.WithValue(ctx, depKey{}, &batchMarker[K, V]{c: c, keys: ask})
	case c.hidesMarker():
		nctx = context.WithValue(ctx, depKey{}, nil)
	}
	start := c.now()
	if d, ok := c.nextBatch.(distinctBatcher[K, V]); ok {
		d.fetchDistinct(nctx, ask, res) // ask holds each key once
	} else {
		c.nextBatch.FetchBatch(nctx, ask, res)
	}
	elapsed := since(start)
	if c.bstore != nil {
		c.finishBatch(ctx, ask, res, work, fetch, olds, elapsed, gen, s)
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
func (c *cache[K, V]) finishBatch(ctx context.Context, ask []K, res []Result[V], work []batchKey[V], fetch []int, olds []Entry[V], elapsed time.Duration, gen uint64, s *batchScratch[K, V]) {
	keys, entries := s.setKeys[:0], s.setEntries[:0]
	defer func() { s.setKeys, s.setEntries = keys, entries }()
	for j := range fetch {
		if r := &res[j]; r.Err == nil {
			if c.opts.TTL > 0 {
				r.Expires = c.expiry(r.Expires, c.opts.TTL)
			}
			keys, entries = append(keys, ask[j]), append(entries, r.Entry)
		}
	}
	kept, err := c.keepBatch(ctx, keys, entries, gen)
	if err != nil {
		err = fmt.Errorf("pipeline: %s: store set: %w", c.name, err)
		for _, k := range keys {
			c.emit(ctx, Error, k, err, 0)
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
		if kept && c.observed() {
			c.emitSlow(ctx, Fill, ask[j], nil, elapsed)
		}
	}
}

// keepBatch is keep for the values of a batch, stored with one SetBatch.
func (c *cache[K, V]) keepBatch(ctx context.Context, keys []K, entries []Entry[V], gen uint64) (bool, error) {
	if len(keys) == 0 {
		return false, nil
	}
	c.fillMu.RLock()
	defer c.fillMu.RUnlock()
	if c.gen.Load() != gen {
		return false, nil
	}
	err := c.bstore.SetBatch(ctx, keys, entries)
	return err == nil, err
}

// batchScratch is working memory of a batch at one cache layer that does
// not outlive the call that uses it: the misses and the check for repeats
// of batchMiss, and what runBatch asks below and stores. It is pooled per
// layer: a batch of misses would otherwise allocate it anew at every layer,
// some 100 bytes per key.
type batchScratch[K comparable, V any] struct {
	misses     []int
	seen       map[K]int
	work       []batchKey[V]
	flights    []flight[V]
	runKeys    []K
	fetch      []int
	res        []Result[V]
	setKeys    []K
	setEntries []Entry[V]
}

// maxPooledBatch is the largest batch whose scratch goes back to the pool,
// so that one huge batch does not pin its memory.
const maxPooledBatch = 1 << 14

func (c *cache[K, V]) getScratch() *batchScratch[K, V] {
	if s, ok := c.scratch.Get().(*batchScratch[K, V]); ok {
		return s
	}
	return new(batchScratch[K, V])
}

// putScratch clears s of keys and values, so that the pool keeps nothing
// alive, and returns it to the pool if it is not too large.
func (c *cache[K, V]) putScratch(s *batchScratch[K, V]) {
	if max(cap(s.misses), cap(s.fetch), cap(s.res), cap(s.setKeys), cap(s.flights), cap(s.runKeys), len(s.seen)) > maxPooledBatch {
		return
	}
	clear(s.seen)
	clear(s.res) // each user leaves its length as it used it
	clear(s.setKeys)
	clear(s.setEntries)
	clear(s.work)
	clear(s.flights)
	clear(s.runKeys)
	s.misses, s.fetch, s.res, s.setKeys, s.setEntries = s.misses[:0], s.fetch[:0], s.res[:0], s.setKeys[:0], s.setEntries[:0]
	c.scratch.Put(s)
}

// grow returns s resized to n elements, reusing its array if it is large
// enough. The elements are zero: putScratch cleared them.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
