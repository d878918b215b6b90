package pipeline

import "weak"

// Hooks into a cache layer's state for the tests of package pipeline_test.

// BackoffLen returns how many keys the cache layer f remembers as backing
// off after a failed refresh.
func BackoffLen[K comparable, V any](f Fetcher[K, V]) int { return f.(*cache[K, V]).backoff.len() }

// DependentsBytes returns the estimated size of the cache layer f's
// dependency index.
func DependentsBytes[K comparable, V any](f Fetcher[K, V]) int {
	c := f.(*cache[K, V])
	c.deps.mu.Lock()
	defer c.deps.mu.Unlock()
	return c.deps.bytes
}

// WatchBatchRecord returns a function that reports whether the record of a
// whole batch that the cache layer f's dependency index holds under key
// now is still reachable, or nil if it holds none.
func WatchBatchRecord[K comparable, V any](f Fetcher[K, V], key K) (alive func() bool) {
	c := f.(*cache[K, V])
	c.deps.mu.Lock()
	defer c.deps.mu.Unlock()
	for _, r := range c.deps.m[key] {
		if b, ok := r.dep.(interface{ watch() func() bool }); ok {
			return b.watch()
		}
	}
	return nil
}

func (b *derivedBatch[K, V]) watch() func() bool {
	w := weak.Make(b)
	return func() bool { return w.Value() != nil }
}
