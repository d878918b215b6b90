package stores

import (
	"context"
	"fmt"
	"math"

	"github.com/multilayer-cache/multilayer/internal/expiry"
	"github.com/multilayer-cache/multilayer/pipeline"
)

var (
	_ pipeline.BatchStore[string, int] = (*LRU[string, int])(nil)
	_ pipeline.Notifier[string]        = (*LRU[string, int])(nil)
	_ pipeline.Meter                   = (*LRU[string, int])(nil)
)

// An LRU is a store that holds at most a fixed number of entries and, when
// full, evicts the least recently used one. It keeps them in golang-lru/v2's
// simplelru under a mutex of its own; a hit allocates nothing, and neither
// does a Set that replaces a key.
//
// LRU implements pipeline.ExpiringStore with the same rules as Map: Get
// reports an entry whose non-zero Expires has passed as missing; GetEntry
// returns every entry as it was set, expired or not, and the cache layer
// judges freshness. An expired entry stays until it is replaced, deleted or
// evicted. Get, GetEntry and every key GetBatch finds count as a use of the
// key.
//
// An LRU keeps Expires in Unix nanoseconds: GetEntry returns the instant
// that was set (compare it with time.Time.Equal), in the Local location and
// without a monotonic clock reading, and an Expires outside the years 1678
// to 2262 comes back clamped to them.
//
// LRU also implements pipeline.BatchStore: GetBatch and SetBatch take its
// lock once for the whole batch.
//
// LRU implements pipeline.Notifier: it reports each entry it evicts to make
// room for a new key (an event of Kind pipeline.Evicted with the key), from
// the goroutine of the Set that evicted it, under its lock. A Delete or a
// Clear is not reported. It implements pipeline.Meter: Usage reports the
// entries held, expired ones included, and the capacity.
//
// An LRU is safe for concurrent use. Its methods fail only for a key that
// cannot live in a map (see the package doc, "Keys"): the error wraps
// pipeline.ErrInvalidKey.
type LRU[K comparable, V any] struct {
	c lruCore[K, V]
}

// NewLRU returns an empty LRU that holds at most size entries. It returns an
// error wrapping ErrInvalidSize if size is not positive.
func NewLRU[K comparable, V any](size int) (*LRU[K, V], error) {
	if size <= 0 {
		return nil, fmt.Errorf("%w %d: must be positive", ErrInvalidSize, size)
	}
	l := new(LRU[K, V])
	if err := l.c.init(size); err != nil {
		return nil, fmt.Errorf("stores: NewLRU: %w", err)
	}
	return l, nil
}

// Get returns the value of key. It reports ok == false if key is absent or
// its entry has a non-zero Expires that has passed (by time.Now, to within
// about a millisecond: see the package documentation).
func (l *LRU[K, V]) Get(_ context.Context, key K) (V, bool, error) {
	// lruCore.get by hand: the compiler does not inline a generic method
	// into a generic caller, and the call costs about 2 ns of a 25 ns hit.
	var (
		v   V
		exp int64
		ok  bool
	)
	if l.c.bad(key) {
		return v, false, invalidKey("LRU", key)
	}
	l.c.mu.Lock()
	if l.c.val != nil {
		if it, found := l.c.val.Get(key); found {
			v, exp, ok = it.value, it.expires, true
		}
	} else if it, found := l.c.ref.Get(key); found {
		v, exp, ok = it.value, it.expires, true
	}
	l.c.mu.Unlock()
	if !ok || expiredNow(exp) {
		var zero V
		return zero, false, nil
	}
	return v, true, nil
}

// GetEntry returns the entry of key as it was set, expired or not.
func (l *LRU[K, V]) GetEntry(_ context.Context, key K) (pipeline.Entry[V], bool, error) {
	if l.c.bad(key) {
		return pipeline.Entry[V]{}, false, invalidKey("LRU", key)
	}
	v, exp, ok := l.c.get(key, math.MinInt64)
	if !ok {
		return pipeline.Entry[V]{}, false, nil
	}
	return entry(v, exp), true, nil
}

// GetBatch writes to out[i] the entry of keys[i] as GetEntry returns it, or
// pipeline.ErrNotFound in Err if the LRU does not hold the key, or an error
// wrapping pipeline.ErrInvalidKey for an invalid key. It panics if
// len(out) != len(keys).
func (l *LRU[K, V]) GetBatch(_ context.Context, keys []K, out []pipeline.Result[V]) {
	l.c.getBatch("LRU", keys, out, math.MinInt64)
}

// Set stores value under key with an unknown lifetime (a zero Expires),
// evicting the least recently used entry if the LRU is full.
func (l *LRU[K, V]) Set(_ context.Context, key K, value V) error {
	if l.c.bad(key) {
		return invalidKey("LRU", key)
	}
	l.c.add(key, value, 0)
	return nil
}

// SetEntry stores e under key as it is, evicting the least recently used
// entry if the LRU is full.
func (l *LRU[K, V]) SetEntry(_ context.Context, key K, e pipeline.Entry[V]) error {
	if l.c.bad(key) {
		return invalidKey("LRU", key)
	}
	l.c.add(key, e.Value, expiry.ToNanos(e.Expires))
	return nil
}

// SetBatch stores entries[i] under keys[i] as SetEntry does, in order, so
// that the last of a repeated key wins. It stores the valid keys and
// returns an error wrapping pipeline.ErrInvalidKey if some were invalid. It
// panics if len(entries) != len(keys).
func (l *LRU[K, V]) SetBatch(_ context.Context, keys []K, entries []pipeline.Entry[V]) error {
	return l.c.setBatch("LRU", keys, entries, nil, math.MinInt64)
}

// Delete removes key, if it is present.
func (l *LRU[K, V]) Delete(_ context.Context, key K) error {
	if l.c.bad(key) {
		return invalidKey("LRU", key)
	}
	l.c.remove(key)
	return nil
}

// Len returns the number of entries held, expired ones included.
func (l *LRU[K, V]) Len() int { return l.c.len() }

// Notify makes f the function the LRU reports its evictions to; see
// pipeline.Notifier. A nil f stops the reports.
func (l *LRU[K, V]) Notify(f func(pipeline.StoreEvent[K])) { l.c.setNotify(f) }

// Usage returns the number of entries held, expired ones included, and the
// capacity.
func (l *LRU[K, V]) Usage() pipeline.Usage { return l.c.usage() }

// Clear removes every entry.
func (l *LRU[K, V]) Clear(context.Context) error {
	l.c.purge()
	return nil
}
