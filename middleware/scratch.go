package middleware

import "sync"

// scratch lends slices to batches. A layer that must give the batch below
// keys or results of other types than its own borrows a slice, passes it
// down, and gives it back when the batch returns: a BatchFetcher keeps
// nothing it was given once it returns. So a batch whose keys all hit
// allocates nothing in the layer, as FetchMany promises. The zero value is
// ready to use and must not be copied after first use.
type scratch[T any] struct{ pool sync.Pool }

// get returns a slice of length n.
func (s *scratch[T]) get(n int) *[]T {
	p, _ := s.pool.Get().(*[]T)
	if p == nil {
		p = new([]T)
	}
	if cap(*p) < n {
		*p = make([]T, n)
	}
	*p = (*p)[:n]
	return p
}

// put takes p back, cleared so that it holds on to nothing.
func (s *scratch[T]) put(p *[]T) {
	clear(*p)
	s.pool.Put(p)
}
