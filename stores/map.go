package stores

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/multilayer-cache/multilayer/internal/expiry"
	"github.com/multilayer-cache/multilayer/internal/keys"
	"github.com/multilayer-cache/multilayer/pipeline"
)

var _ pipeline.BatchStore[string, int] = (*Map[string, int])(nil)

// A Map is an unbounded in-memory store on a sync.Map, whose reads take no
// lock: parallel hits scale with the cores (a map under a read-write mutex
// made every read write the mutex's reader count, and 2 goroutines read
// slower than one), at about twice the memory per entry. It never drops an
// entry by itself; use it for small key sets or tests, and an LRU or a TTL
// when the key set can grow.
//
// Map implements pipeline.ExpiringStore. Get reports an entry whose non-zero
// Expires has passed as missing; GetEntry returns every entry as it was set,
// expired or not, so that a cache layer can judge it with its own clock and
// serve it stale. An expired entry stays until it is replaced or deleted.
//
// Map also implements pipeline.BatchStore. A batch is read and written key
// by key: a read that runs during a SetBatch may see part of it.
//
// A Map is safe for concurrent use. Its zero value is an empty Map ready to
// use. Its methods fail only for a key that cannot live in a map (see the
// package doc, "Keys"): the error wraps pipeline.ErrInvalidKey.
type Map[K comparable, V any] struct {
	m sync.Map // K → *pipeline.Entry[V]
	// keyCheck says whether keys are checked: 0 not known yet (a zero
	// Map), checkNever or checkAlways (see keys.MayBeInvalid).
	keyCheck atomic.Uint32
}

// The values of Map.keyCheck once it is known.
const (
	checkNever uint32 = iota + 1
	checkAlways
)

// NewMap returns an empty Map.
func NewMap[K comparable, V any]() *Map[K, V] {
	m := &Map[K, V]{}
	m.keyCheck.Store(keyCheckOf[K]())
	return m
}

// keyCheckOf returns the keyCheck of a Map with keys of type K.
func keyCheckOf[K comparable]() uint32 {
	if keys.MayBeInvalid[K]() {
		return checkAlways
	}
	return checkNever
}

// check returns an error wrapping pipeline.ErrInvalidKey if key cannot live
// in a map. A zero Map finds out at its first call whether K needs the
// check.
func (m *Map[K, V]) check(key K) error {
	c := m.keyCheck.Load()
	if c == 0 {
		c = keyCheckOf[K]()
		m.keyCheck.Store(c)
	}
	if c == checkAlways && !keys.Valid(key) {
		return invalidKey("Map", key)
	}
	return nil
}

// Get returns the value of key. It reports ok == false if key is absent or
// its entry has a non-zero Expires that has passed (by time.Now, to within
// about a millisecond: see the package documentation).
func (m *Map[K, V]) Get(_ context.Context, key K) (V, bool, error) {
	if err := m.check(key); err != nil {
		var zero V
		return zero, false, err
	}
	e, ok := m.lookup(key)
	if !ok || expired(e.Expires) {
		var zero V
		return zero, false, nil
	}
	return e.Value, true, nil
}

// GetEntry returns the entry of key as it was set, expired or not.
func (m *Map[K, V]) GetEntry(_ context.Context, key K) (pipeline.Entry[V], bool, error) {
	if err := m.check(key); err != nil {
		return pipeline.Entry[V]{}, false, err
	}
	e, ok := m.lookup(key)
	return e, ok, nil
}

// GetBatch writes to out[i] the entry of keys[i] as GetEntry returns it, or
// pipeline.ErrNotFound in Err if the Map does not hold the key, or an error
// wrapping pipeline.ErrInvalidKey for an invalid key. It panics if
// len(out) != len(keys).
func (m *Map[K, V]) GetBatch(_ context.Context, keys []K, out []pipeline.Result[V]) {
	checkBatch("GetBatch", len(keys), len(out), "results")
	for i, k := range keys {
		if err := m.check(k); err != nil {
			out[i] = pipeline.Result[V]{Err: err}
		} else if e, ok := m.lookup(k); ok {
			out[i] = pipeline.Result[V]{Entry: e}
		} else {
			out[i] = pipeline.Result[V]{Err: pipeline.ErrNotFound}
		}
	}
}

// Set stores value under key with an unknown lifetime (a zero Expires): it
// stays until it is replaced or deleted.
func (m *Map[K, V]) Set(ctx context.Context, key K, value V) error {
	return m.SetEntry(ctx, key, pipeline.Entry[V]{Value: value})
}

// SetEntry stores e under key as it is.
func (m *Map[K, V]) SetEntry(_ context.Context, key K, e pipeline.Entry[V]) error {
	if err := m.check(key); err != nil {
		return err
	}
	m.m.Store(key, &e)
	return nil
}

// SetBatch stores entries[i] under keys[i] as SetEntry does, in order, so
// that the last of a repeated key wins. It stores the valid keys and
// returns an error wrapping pipeline.ErrInvalidKey if some were invalid. It
// panics if len(entries) != len(keys).
func (m *Map[K, V]) SetBatch(_ context.Context, keys []K, entries []pipeline.Entry[V]) error {
	checkBatch("SetBatch", len(keys), len(entries), "entries")
	var bad batchErr[K]
	for i, k := range keys {
		if m.check(k) != nil {
			bad.add(k)
			continue
		}
		e := entries[i]
		m.m.Store(k, &e)
	}
	return bad.err("Map", len(keys))
}

// Delete removes key, if it is present.
func (m *Map[K, V]) Delete(_ context.Context, key K) error {
	if err := m.check(key); err != nil {
		return err
	}
	m.m.Delete(key)
	return nil
}

// Len returns the number of entries held, expired ones included. It walks
// the entries: its cost grows with them.
func (m *Map[K, V]) Len() int {
	n := 0
	m.m.Range(func(any, any) bool { n++; return true })
	return n
}

// Clear removes every entry.
func (m *Map[K, V]) Clear(context.Context) error {
	m.m.Clear()
	return nil
}

// lookup returns the entry of key, which check accepted.
func (m *Map[K, V]) lookup(key K) (pipeline.Entry[V], bool) {
	v, ok := m.m.Load(key)
	if !ok {
		return pipeline.Entry[V]{}, false
	}
	return *v.(*pipeline.Entry[V]), true
}

// expired reports whether an entry that expires at exp has expired by
// time.Now. It reads the clock only for a non-zero exp: an unknown lifetime
// never expires in a store. It judges exp as the other stores hold it
// (expiry.ToNanos: clamped, not wrapped as UnixNano is outside the years
// 1678 to 2262, and Unix 0 still an expiry).
func expired(exp time.Time) bool {
	return !exp.IsZero() && expiredNow(expiry.ToNanos(exp))
}
