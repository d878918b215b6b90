package testkit

import (
	"context"
	"strconv"
	"testing"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// Keys returns n keys, "key-0" to "key-<n-1>", for benchmarks.
func Keys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	return keys
}

// Warm stores every key of keys in s, with the key as its value, and reads
// each once, so that 2Q and ARC hold them as frequent keys; then, if s has
// a CleanUp method (stores/otter), it calls it, so that the store's
// maintenance has settled (at half its capacity, otter starts counting
// reads). It returns s, for benchmarks of hits.
func Warm[S pipeline.Store[string, string]](b testing.TB, s S, keys []string) S {
	ctx := context.Background()
	for _, k := range keys {
		if err := s.Set(ctx, k, k); err != nil {
			b.Fatal(err)
		}
		_, _, _ = s.Get(ctx, k)
	}
	if c, ok := any(s).(interface{ CleanUp() }); ok {
		c.CleanUp()
	}
	return s
}

// StoreHit returns a function that reads a key from s with Get and
// reports whether s held it, for benchmarks of hits.
func StoreHit(s pipeline.Store[string, string]) func(string) bool {
	ctx := context.Background()
	return func(k string) bool { _, ok, _ := s.Get(ctx, k); return ok }
}

// CacheHit returns a function that fetches a key through a cache layer
// over s, whose source returns the key as its value, and reports whether
// the fetch succeeded, for benchmarks of hits: warm s first. The layer is
// closed when b ends.
func CacheHit(b testing.TB, s pipeline.Store[string, string]) func(string) bool {
	return CacheHitWith(b, s, nil)
}

// CacheHitWith is CacheHit with a layer built with opts.
func CacheHitWith(b testing.TB, s pipeline.Store[string, string], opts *pipeline.CacheOptions[string]) func(string) bool {
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return k, nil })
	f := pipeline.Cache("l", s, opts)(src)
	b.Cleanup(func() { _ = f.(pipeline.Closer).Close() })
	ctx := context.Background()
	return func(k string) bool { _, err := f.Fetch(ctx, k); return err == nil }
}
