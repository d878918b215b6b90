package stores

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

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
	// a cache layer can still serve it stale-if-error through GetEntry. Set
	// it to at least the layer's StaleIfError. Default 0: an expired entry is
	// dropped as soon as it is seen.
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
// expired entry as missing and drops it. GetEntry returns an expired entry,
// with its Expires, until Grace after it expired, so that the cache layer can
// judge it (and serve it stale-if-error); past that it drops it and reports
// it missing. Len counts expired entries that have not been dropped yet.
//
// A TTL is safe for concurrent use. A read that drops an expired entry can
// race with a Set of the same key and drop the new value too; that costs a
// miss, never a stale answer. None of its methods fails: the errors they
// return are always nil.
type TTL[K comparable, V any] struct {
	c *lru.Cache[K, *pipeline.Entry[V]] // entries are never modified once stored; see LRU

	ttl    time.Duration
	clock  func() time.Time
	jitter float64
	grace  time.Duration
}

// NewTTL returns an empty TTL that holds at most size entries, each for at
// most ttl. opts may be nil for defaults; NewTTL does not keep or modify it.
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
	if o.Clock == nil {
		o.Clock = time.Now
	}
	c, err := lru.New[K, *pipeline.Entry[V]](size)
	if err != nil {
		return nil, fmt.Errorf("stores: NewTTL: %w", err)
	}
	return &TTL[K, V]{c: c, ttl: ttl, clock: o.Clock, jitter: o.Jitter, grace: o.Grace}, nil
}

// Get returns the value of key. It reports ok == false if key is absent or
// expired, and drops an expired entry, even within Grace.
func (t *TTL[K, V]) Get(_ context.Context, key K) (V, bool, error) {
	e, ok := t.c.Get(key)
	if ok && !t.clock().Before(e.Expires) {
		t.c.Remove(key)
		ok = false
	}
	if !ok {
		var zero V
		return zero, false, nil
	}
	return e.Value, true, nil
}

// GetEntry returns the entry of key, expired or not, until Grace after its
// Expires; past that it drops the entry and reports ok == false.
func (t *TTL[K, V]) GetEntry(_ context.Context, key K) (pipeline.Entry[V], bool, error) {
	e, ok := t.c.Get(key)
	if !ok {
		return pipeline.Entry[V]{}, false, nil
	}
	if !t.clock().Before(e.Expires.Add(t.grace)) {
		t.c.Remove(key)
		return pipeline.Entry[V]{}, false, nil
	}
	return *e, true, nil
}

// Set stores value under key until now + ttl (shortened by Jitter).
func (t *TTL[K, V]) Set(_ context.Context, key K, value V) error {
	t.c.Add(key, &pipeline.Entry[V]{Value: value, Expires: t.limit()})
	return nil
}

// SetEntry stores e under key, with its Expires capped at now + ttl
// (shortened by Jitter); a zero Expires becomes that cap. An entry that has
// already expired is stored as it is, for Grace.
func (t *TTL[K, V]) SetEntry(_ context.Context, key K, e pipeline.Entry[V]) error {
	if limit := t.limit(); e.Expires.IsZero() || limit.Before(e.Expires) {
		e.Expires = limit
	}
	t.c.Add(key, &e)
	return nil
}

// limit returns the latest expiry the store gives an entry set now.
func (t *TTL[K, V]) limit() time.Time {
	ttl := t.ttl
	if t.jitter > 0 {
		ttl -= time.Duration(rand.Float64() * t.jitter * float64(ttl))
	}
	return t.clock().Add(ttl)
}

// Delete removes key, if it is present.
func (t *TTL[K, V]) Delete(_ context.Context, key K) error {
	t.c.Remove(key)
	return nil
}

// Len returns the number of entries held, including expired ones that have
// not been dropped yet.
func (t *TTL[K, V]) Len() int { return t.c.Len() }

// Clear removes every entry.
func (t *TTL[K, V]) Clear(context.Context) error {
	t.c.Purge()
	return nil
}
