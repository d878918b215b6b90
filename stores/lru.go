package stores

import (
	"context"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// An LRU is a store that holds at most a fixed number of entries and, when
// full, evicts the least recently used one. It is a thin layer over
// golang-lru/v2's lru.Cache; a hit allocates nothing.
//
// LRU implements pipeline.ExpiringStore with the same rules as Map: Get
// reports an entry whose non-zero Expires has passed as missing; GetEntry
// returns every entry as it was set, expired or not, and the cache layer
// judges freshness. An expired entry stays until it is replaced, deleted or
// evicted. Both Get and GetEntry count as a use of the key.
//
// An LRU is safe for concurrent use. None of its methods fails: the errors
// they return are always nil.
type LRU[K comparable, V any] struct {
	// The cache holds pointers to entries, which are never modified once
	// stored: a hit copies 8 bytes out of golang-lru instead of a whole
	// Entry, which measurably shortens the hot path.
	c *lru.Cache[K, *pipeline.Entry[V]]
}

// NewLRU returns an empty LRU that holds at most size entries. It returns an
// error wrapping ErrInvalidSize if size is not positive.
func NewLRU[K comparable, V any](size int) (*LRU[K, V], error) {
	if size <= 0 {
		return nil, fmt.Errorf("%w %d: must be positive", ErrInvalidSize, size)
	}
	c, err := lru.New[K, *pipeline.Entry[V]](size)
	if err != nil {
		return nil, fmt.Errorf("stores: NewLRU: %w", err)
	}
	return &LRU[K, V]{c: c}, nil
}

// Get returns the value of key. It reports ok == false if key is absent or
// its entry has a non-zero Expires that has passed (by time.Now).
func (l *LRU[K, V]) Get(_ context.Context, key K) (V, bool, error) {
	e, ok := l.c.Get(key)
	if !ok || expired(e.Expires) {
		var zero V
		return zero, false, nil
	}
	return e.Value, true, nil
}

// GetEntry returns the entry of key as it was set, expired or not.
func (l *LRU[K, V]) GetEntry(_ context.Context, key K) (pipeline.Entry[V], bool, error) {
	e, ok := l.c.Get(key)
	if !ok {
		return pipeline.Entry[V]{}, false, nil
	}
	return *e, true, nil
}

// Set stores value under key with an unknown lifetime (a zero Expires),
// evicting the least recently used entry if the LRU is full.
func (l *LRU[K, V]) Set(_ context.Context, key K, value V) error {
	l.c.Add(key, &pipeline.Entry[V]{Value: value})
	return nil
}

// SetEntry stores e under key as it is, evicting the least recently used
// entry if the LRU is full.
func (l *LRU[K, V]) SetEntry(_ context.Context, key K, e pipeline.Entry[V]) error {
	l.c.Add(key, &e)
	return nil
}

// Delete removes key, if it is present.
func (l *LRU[K, V]) Delete(_ context.Context, key K) error {
	l.c.Remove(key)
	return nil
}

// Len returns the number of entries held, expired ones included.
func (l *LRU[K, V]) Len() int { return l.c.Len() }

// Clear removes every entry.
func (l *LRU[K, V]) Clear(context.Context) error {
	l.c.Purge()
	return nil
}
