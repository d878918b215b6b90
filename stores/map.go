package stores

import (
	"context"
	"sync"
	"time"

	"github.com/multilayer-cache/multilayer/pipeline"
)

var _ pipeline.BatchStore[string, int] = (*Map[string, int])(nil)

// A Map is an unbounded in-memory store: a map under a read-write mutex. It
// never drops an entry by itself; use it for small key sets or tests, and
// an LRU or a TTL when the key set can grow.
//
// Map implements pipeline.ExpiringStore. Get reports an entry whose non-zero
// Expires has passed as missing; GetEntry returns every entry as it was set,
// expired or not, so that a cache layer can judge it with its own clock and
// serve it stale. An expired entry stays until it is replaced or deleted.
//
// Map also implements pipeline.BatchStore: GetBatch and SetBatch take its
// lock once for the whole batch.
//
// A Map is safe for concurrent use. Its zero value is an empty Map ready to
// use. None of its methods fails: the errors they return are always nil.
type Map[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]pipeline.Entry[V]
}

// NewMap returns an empty Map.
func NewMap[K comparable, V any]() *Map[K, V] {
	return &Map[K, V]{m: make(map[K]pipeline.Entry[V])}
}

// Get returns the value of key. It reports ok == false if key is absent or
// its entry has a non-zero Expires that has passed (by time.Now).
func (m *Map[K, V]) Get(_ context.Context, key K) (V, bool, error) {
	e, ok := m.lookup(key)
	if !ok || expired(e.Expires) {
		var zero V
		return zero, false, nil
	}
	return e.Value, true, nil
}

// GetEntry returns the entry of key as it was set, expired or not.
func (m *Map[K, V]) GetEntry(_ context.Context, key K) (pipeline.Entry[V], bool, error) {
	e, ok := m.lookup(key)
	return e, ok, nil
}

// GetBatch writes to out[i] the entry of keys[i] as GetEntry returns it, or
// pipeline.ErrNotFound in Err if the Map does not hold the key. It panics if
// len(out) != len(keys).
func (m *Map[K, V]) GetBatch(_ context.Context, keys []K, out []pipeline.Result[V]) {
	checkBatch("GetBatch", len(keys), len(out), "results")
	m.mu.RLock()
	defer m.mu.RUnlock() // see lookup
	for i, k := range keys {
		if e, ok := m.m[k]; ok {
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
	m.mu.Lock()
	defer m.mu.Unlock() // see lookup
	if m.m == nil {
		m.m = make(map[K]pipeline.Entry[V])
	}
	m.m[key] = e
	return nil
}

// SetBatch stores entries[i] under keys[i] as SetEntry does, in order, so
// that the last of a repeated key wins. It panics if
// len(entries) != len(keys).
func (m *Map[K, V]) SetBatch(_ context.Context, keys []K, entries []pipeline.Entry[V]) error {
	checkBatch("SetBatch", len(keys), len(entries), "entries")
	m.mu.Lock()
	defer m.mu.Unlock() // see lookup
	if m.m == nil {
		m.m = make(map[K]pipeline.Entry[V], len(keys))
	}
	for i, k := range keys {
		m.m[k] = entries[i]
	}
	return nil
}

// Delete removes key, if it is present.
func (m *Map[K, V]) Delete(_ context.Context, key K) error {
	m.mu.Lock()
	defer m.mu.Unlock() // see lookup
	delete(m.m, key)
	return nil
}

// Len returns the number of entries held, expired ones included.
func (m *Map[K, V]) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.m)
}

// Clear removes every entry.
func (m *Map[K, V]) Clear(context.Context) error {
	m.mu.Lock()
	clear(m.m)
	m.mu.Unlock()
	return nil
}

// lookup returns the entry of key. The lock is released by a defer, here
// and wherever a key is hashed under it: a key that cannot be hashed (a
// slice in an any key) panics in its caller, as with a Go map, and leaves
// the Map usable. (An LRU hashes such keys before it locks instead; a zero
// Map has no constructor to find out whether it needs to.)
func (m *Map[K, V]) lookup(key K) (pipeline.Entry[V], bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.m[key]
	return e, ok
}

// expired reports whether an entry that expires at exp has expired by
// time.Now. It reads the clock only for a non-zero exp: an unknown lifetime
// never expires in a store. It is small enough to inline, so that a hit on
// an entry without expiry does not pay a call.
func expired(exp time.Time) bool {
	return !exp.IsZero() && passed(exp)
}

// passed reports whether t is not after time.Now.
func passed(t time.Time) bool { return !time.Now().Before(t) }
