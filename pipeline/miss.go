package pipeline

import (
	"context"
	"hash/maphash"
	"math/bits"

	"github.com/multilayer-cache/multilayer/internal/keys"
)

// miss handles a key the store did not hold fresh: a negative-cache hit,
// or a call below, joined or made. old is what the store held, for
// stale-if-error; landed was read before the store (see flights).
func (c *cache[K, V]) miss(ctx context.Context, key K, old Entry[V], st state, landed uint64) (Entry[V], error) {
	if c.remembered(ctx, key) {
		return Entry[V]{}, c.negErr
	}
	c.emit(ctx, Miss, key, nil, 0)
	if c.opts.NoCoalesce {
		f := c.newCall(ctx, 1)
		f.add(key, newWork(old, st))
		f.alone = true
		f.run()
		return f.res[0].Entry, f.res[0].Err
	}
	detach := ctx.Done() != nil
	c.flights.mu.Lock()
	if s, ok := c.flights.joinLocked(key); ok {
		c.flights.mu.Unlock()
		c.emit(ctx, SharedWait, key, nil, 0)
		return s.f.result(ctx, s.i)
	}
	f := c.newCall(ctx, 1)
	f.add(key, newWork(old, st))
	f.recheck = c.flights.landed.Load() != landed
	if detach {
		f.done = make(chan struct{})
	}
	c.flights.m[key] = slot[K, V]{f, 0}
	c.flights.mu.Unlock()
	f.start(detach)
	if !detach {
		return f.res[0].Entry, f.res[0].Err // done is final: f has landed
	}
	return f.result(ctx, 0)
}

// remembered reports whether key is remembered as not found below (see
// NegativeTTL), and reports the NegativeHit.
func (c *cache[K, V]) remembered(ctx context.Context, key K) bool {
	if c.opts.NegativeTTL <= 0 {
		return false
	}
	if _, ok := c.neg.get(key, c.opts.Clock()); !ok {
		return false
	}
	c.emit(ctx, NegativeHit, key, nil, 0)
	return true
}

// missed is a position of a batch that the store did not hold fresh, and
// what the store read found there (an expired entry stays in out until
// place takes it).
type missed struct {
	i  int
	st state
}

// FetchBatch fetches keys, writing the result of keys[i] to out[i]; see
// BatchFetcher and Cache. The keys the store holds fresh are served with
// one store read (one GetBatch over a BatchStore); the distinct others that
// no fetch under way covers go below in one call. Every position of a
// repeated key counts the same way: a hit, or a miss.
func (c *cache[K, V]) FetchBatch(ctx context.Context, ks []K, out []Result[V]) {
	c.fetchBatch(ctx, ks, out, false)
}

// fetchDistinct is FetchBatch of keys that do not repeat, as a cache layer
// above passes them (see distinctBatcher).
func (c *cache[K, V]) fetchDistinct(ctx context.Context, ks []K, out []Result[V]) {
	c.fetchBatch(ctx, ks, out, true)
}

func (c *cache[K, V]) fetchBatch(ctx context.Context, ks []K, out []Result[V], distinct bool) {
	defer c.recoverBatch(ctx, ks, out)
	if c.checkKeys && c.invalidKeys(ctx, ks, out) {
		return
	}
	landed := c.flights.landed.Load()
	if tracking.Load() != 0 {
		c.deps.trackBatch(ctx, ks)
	}
	if c.bstore != nil {
		c.bstore.GetBatch(ctx, ks, out)
	} else {
		c.readEach(ctx, ks, out)
	}
	var misses []missed
	for i := range out {
		r := &out[i] // a fresh entry stays in out as the store wrote it
		switch st := c.judgeRead(ctx, ks[i], *r); st {
		case fresh, due:
			c.hit(ctx, ks[i])
			if st == due {
				c.refreshAhead(ctx, ks[i], r.Entry, landed)
			}
		default:
			if misses == nil { // room for every miss to come
				misses = make([]missed, 0, len(out)-i)
			}
			misses = append(misses, missed{i, st})
		}
	}
	if len(misses) > 0 {
		c.missBatch(ctx, ks, out, misses, landed, distinct)
	}
}

// missBatch fetches the missed positions: a key under way in another call
// joins it; the distinct others go below in one call of this batch's own.
func (c *cache[K, V]) missBatch(ctx context.Context, ks []K, out []Result[V], misses []missed, landed uint64, distinct bool) {
	pending := misses[:0]
	for _, m := range misses {
		if c.remembered(ctx, ks[m.i]) {
			out[m.i] = Result[V]{Err: c.negErr}
			continue
		}
		c.emit(ctx, Miss, ks[m.i], nil, 0)
		pending = append(pending, m)
	}
	detach := ctx.Done() != nil && !c.opts.NoCoalesce // alone, own runs in the caller's goroutine, as in miss
	own := c.newCall(ctx, len(pending))
	if detach {
		own.done = make(chan struct{}) // before anyone can join it
	}
	slots := c.place(ks, out, pending, own, landed, distinct)
	if own.aliased = !detach && slots == nil && len(own.keys) == len(out); own.aliased {
		own.res = out // the batch-of-misses target: no copy of each result (see land)
		clear(out)
	} else if len(own.res) != len(own.keys) {
		own.res = make([]Result[V], len(own.keys))
	}
	if len(own.keys) > 0 {
		own.start(detach)
	}
	leads := 0                  // own's keys were added in the order of their first positions
	for j, m := range pending { // after own started: an observer may panic
		if s := slotAt(slots, own, j); s.f == own && s.i == leads {
			leads++
			continue
		}
		c.emit(ctx, SharedWait, ks[m.i], nil, 0) // joined another fetch, or repeats a key of this one
	}
	for j, m := range pending {
		s := slotAt(slots, own, j)
		if s.f != own || detach {
			if err := s.f.wait(ctx); err != nil {
				out[m.i] = Result[V]{Err: err}
				continue
			}
		}
		if !own.aliased {
			out[m.i] = s.f.res[s.i]
		}
	}
}

// place finds the call that serves each pending position: another caller's
// call of its key, or own, to which it adds the key (once; when the keys
// are known to be distinct, own's index is left for find to make). own
// enters the flights, unless the layer does not coalesce. The slots it
// returns are nil while each position j is own's key j (see slotAt).
func (c *cache[K, V]) place(ks []K, out []Result[V], pending []missed, own *call[K, V], landed uint64, distinct bool) (slots []slot[K, V]) {
	if !distinct && !distinctKeys(ks, pending) {
		own.index = make(map[K]int, len(pending))
	}
	own.alone = c.opts.NoCoalesce
	if !own.alone {
		c.flights.mu.Lock()
		defer c.flights.mu.Unlock()
		own.recheck = c.flights.landed.Load() != landed
	}
	busy := !own.alone && (len(c.flights.m) > 0 || len(c.flights.batches) > 0)
	for j, m := range pending {
		k := ks[m.i]
		s, ok := slot[K, V]{}, false
		if s.i, ok = own.index[k]; ok {
			s.f = own
		} else if busy {
			s, ok = c.flights.joinLocked(k)
		}
		if !ok {
			s = slot[K, V]{own, own.add(k, missedWork(out, m))}
			if own.index != nil {
				own.index[k] = s.i
			}
		}
		if slots == nil && s != (slot[K, V]{own, j}) {
			slots = make([]slot[K, V], len(pending))
			for i := range j {
				slots[i] = slot[K, V]{own, i}
			}
		}
		if slots != nil {
			slots[j] = s
		}
	}
	if !own.alone && len(own.keys) > 0 {
		own.batched = true
		c.flights.batches = append(c.flights.batches, own)
	}
	return slots
}

// distinctKeys reports whether the keys of the pending positions are
// certainly distinct, as their hashes are: the fast path of the
// batch-of-misses target, where a map of the keys would cost more than the
// rest of the layer's work. A repeated hash leaves the check to own's index.
func distinctKeys[K comparable](ks []K, pending []missed) bool {
	seen := make([]uint64, 2<<bits.Len(uint(len(pending)))) // open addressing; 0 is empty
	mask := uint64(len(seen) - 1)
	for _, m := range pending {
		h := maphash.Comparable(keySeed, ks[m.i]) | 1
		j := h & mask
		for seen[j] != 0 && seen[j] != h {
			j = (j + 1) & mask
		}
		if seen[j] == h {
			return false
		}
		seen[j] = h
	}
	return true
}

// slotAt returns the slot of pending position j (see place).
func slotAt[K comparable, V any](slots []slot[K, V], own *call[K, V], j int) slot[K, V] {
	if slots == nil {
		return slot[K, V]{own, j}
	}
	return slots[j]
}

// missedWork returns the work of a missed position: its state, and the
// expired entry the store held there, for stale-if-error.
func missedWork[V any](out []Result[V], m missed) work[V] {
	return newWork(out[m.i].Entry, m.st)
}

// invalidKeys gives every key of the batch that cannot live in a map its
// error, fetches the others as a batch of their own, and reports whether
// there was such a key (and so the batch is done).
func (c *cache[K, V]) invalidKeys(ctx context.Context, ks []K, out []Result[V]) bool {
	var valid []int
	for i, k := range ks {
		if keys.Valid(k) {
			valid = append(valid, i)
		}
	}
	if len(valid) == len(ks) {
		return false
	}
	sub, subOut := make([]K, len(valid)), make([]Result[V], len(valid))
	for j, i := range valid {
		sub[j] = ks[i]
	}
	for i, k := range ks {
		if !keys.Valid(k) {
			out[i] = Result[V]{Err: c.invalidKey(ctx, k)}
		}
	}
	if len(sub) > 0 {
		c.FetchBatch(ctx, sub, subOut)
	}
	for j, i := range valid {
		out[i] = subOut[j]
	}
	return true
}

// recoverBatch turns a panic in the batch (in the store, or in an
// observer) into a *PanicError for every key. Calls below recover their
// own panics (see call.run).
func (c *cache[K, V]) recoverBatch(ctx context.Context, ks []K, out []Result[V]) {
	if r := recover(); r != nil {
		var key K
		if len(ks) > 0 {
			key = ks[0]
		}
		err := c.panicked(ctx, key, r)
		for i := range out {
			out[i] = Result[V]{Err: err}
		}
	}
}
