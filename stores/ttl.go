package stores

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/multilayer-cache/multilayer/internal/expiry"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// TTLOptions configure a TTL store. The zero value, and a nil pointer, mean
// defaults.
type TTLOptions struct {
	// Clock returns the current time. Default time.Now.
	Clock func() time.Time
	// Jitter shortens each lifetime the store sets by a random fraction of
	// it in [0, Jitter), so that keys stored together do not expire
	// together. It must be in [0, 1). Default 0: no jitter.
	Jitter float64
	// Grace is how long an expired entry is kept after its Expires, so that
	// a cache layer can still serve it stale-if-error through GetEntry. A
	// cache layer with StaleIfError lengthens it to its StaleIfError when
	// it is built (see KeepStale): leave it zero unless another reader
	// needs it. Default 0: an expired entry is dropped as soon as it is
	// seen.
	Grace time.Duration
}

// A TTL is an LRU whose entries also expire: it holds at most a fixed number
// of entries, evicting the least recently used one when full, and no entry
// lives longer than a fixed ttl. It starts no goroutine: expired entries are
// dropped when they are read, and evicted like any other entry.
//
// TTL implements pipeline.ExpiringStore. Every entry it holds has an expiry:
// Set gives the value now + ttl, and SetEntry caps the entry's Expires at
// now + ttl, a zero Expires (an unknown lifetime) included. Get reports an
// expired entry as missing, and drops it if the TTL has a Clock of its own
// (see Get). GetEntry returns an expired entry, with its Expires, until
// Grace after it expired, so that the cache layer can judge it (and serve
// it stale-if-error); past that it drops it and reports it missing. Len
// counts expired entries that have not been dropped yet.
// Expires comes back as from an LRU: the same instant, not necessarily the
// same location or monotonic clock reading.
//
// TTL implements pipeline.StaleKeeper: a cache layer with StaleIfError
// lengthens Grace to it.
//
// TTL also implements pipeline.BatchStore: GetBatch and SetBatch take its
// lock once for the whole batch, and follow the rules of GetEntry and
// SetEntry for each key.
//
// TTL implements pipeline.Notifier and pipeline.Meter as LRU does: it
// reports each entry it evicts to make room for a new key, expired or not;
// an entry dropped because it expired, a Delete and a Clear are not
// reported.
//
// A TTL is safe for concurrent use. A read that drops an expired entry
// checks and drops it under the store's lock, so it never drops a value
// that a concurrent Set stored. The clock is read before the lock is taken.
// Its methods fail only for a key that cannot live in a map (see the package
// doc, "Keys"): the error wraps pipeline.ErrInvalidKey.
type TTL[K comparable, V any] struct {
	c lruCore[K, V]

	ttl    time.Duration
	clock  func() time.Time
	coarse bool // clock is the default: Get judges expiry as expiredNow does
	jitter float64
	grace  expiry.Grace // Grace, lengthened by KeepStale
}

var (
	_ pipeline.BatchStore[string, int] = (*TTL[string, int])(nil)
	_ pipeline.Notifier[string]        = (*TTL[string, int])(nil)
	_ pipeline.Meter                   = (*TTL[string, int])(nil)
	_ pipeline.StaleKeeper             = (*TTL[string, int])(nil)
	_ pipeline.TTLStore                = (*TTL[string, int])(nil)
)

// NewTTL returns an empty TTL that holds at most size entries, each for at
// most ttl. opts may be nil for defaults; NewTTL does not keep or modify it.
// Under a cache layer with a TTL of its own (pipeline.CacheOptions.TTL),
// the shorter of the two wins, as each is a maximum (see
// pipeline.TTLStore); TTLCache writes the lifetime once. Give Jitter to
// the layer rather than to the store: the layer does not see the store's
// jitter, and reports to the layers above a lifetime up to Jitter longer
// than the store keeps.
//
// It returns an error wrapping ErrInvalidSize if size is not positive,
// ErrInvalidTTL if ttl is not positive, and ErrInvalidOption if Jitter is
// outside [0, 1) or Grace is negative.
func NewTTL[K comparable, V any](size int, ttl time.Duration, opts *TTLOptions) (*TTL[K, V], error) {
	var o TTLOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case size <= 0:
		return nil, fmt.Errorf("%w %d: must be positive", ErrInvalidSize, size)
	case ttl <= 0:
		return nil, fmt.Errorf("%w %v: must be positive", ErrInvalidTTL, ttl)
	case !(o.Jitter >= 0 && o.Jitter < 1): // also rejects NaN
		return nil, fmt.Errorf("%w: Jitter %v: must be in [0, 1)", ErrInvalidOption, o.Jitter)
	case o.Grace < 0:
		return nil, fmt.Errorf("%w: Grace %v: must not be negative", ErrInvalidOption, o.Grace)
	}
	coarse := o.Clock == nil
	if coarse {
		o.Clock = time.Now
	}
	t := &TTL[K, V]{ttl: ttl, clock: o.Clock, coarse: coarse, jitter: o.Jitter}
	t.grace.Lengthen(o.Grace)
	if err := t.c.init(size); err != nil {
		return nil, fmt.Errorf("stores: NewTTL: %w", err)
	}
	return t, nil
}

// Get returns the value of key. It reports ok == false if key is absent or
// expired. With a Clock of your own it also drops an expired entry, even
// within Grace; with the default clock it leaves it (to GetEntry, eviction
// or Delete) and judges expiry by time.Now to within about a millisecond,
// as a cache layer's hits do (see pipeline.CacheOptions.Clock).
func (t *TTL[K, V]) Get(_ context.Context, key K) (V, bool, error) {
	if t.c.bad(key) {
		var zero V
		return zero, false, invalidKey("TTL", key)
	}
	if t.coarse { // the fast path of the TTL hit target: see expiredNow
		v, exp, ok := t.c.get(key, math.MinInt64)
		if !ok || expiredNow(exp) {
			var zero V
			return zero, false, nil
		}
		return v, true, nil
	}
	v, _, ok := t.c.get(key, expiry.ClampNanos(t.clock()))
	if !ok {
		var zero V
		return zero, false, nil
	}
	return v, true, nil
}

// GetEntry returns the entry of key, expired or not, until Grace after its
// Expires; past that it drops the entry and reports ok == false.
func (t *TTL[K, V]) GetEntry(_ context.Context, key K) (pipeline.Entry[V], bool, error) {
	if t.c.bad(key) {
		return pipeline.Entry[V]{}, false, invalidKey("TTL", key)
	}
	if !t.coarse {
		v, exp, ok := t.c.get(key, t.cutoff())
		if !ok {
			return pipeline.Entry[V]{}, false, nil
		}
		return entry(v, exp), true, nil
	}
	// With the default clock a hit reads no time.Now (the TTL hit target, for
	// the layers that read entries: StaleIfError, RefreshAhead); an entry the
	// coarse clock shows past its grace is read again under a cutoff from
	// time.Now, which drops it under the lock.
	v, exp, ok := t.c.get(key, math.MinInt64)
	if ok && expiredNow(t.grace.End(exp)) {
		v, exp, ok = t.c.get(key, t.cutoff())
	}
	if !ok {
		return pipeline.Entry[V]{}, false, nil
	}
	return entry(v, exp), true, nil
}

// GetBatch writes to out[i] the entry of keys[i] as GetEntry returns it, or
// pipeline.ErrNotFound in Err if the TTL does not hold the key or it expired
// Grace or more ago, in which case GetBatch drops it; or an error wrapping
// pipeline.ErrInvalidKey for an invalid key. It reads the clock once. It
// panics if len(out) != len(keys).
func (t *TTL[K, V]) GetBatch(_ context.Context, keys []K, out []pipeline.Result[V]) {
	t.c.getBatch("TTL", keys, out, t.cutoff())
}

// cutoff returns the time, in Unix nanoseconds, at or before which an entry
// expired more than Grace ago.
func (t *TTL[K, V]) cutoff() int64 { return t.cutoffAt(t.clock()) }

// cutoffAt is cutoff at now.
func (t *TTL[K, V]) cutoffAt(now time.Time) int64 {
	if g := t.grace.Load(); g > 0 {
		now = now.Add(-g)
	}
	return expiry.ClampNanos(now)
}

// TTL returns the longest lifetime the TTL gives an entry, as set by
// NewTTL: a cache layer over it takes it as its own TTL, or keeps its own
// if that is shorter (see pipeline.TTLStore).
func (t *TTL[K, V]) TTL() time.Duration { return t.ttl }

// KeepStale lengthens Grace to d if it is shorter, so that GetEntry returns
// an expired entry until at least d after its Expires: a cache layer with
// StaleIfError calls it when it is built (see pipeline.StaleKeeper). It
// never fails.
func (t *TTL[K, V]) KeepStale(d time.Duration) error {
	t.grace.Lengthen(d)
	return nil
}

// Set stores value under key until now + ttl (shortened by Jitter).
func (t *TTL[K, V]) Set(_ context.Context, key K, value V) error {
	if t.c.bad(key) {
		return invalidKey("TTL", key)
	}
	t.c.add(key, value, t.limit(t.clock()))
	return nil
}

// SetEntry stores e under key, with its Expires capped at now + ttl
// (shortened by Jitter); a zero Expires becomes that cap. An entry that has
// already expired is stored as it is, for Grace; one that expired Grace or
// more ago is not stored, so that it evicts nothing, and the key's old
// value is dropped.
func (t *TTL[K, V]) SetEntry(_ context.Context, key K, e pipeline.Entry[V]) error {
	if t.c.bad(key) {
		return invalidKey("TTL", key)
	}
	now := t.clock()
	exp := t.capped(now, expiry.ToNanos(e.Expires))
	if dead(exp, t.cutoffAt(now)) {
		t.c.remove(key)
		return nil
	}
	t.c.add(key, e.Value, exp)
	return nil
}

// SetBatch stores entries[i] under keys[i] as SetEntry does, in order, so
// that the last of a repeated key wins. It reads the clock once; Jitter is
// drawn for each entry. It stores the valid keys and returns an error
// wrapping pipeline.ErrInvalidKey if some were invalid. It panics if
// len(entries) != len(keys).
func (t *TTL[K, V]) SetBatch(_ context.Context, keys []K, entries []pipeline.Entry[V]) error {
	now := t.clock()
	return t.c.setBatch("TTL", keys, entries, func(exp int64) int64 { return t.capped(now, exp) }, t.cutoffAt(now))
}

// capped returns exp, an expiry as an item holds it, capped at the limit of
// an entry set at now; an unknown expiry (0) becomes that limit.
func (t *TTL[K, V]) capped(now time.Time, exp int64) int64 {
	if limit := t.limit(now); exp == 0 || limit < exp {
		return limit
	}
	return exp
}

// limit returns the latest expiry the store gives an entry set at now, as
// an item holds it.
func (t *TTL[K, V]) limit(now time.Time) int64 {
	ttl := t.ttl
	if t.jitter > 0 {
		ttl -= time.Duration(rand.Float64() * t.jitter * float64(ttl))
	}
	return expiry.ToNanos(now.Add(ttl))
}

// Delete removes key, if it is present.
func (t *TTL[K, V]) Delete(_ context.Context, key K) error {
	if t.c.bad(key) {
		return invalidKey("TTL", key)
	}
	t.c.remove(key)
	return nil
}

// Len returns the number of entries held, including expired ones that have
// not been dropped yet.
func (t *TTL[K, V]) Len() int { return t.c.len() }

// Notify makes f the function the TTL reports its evictions to; see
// pipeline.Notifier. A nil f stops the reports.
func (t *TTL[K, V]) Notify(f func(pipeline.StoreEvent[K])) { t.c.setNotify(f) }

// Usage returns the number of entries held, expired ones that have not been
// dropped yet included, and the capacity.
func (t *TTL[K, V]) Usage() pipeline.Usage { return t.c.usage() }

// Clear removes every entry.
func (t *TTL[K, V]) Clear(context.Context) error {
	t.c.purge()
	return nil
}
