package testkit

import (
	"context"
	"sync"
)

// Map is a pipeline.Store over a map behind a mutex: the smallest store
// that is safe for concurrent use. It has none of the optional store
// methods (no GetEntry, GetBatch or Clear), so a cache layer over it works
// through the plain Store contract alone. Use NewMap to make one.
type Map[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
}

// NewMap returns an empty Map.
func NewMap[K comparable, V any]() *Map[K, V] {
	return &Map[K, V]{m: make(map[K]V)}
}

// Get returns the value stored for key, and whether there is one. It never
// fails.
func (s *Map[K, V]) Get(_ context.Context, key K) (V, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok, nil
}

// Set stores value for key. It never fails.
func (s *Map[K, V]) Set(_ context.Context, key K, value V) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = value
	return nil
}

// Delete removes key. It never fails.
func (s *Map[K, V]) Delete(_ context.Context, key K) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// Has reports whether the map holds key, for tests that check what a
// layer kept.
func (s *Map[K, V]) Has(key K) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[key]
	return ok
}
