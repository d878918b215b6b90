package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
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
	idx int        // index of the key in the batch (of its first occurrence)
	f   *flight[V] // the flight it joined; nil if the batch fetches it itself
}

// batchDup is a repeat of a key in a batch: it gets the result of the key's
// first occurrence, work item first.
type batchDup struct{ idx, first int }

// errAbandoned is the result of a batch's keys when the batch stopped
// before fetching them (an observer panicked).
var errAbandoned = errors.New("pipeline: batch abandoned")

// release ends the batch's own flights (the work items without a flight of
// their own): it gives them err if it is not nil, hands their results (in
// dst, aligned with the batch's keys) to the flights that others joined,
// removes them from the flight table (bf, nil if the layer does not
// coalesce) and wakes their waiters.
func (c *cache[K, V]) release(bf *batchFlights[K, V], work []batchKey[V], dst []Result[V], done chan struct{}, err error) {
	if err != nil {
		for _, w := range work {
			if w.f == nil {
				dst[w.idx] = Result[V]{Err: err}
			}
		}
	}
	c.landed.Add(1)
	c.mu.Lock()
	if bf != nil {
		bf.hand(dst) // under mu: no one joins once the batch has left
		c.flights.removeBatch(bf)
	}
	c.mu.Unlock()
	close(done)
}

// batchMiss resolves the keys at the indexes s.misses, which the store did
// not hold fresh. If distinctKeys is set, no key repeats.
//
// The keys the batch fetches itself need no flight each: their results go
// straight to out, or, when the batch runs detached, to memory of its own
// that the caller copies from. Only a key that someone joins while the
// batch runs gets a flight, made then (see batchFlights.find), and its
// result when the batch lands.
func (c *cache[K, V]) batchMiss(ctx context.Context, keys []K, out []Result[V], s *batchScratch[K, V], landed uint64, distinctKeys bool) {
	var now time.Time
	if c.neg != nil {
		now = c.opts.Clock()
	}
	work, dups, olds := c.distinctMisses(ctx, keys, out, s, now, distinctKeys)

	// The batch below runs detached when ctx can end first: then it has keys,
	// work items and results of its own, aligned with work (runWork[n].idx
	// is n), from the scratch; they go back to it once neither this call
	// nor the batch needs them.
	detach := c.coalesce && ctx.Done() != nil && len(work) > 0
	runKeys, runWork, dst := keys, work, out
	if detach {
		runKeys, runWork, dst = grow(s.runKeys, len(work)), grow(s.runWork, len(work)), grow(s.dst, len(work))
		s.runKeys, s.runWork, s.dst = nil, nil, nil
		for n, w := range work {
			runKeys[n], runWork[n] = keys[w.idx], batchKey[V]{idx: n}
		}
	}
	// The flights this batch leads all end together, on one done channel.
	done := make(chan struct{})

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
					w.f, runWork[n].f = f, f
				}
			}
		}
		if lead > 0 {
			bf = &batchFlights[K, V]{keys: runKeys, work: runWork, done: done, gen: gen}
			c.flights.addBatch(bf)
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
			c.release(bf, runWork, dst, done, errAbandoned)
		}
	}()
	if c.observed() {
		for _, w := range work {
			c.emitSlow(ctx, Miss, keys[w.idx], nil, 0)
			if w.f != nil {
				c.emitSlow(ctx, SharedWait, keys[w.idx], nil, 0)
			}
		}
	}
	started = true
	// users counts who still needs a detached batch's memory: this call,
	// and the batch while it runs. The last one gives it back.
	var users atomic.Int32
	users.Store(1)
	giveBack := func(r *batchScratch[K, V]) { r.runKeys, r.runWork, r.dst = runKeys, runWork, dst }
	switch {
	case lead == 0:
		close(done)
	case !detach:
		c.runBatch(ctx, keys, work, olds, bf, done, recheck, out)
	default:
		users.Add(1)
		run := func(ctx context.Context) {
			c.runBatch(ctx, runKeys, runWork, olds, bf, done, recheck, dst)
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
wait:
	for n, w := range work {
		switch {
		case w.f != nil:
			if !waitDone(ctx, w.f.done) {
				c.cut(ctx, work[n:], n, out, done, dst, detach)
				break wait
			}
			out[w.idx] = Result[V]{Entry: w.f.e, Err: w.f.err}
		case !ownDone:
			if !waitDone(ctx, done) {
				c.cut(ctx, work[n:], n, out, done, dst, detach)
				break wait
			}
			ownDone = true
			fallthrough
		default:
			if detach {
				out[w.idx] = dst[n]
			}
		}
	}
	for _, d := range dups {
		out[d.idx] = out[work[d.first].idx]
	}
	s.work = work
	if detach && users.Add(-1) == 0 {
		giveBack(s)
	}
}

// cut writes the results of work items rest, from position from of the
// batch's work on, once ctx has ended: those that landed meanwhile, and
// ctx.Err() for the others.
func (c *cache[K, V]) cut(ctx context.Context, rest []batchKey[V], from int, out []Result[V], done chan struct{}, dst []Result[V], detach bool) {
	ownLanded := isClosed(done)
	for m, w := range rest {
		switch {
		case w.f != nil && isClosed(w.f.done):
			out[w.idx] = Result[V]{Entry: w.f.e, Err: w.f.err}
		case w.f == nil && ownLanded:
			if detach {
				out[w.idx] = dst[from+m]
			}
		default:
			out[w.idx] = Result[V]{Err: ctx.Err()}
		}
	}
}

// distinctMisses returns the batch's work: its distinct missed keys (at the
// indexes s.misses) in order of first occurrence, with their repeats and
// the expired entries out holds for them, kept for stale-if-error: moved to
// olds, aligned with work (nil if none), and cleared in out. A key the layer remembers as absent is answered
// at each of its occurrences here and left out.
func (c *cache[K, V]) distinctMisses(ctx context.Context, keys []K, out []Result[V], s *batchScratch[K, V], now time.Time, distinctKeys bool) ([]batchKey[V], []batchDup, []Entry[V]) {
	var seen map[K]int // key → index in work
	if !distinctKeys && len(s.misses) > 1 {
		if s.seen == nil {
			s.seen = make(map[K]int, len(s.misses))
		}
		seen = s.seen
	}
	work := grow(s.work, len(s.misses))[:0]
	s.work = nil
	var olds []Entry[V]
	for _, i := range s.misses {
		k := keys[i]
		if c.neg != nil && c.neg.has(k, now) { // each occurrence answers for itself
			c.emit(ctx, NegativeHit, k, nil, 0)
			out[i] = Result[V]{Err: c.negErr}
			continue
		}
		if seen != nil {
			// One map write per key: a repeat shows as a map that did not
			// grow, and then the repeats are sorted out below.
			seen[k] = len(work)
		}
		if !out[i].Expires.IsZero() {
			if olds == nil {
				olds = make([]Entry[V], len(s.misses))
			}
			olds[len(work)] = out[i].Entry
			out[i] = Result[V]{} // out may go down: below sees no old entry
		}
		work = append(work, batchKey[V]{idx: i})
	}
	if seen == nil || len(seen) == len(work) {
		return work, nil, olds
	}
	// Some keys repeat: keep their first occurrences, in place.
	clear(seen)
	var dups []batchDup
	kept := work[:0]
	for n, w := range work {
		k := keys[w.idx]
		if j, ok := seen[k]; ok {
			dups = append(dups, batchDup{idx: w.idx, first: j})
			continue
		}
		seen[k] = len(kept)
		if olds != nil {
			olds[len(kept)] = olds[n]
		}
		kept = append(kept, w)
	}
	if olds != nil {
		clear(olds[len(kept):])
	}
	return kept, dups, olds
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

// runBatch fetches the keys the batch leads (the work items without a
// flight of their own) with one call below, stores them, writes their
// results to dst, aligned with keys, and releases their waiters. It
// recovers panics. work is only read.
func (c *cache[K, V]) runBatch(ctx context.Context, keys []K, work []batchKey[V], olds []Entry[V], bf *batchFlights[K, V], done chan struct{}, recheck bool, dst []Result[V]) {
	s := c.getScratch()
	var fetch []int // indexes in work of the keys to fetch, once listed is set
	listed := false
	// Two defers: the release runs even if reporting the panic panics.
	defer c.release(bf, work, dst, done, nil)
	defer func() {
		if r := recover(); r != nil {
			perr := &PanicError{Layer: c.name, Value: r, Stack: debug.Stack()}
			// The keys it was fetching fail: all of its own, if the panic
			// came before they were known.
			if listed {
				for _, n := range fetch {
					dst[work[n].idx] = Result[V]{Err: perr}
				}
			} else {
				for _, w := range work {
					if w.f == nil {
						dst[w.idx] = Result[V]{Err: perr}
					}
				}
			}
			c.emit(ctx, Error, keys[work[0].idx], perr, 0)
		}
		c.putScratch(s)
	}()

	fetch = s.fetch[:0]
	for n, w := range work {
		if w.f != nil {
			continue
		}
		if recheck { // check the store again inside the flights
			cur, st := c.lookup(ctx, keys[w.idx])
			if st == fresh || st == due {
				dst[w.idx] = Result[V]{Entry: cur}
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
	s.fetch, listed = fetch, true
	if len(fetch) == 0 {
		return
	}
	// When the batch fetches every one of its keys (as a batch of misses
	// does), they go down as they are and the results come straight back
	// into dst. Otherwise the keys to fetch go down gathered, and their
	// results are scattered back. A fill marker keeps its keys (ask), and
	// so does any background work below that has it in its context: then
	// they are a copy of their own.
	var ask []K
	var res []Result[V]
	direct := len(fetch) == len(keys)
	switch {
	case direct && c.trackBelow:
		ask, res = slices.Clone(keys), dst
	case direct:
		ask, res = keys, dst
	default:
		if c.trackBelow {
			ask = make([]K, len(fetch))
		} else {
			s.ask = grow(s.ask, len(fetch))
			ask = s.ask
		}
		for j, n := range fetch {
			ask[j] = keys[work[n].idx]
		}
		s.res = grow(s.res, len(fetch))
		res = s.res
	}
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
		c.finishBatch(ctx, ask, res, fetch, olds, elapsed, gen, s)
	} else {
		var f flight[V]
		for j, n := range fetch {
			old, st := staleOf(olds, n)
			f.e, f.err = res[j].Entry, res[j].Err
			c.finish(ctx, ask[j], &f, elapsed, &old, st, gen)
			res[j] = Result[V]{Entry: f.e, Err: f.err}
		}
	}
	if !direct {
		for j, n := range fetch {
			dst[work[n].idx] = res[j]
		}
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
// res and work items fetch): it stores the values with one SetBatch and
// leaves the final results in res. Events follow the order of ask, as with
// finish.
func (c *cache[K, V]) finishBatch(ctx context.Context, ask []K, res []Result[V], fetch []int, olds []Entry[V], elapsed time.Duration, gen uint64, s *batchScratch[K, V]) {
	keys, entries := ask, s.setEntries[:0] // keys: ask itself, if every key has a value
	failures := false
	for j := range res {
		if r := &res[j]; r.Err == nil {
			if c.opts.TTL > 0 {
				r.Expires = c.expiry(r.Expires, c.opts.TTL)
			}
			entries = append(entries, r.Entry)
		} else {
			failures = true
		}
	}
	if failures {
		keys = s.setKeys[:0]
		for j := range res {
			if res[j].Err == nil {
				keys = append(keys, ask[j])
			}
		}
		s.setKeys = keys
	}
	s.setEntries = entries
	kept, err := c.keepBatch(ctx, keys, entries, gen)
	if err != nil {
		err = fmt.Errorf("pipeline: %s: store set: %w", c.name, err)
		for _, k := range keys {
			c.emit(ctx, Error, k, err, 0)
		}
	}
	for j, n := range fetch {
		if err := res[j].Err; err != nil {
			old, st := staleOf(olds, n)
			e, err := c.failed(ctx, ask[j], err, elapsed, &old, st, gen)
			res[j] = Result[V]{Entry: e, Err: err}
			continue
		}
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
	runKeys    []K           // a detached batch's keys,
	runWork    []batchKey[V] // work items,
	dst        []Result[V]   // and results
	fetch      []int
	ask        []K
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
	if max(cap(s.misses), cap(s.work), cap(s.fetch), cap(s.res), cap(s.setKeys), cap(s.setEntries), cap(s.runKeys), len(s.seen)) > maxPooledBatch {
		return
	}
	clear(s.seen)
	clear(s.res) // each user leaves its length as it used it
	clear(s.ask)
	clear(s.setKeys)
	clear(s.setEntries)
	clear(s.work)
	clear(s.runKeys)
	clear(s.runWork)
	clear(s.dst)
	s.misses, s.fetch, s.res, s.ask, s.setKeys, s.setEntries = s.misses[:0], s.fetch[:0], s.res[:0], s.ask[:0], s.setKeys[:0], s.setEntries[:0]
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
