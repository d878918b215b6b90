package pipeline

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Flights: one fetch below per key at a time, in the shape of
// x/sync/singleflight.
//
// Invariants, all under flights.mu:
//   - a call that fetches k below and that a caller may still join is
//     found by find(k): a single key's call in m, a batch's in batches
//     (so that a batch pays nothing per key here, the fast path of the
//     batch-of-misses target; its keys are indexed the first time someone
//     looks for one, and a key a drop voided is not found). A call enters
//     when it is made, before it fetches, and leaves when it lands or when
//     a drop of k voids it (see fill.go);
//   - a call's done channel, once made, is closed exactly once, by land,
//     after its results are final; whoever joins a call makes the channel
//     if the call has none, so that an unjoined call run by its own caller
//     needs none;
//   - landed moves before any call leaves (by landing or by a drop): a
//     caller that read landed before its store read, and finds it moved
//     when it makes a call, reads the store again inside the call, so that
//     a caller arriving just after a flight ended never fetches again.
//
// A call is also the context its fetch below runs under (see Value), so a
// call is never reused: a context below may live on after it landed.

// slot is the place of a key in a call.
type slot[K comparable, V any] struct {
	f *call[K, V]
	i int
}

type flights[K comparable, V any] struct {
	mu      sync.Mutex
	m       map[K]slot[K, V] // single keys' calls
	batches []*call[K, V]    // batches' calls
	landed  atomic.Uint64
}

// work is what a call knows of one of its keys besides the key.
type work[V any] struct {
	old  *stale[V] // the expired entry the store held, for stale-if-error; nil if none
	st   state     // what the store read found
	void bool      // a drop of the key began after the call did: keep nothing (under fillGuard.mu)
	kept bool      // the fill stored it
	ev   EventKind // the outcome to report if not kept: NotFound, StaleServed, Error (its error in res, or in old)
}

// stale is an expired entry kept for stale-if-error, and the failure that
// served it.
type stale[V any] struct {
	e   Entry[V]
	err error
}

// newWork returns the work of a key whose store read found e in state st.
func newWork[V any](e Entry[V], st state) work[V] {
	if st == expired {
		return work[V]{old: &stale[V]{e: e}, st: st}
	}
	return work[V]{st: st}
}

// A call is one fetch below, of one key or of a batch of keys.
type call[K comparable, V any] struct {
	c       *cache[K, V]
	keys    []K
	res     []Result[V]     // aligned with keys; final once done is closed
	work    []work[V]       // aligned with keys
	below   []K             // the keys passed below, for the fill marker
	parent  context.Context // the caller's
	bound   context.Context // detached: deadline and cancellation; nil when attached
	done    chan struct{}
	cleared uint64 // fillGuard.cleared when the call was made
	dropped uint64 // fillGuard.dropped when the call was made (for calls not in m)
	alone   bool   // not in the flights (NoCoalesce): voided by any drop
	batched bool   // in flights.batches, not in m
	aliased bool   // res is the out of the batch that made the call
	recheck bool   // read the store again before fetching
	refresh bool   // a refresh-ahead: counted in cache.refresh

	batch atomic.Pointer[derivedBatch[K, V]] // the record of a batch below that may be out of order; see dependent
	index map[K]int                          // a batch's keys' positions, made when first needed (under flights.mu)

	// A single key's call keeps its slices here, so that it is one
	// allocation.
	key1  [1]K
	res1  [1]Result[V]
	work1 [1]work[V]
}

// newCall returns a call, for n keys, made by a caller with ctx. The
// caller adds the keys.
func (c *cache[K, V]) newCall(ctx context.Context, n int) *call[K, V] {
	f := &call[K, V]{c: c, parent: ctx}
	if n == 1 { // the single miss: one allocation
		f.keys, f.res, f.work = f.key1[:0], f.res1[:], f.work1[:0]
	} else { // a batch's results are placed once its keys are known (see missBatch)
		f.keys, f.work = make([]K, 0, n), make([]work[V], 0, n)
	}
	f.cleared, f.dropped = c.fill.cleared.Load(), c.fill.dropped.Load()
	return f
}

// add appends a key to the call.
func (f *call[K, V]) add(key K, w work[V]) int {
	f.keys, f.work = append(f.keys, key), append(f.work, w)
	return len(f.keys) - 1
}

// find returns the call of key that a caller may join. It must be called
// with mu held.
func (fl *flights[K, V]) find(key K) (slot[K, V], bool) {
	if s, ok := fl.m[key]; ok {
		return s, true
	}
	for _, f := range fl.batches {
		if i, ok := f.indexOf(key); ok && !f.work[i].void {
			return slot[K, V]{f, i}, true
		}
	}
	return slot[K, V]{}, false
}

// joinLocked returns the call of key that a caller may join, making its
// done channel. It must be called with mu held.
func (fl *flights[K, V]) joinLocked(key K) (slot[K, V], bool) {
	s, ok := fl.find(key)
	if ok && s.f.done == nil {
		s.f.done = make(chan struct{})
	}
	return s, ok
}

// indexOf returns the position of key in a batch's call, indexing its keys
// the first time. It must be called with flights.mu held.
func (f *call[K, V]) indexOf(key K) (int, bool) {
	if f.index == nil {
		f.index = make(map[K]int, len(f.keys))
		for i, k := range f.keys {
			f.index[k] = i
		}
	}
	i, ok := f.index[key]
	return i, ok
}

// result returns the result of position i, waiting for the call to land or
// for ctx to end.
func (f *call[K, V]) result(ctx context.Context, i int) (Entry[V], error) {
	if err := f.wait(ctx); err != nil {
		return Entry[V]{}, err
	}
	return f.res[i].Entry, f.res[i].Err
}

// wait waits for the call to land, or returns ctx.Err() as soon as ctx ends.
func (f *call[K, V]) wait(ctx context.Context) error {
	done := ctx.Done()
	if done == nil { // a plain receive: one waiter record in the runtime, not two
		<-f.done
		return nil
	}
	select { // a call that landed wins over an ended ctx
	case <-f.done:
		return nil
	default:
	}
	select {
	case <-f.done:
		return nil
	case <-done:
		return ctx.Err()
	}
}

// start runs the call: in a goroutine of the layer's background work if
// the caller can be cancelled (and the layer is open), otherwise in the
// caller's goroutine. The call must be in m, with done made if detach.
func (f *call[K, V]) start(detach bool) {
	if detach {
		if bound, ok := f.c.bg.acquire(); ok {
			f.bound = bound
			go f.runDetached()
			return
		}
	}
	f.run()
}

func (f *call[K, V]) runDetached() {
	defer f.c.bg.wg.Done()
	f.run()
}

// run fetches the call's keys and lands it. A panic below or in the store
// becomes every key's error, a *PanicError.
func (f *call[K, V]) run() {
	defer f.land()
	f.c.fetchBelow(f)
}

// land ends the call: it takes the call out of m, so that later callers
// read the store, and wakes its waiters. It is deferred by run, to recover
// a panic.
func (f *call[K, V]) land() {
	c := f.c
	if r := recover(); r != nil {
		err := c.panicked(f, f.keys[0], r)
		for i := range f.res {
			f.res[i] = Result[V]{Err: err}
		}
	}
	if f.refresh {
		c.refreshed(f)
	}
	if f.alone {
		return
	}
	c.flights.landed.Add(1)
	c.flights.mu.Lock()
	if f.batched {
		c.flights.batches = slices.DeleteFunc(c.flights.batches, func(b *call[K, V]) bool { return b == f })
	} else if s, ok := c.flights.m[f.keys[0]]; ok && s.f == f {
		delete(c.flights.m, f.keys[0])
	}
	done := f.done
	c.flights.mu.Unlock()
	if done != nil && f.aliased { // joined: keep the results once the batch has moved on
		f.res = slices.Clone(f.res)
	}
	if done != nil {
		close(done)
	}
}

// A call is the context its fetch below runs under: the values of the
// context of the caller that started it, the fill marker that the cache
// layers below record (see deps.go), and, when the call runs detached from
// a cancellable caller, the deadline and cancellation of a shared bound
// (see background.go) rather than that caller's.

// base is the context that cancels the fetch.
func (f *call[K, V]) base() context.Context {
	if f.bound != nil {
		return f.bound
	}
	return f.parent
}

// Deadline is the bound's, or the caller's when attached.
func (f *call[K, V]) Deadline() (time.Time, bool) { return f.base().Deadline() }

// Done is the bound's, or the caller's when attached.
func (f *call[K, V]) Done() <-chan struct{} { return f.base().Done() }

// Err is the bound's, or the caller's when attached.
func (f *call[K, V]) Err() error { return f.base().Err() }

// Value returns the fill marker, and otherwise the caller's values. A bound
// holds no values of its own, but answers the context package's lookup of
// its cancellation, so that a context derived from this one is cancelled
// with the bound without a goroutine.
func (f *call[K, V]) Value(key any) any {
	if key == (markerKey{}) {
		return marker(f)
	}
	if f.bound != nil {
		if v := f.bound.Value(key); v != nil {
			return v
		}
	}
	return f.parent.Value(key)
}

// directOver reports whether the cache layer of the call is built right
// over the one its fetch reaches (see deps.addDirect).
func (f *call[K, V]) directOver() bool { return f.c.directOver }

// dependent is the fill marker (see marker): what a layer below records for
// position i of the n keys it was asked.
func (f *call[K, V]) dependent(i, n int) dependent {
	switch {
	case len(f.below) == 1:
		return derived[K, V]{f.c, f.below[0]}
	case n == len(f.below) && f.c.inOrder:
		return derived[K, V]{f.c, f.below[i]}
	}
	if b := f.batch.Load(); b != nil {
		return b
	}
	f.batch.CompareAndSwap(nil, newDerivedBatch(f.c, f.below)) // one record, whoever makes it
	return f.batch.Load()
}
