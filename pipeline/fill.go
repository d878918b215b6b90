package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/multilayer-cache/multilayer/internal/keys"
)

// The fill: what a call's fetch below leaves in the store.
//
// Invariant: no fill that began before a drop of its key (or a Clear)
// writes after that drop has deleted the key. A fill checks and writes under
// fillGuard.mu held for reading (keep); a drop marks the calls of its key
// void, or a Clear moves cleared, under mu held for writing, then deletes.
// So a fill either sees the mark and keeps nothing, or writes before the
// delete, which removes what it wrote. The drop then voids again the calls
// made meanwhile, which may have read the store before the delete, so that
// no caller arriving after the drop joins them (see drop).

// fillGuard orders fills and drops; see above.
type fillGuard struct {
	mu      sync.RWMutex
	cleared atomic.Uint64 // moved by every Clear, under mu
	dropped atomic.Uint64 // moved by every drop, under mu: for calls not in flights.m
}

// fetchBelow reads the store again if the call must (see flights), fetches
// the keys it did not find from below, and keeps what comes back.
func (c *cache[K, V]) fetchBelow(f *call[K, V]) {
	keys, res, gathered := f.keys, f.res, false
	if f.recheck && c.recheck(f) > 0 { // fetch only the keys it did not find
		keys, res, gathered = nil, nil, true
		for i := range f.work {
			if f.work[i].st != fresh {
				keys, res = append(keys, f.keys[i]), append(res, Result[V]{})
			}
		}
	}
	if len(keys) == 0 {
		return
	}
	start := c.now()
	c.below(f, keys, res)
	if gathered {
		n := 0
		for i := range f.work {
			if f.work[i].st != fresh {
				f.res[i], n = res[n], n+1
			}
		}
	}
	c.finish(f, since(start))
}

// below fetches keys into res under the call's context, which carries the
// fill marker; tracking tells the layers below to look for it.
func (c *cache[K, V]) below(f *call[K, V], keys []K, res []Result[V]) {
	f.below = keys
	tracking.Add(1)
	defer tracking.Add(-1)
	if len(keys) == 1 {
		res[0].Entry, res[0].Err = c.next.FetchEntry(f, keys[0])
		return
	}
	if d, ok := c.batch.(distinctBatcher[K, V]); ok {
		d.fetchDistinct(f, keys, res) // a call's keys do not repeat
		return
	}
	c.batch.FetchBatch(f, keys, res)
}

// recheck reads the call's keys from the store again: a flight landed
// since its caller read them. A key found fresh is done (its work says
// fresh); an expired one replaces the old entry kept for stale-if-error.
// It returns how many it found fresh.
func (c *cache[K, V]) recheck(f *call[K, V]) (found int) {
	if c.bstore != nil && len(f.keys) > 1 {
		c.bstore.GetBatch(f, f.keys, f.res)
	} else {
		c.readEach(f, f.keys, f.res)
	}
	for i := range f.res {
		r, w := f.res[i], &f.work[i]
		switch w.st = c.judgeRead(f, f.keys[i], r); w.st {
		case fresh, due:
			w.st = fresh
			f.res[i] = Result[V]{Entry: r.Entry}
			found++
			continue
		case expired:
			w.old = &stale[V]{e: r.Entry}
		default:
			w.old = nil
		}
		f.res[i] = Result[V]{}
	}
	return found
}

// finish handles what came from below for every key the call fetched,
// keeps the values found, then reports each key's outcome, in key order.
func (c *cache[K, V]) finish(f *call[K, V], elapsed time.Duration) {
	for i := range f.res {
		w, r := &f.work[i], &f.res[i]
		switch {
		case w.st == fresh:
			continue // found by recheck
		case r.Err != nil:
			*r = c.failed(f, i, r.Err)
		case c.opts.TTL > 0:
			r.Expires = c.expiry(r.Expires, c.opts.TTL)
		}
	}
	c.keep(f)
	if !c.observed() {
		return
	}
	for i, k := range f.keys {
		switch w := &f.work[i]; {
		case w.kept:
			c.emitSlow(f, Fill, k, nil, elapsed)
		case w.ev == StaleServed:
			c.emitSlow(f, w.ev, k, w.old.err, elapsed)
		case w.ev != 0:
			c.emitSlow(f, w.ev, k, f.res[i].Err, elapsed)
		}
	}
}

// storable reports whether position i of the call is a value to write.
func (c *cache[K, V]) storable(f *call[K, V], i int) bool {
	w, r := &f.work[i], &f.res[i]
	return w.st != fresh && w.st != broken && w.ev == 0 && !w.void && r.Err == nil &&
		(r.Expires.IsZero() || c.estore != nil)
}

// keep writes the call's values to the store, unless a drop or a Clear
// since the call began voided them (see fillGuard). A failed write is
// reported; the callers still get the values.
func (c *cache[K, V]) keep(f *call[K, V]) {
	c.fill.mu.RLock()
	defer c.fill.mu.RUnlock() // a panicking store must not block drops
	if c.fill.cleared.Load() != f.cleared || f.alone && c.fill.dropped.Load() != f.dropped {
		return
	}
	batch := c.bstore != nil && len(f.keys) > 1
	var keys []K // for a batch, nil while every key so far is to be written
	var entries []Entry[V]
	for i := range f.res {
		switch {
		case !c.storable(f, i):
			if batch && keys == nil {
				keys = append(make([]K, 0, len(f.keys)), f.keys[:i]...)
			}
		case !batch:
			f.work[i].kept = c.write(f, f.keys[i], f.res[i].Entry)
		default:
			if entries == nil {
				entries = make([]Entry[V], 0, len(f.keys)-i)
			}
			entries = append(entries, f.res[i].Entry)
			if keys != nil {
				keys = append(keys, f.keys[i])
			}
		}
	}
	if len(entries) == 0 {
		return
	}
	if keys == nil {
		keys = f.keys
	}
	if err := c.bstore.SetBatch(f, keys, entries); err != nil {
		c.emit(f, Error, keys[0], fmt.Errorf("pipeline: %s: store set batch: %w", c.name, err), 0)
		return
	}
	for i := range f.res {
		f.work[i].kept = c.storable(f, i)
	}
}

// write stores e under key, and reports whether it did; a failure goes to
// the observers.
func (c *cache[K, V]) write(ctx context.Context, key K, e Entry[V]) bool {
	var err error
	if e.Expires.IsZero() {
		err = c.store.Set(ctx, key, e.Value) // the same as SetEntry, by its contract, and cheaper
	} else {
		err = c.estore.SetEntry(ctx, key, e)
	}
	if err != nil {
		c.emit(ctx, Error, key, fmt.Errorf("pipeline: %s: store set: %w", c.name, err), 0)
	}
	return err == nil
}

// failed handles an error from below for position i of the call, and
// notes the event to report in its work.
func (c *cache[K, V]) failed(f *call[K, V], i int, err error) Result[V] {
	key, w := f.keys[i], &f.work[i]
	if isNotFound(err) {
		if c.opts.NegativeTTL > 0 {
			c.fill.mu.RLock() // not if a drop raced it, as in keep
			if !w.void && c.fill.cleared.Load() == f.cleared && !(f.alone && c.fill.dropped.Load() != f.dropped) {
				c.neg.put(key, timed{until: c.expiry(time.Time{}, c.opts.NegativeTTL)}, c.opts.Clock())
			}
			c.fill.mu.RUnlock()
		}
		if w.st == expired { // gone below: drop what was kept for stale-if-error
			if derr := c.store.Delete(f, key); derr != nil {
				c.emit(f, Error, key, fmt.Errorf("pipeline: %s: store delete: %w", c.name, derr), 0)
			}
		}
		w.ev = NotFound
		return Result[V]{Err: err}
	}
	// The old value is served once it has expired, within StaleIfError: a
	// refresh-ahead that fails while its value is still fresh serves nobody
	// (a caller joins it only once the value expired), and is an Error.
	if now := c.opts.Clock(); w.old != nil && c.opts.StaleIfError > 0 &&
		!now.Before(w.old.e.Expires) && now.Before(w.old.e.Expires.Add(c.opts.StaleIfError)) {
		w.ev, w.old.err = StaleServed, err
		return Result[V]{Entry: w.old.e}
	}
	err = fmt.Errorf("pipeline: %s: %w", c.name, err)
	w.ev = Error
	return Result[V]{Err: err}
}

// expiry returns the lifetime to store: inner capped by ttl (jittered) from
// now. A zero ttl leaves inner as it is.
func (c *cache[K, V]) expiry(inner time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return inner
	}
	if c.opts.Jitter > 0 {
		ttl -= time.Duration(rand.Float64() * c.opts.Jitter * float64(ttl))
	}
	own := c.opts.Clock().Add(ttl)
	if inner.IsZero() || own.Before(inner) {
		return own
	}
	return inner
}

// void marks the call of key void and takes it out of the flights (see
// fillGuard); with all, every call.
func (c *cache[K, V]) void(key K, all bool) {
	c.fill.mu.Lock()
	defer c.fill.mu.Unlock()
	c.flights.mu.Lock()
	defer c.flights.mu.Unlock()
	c.flights.landed.Add(1) // a miss that read the store before now looks again
	if all {
		c.fill.cleared.Add(1)
		clear(c.flights.m)
		c.flights.batches = nil
		return
	}
	c.fill.dropped.Add(1)
	for s, ok := c.flights.find(key); ok; s, ok = c.flights.find(key) {
		s.f.work[s.i].void = true
		if !s.f.batched {
			delete(c.flights.m, key)
		}
	}
}

// Invalidate passes key inward, then drops it from this layer and from
// every value derived from it above; see Cache. The layers below skip this
// layer's own key among their dependents (it is the origin): it is dropped
// here, once. The drop here happens even if the inward pass panics (an
// observer's panic), before the panic goes on.
func (c *cache[K, V]) Invalidate(ctx context.Context, key K) (err error) {
	if c.checkKeys && !keys.Valid(key) {
		return c.invalidKey(ctx, key)
	}
	defer func() { err = errors.Join(err, c.drop(ctx, key)) }()
	return Invalidate(context.WithValue(ctx, originKey{}, dependent(derived[K, V]{c, key})), c.inner, key)
}

// Clear clears the layers below, then this one (its store must have a
// Clear(ctx) error method) and every layer derived from it above, even if
// the inward pass panics.
func (c *cache[K, V]) Clear(ctx context.Context) (err error) {
	defer func() { err = errors.Join(err, c.clearHere(ctx)) }()
	return Clear(ctx, c.inner)
}

// drop drops key from this layer and every value derived from it above, and
// returns every failure. It drops the derived values even if an observer
// panics, so that the panic cannot leave one behind.
func (c *cache[K, V]) drop(ctx context.Context, key K) (err error) {
	c.void(key, false)
	err = c.store.Delete(ctx, key)
	c.void(key, false) // calls made meanwhile may have read the old value
	c.neg.remove(key)
	c.backoff.remove(key)
	defer func() { err = errors.Join(err, c.deps.drop(ctx, key)) }() // even if an observer panics
	if err != nil {
		err = fmt.Errorf("pipeline: %s: store delete: %w", c.name, err)
		c.emit(ctx, Error, key, err, 0)
		return err
	}
	if ctx.Value(forgetKey{}) != nil {
		c.emit(ctx, Evicted, key, nil, 0) // for the index below; see forgetting
		return nil
	}
	c.emit(ctx, Invalidated, key, nil, 0)
	return nil
}

// clearHere empties this layer and the layers derived from it above.
func (c *cache[K, V]) clearHere(ctx context.Context) error {
	c.void(*new(K), true)
	var err error
	if cl, ok := c.store.(interface{ Clear(context.Context) error }); ok {
		err = cl.Clear(ctx)
	} else {
		err = fmt.Errorf("pipeline: %s: store has no Clear method: %w", c.name, errors.ErrUnsupported)
	}
	c.void(*new(K), true)
	c.neg.reset()
	c.backoff.reset()
	return errors.Join(err, c.deps.clear(ctx))
}
