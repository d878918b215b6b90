package pipeline

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
