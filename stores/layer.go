package stores

import (
	"fmt"
	"time"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// LRUCache returns a cache layer called name over an LRU of size entries,
// in one call: the middleware that pipeline.Cache(name, lru, opts) returns,
// where lru is a new LRU for each Fetcher the middleware builds. opts may be
// nil for defaults, as for pipeline.Cache, and is not modified.
//
// The value type comes first, as it cannot be inferred; the key type is
// inferred from opts when it is not nil:
//
//	profiles := stores.LRUCache[Profile]("profiles", 10_000, &pipeline.CacheOptions[int]{Metrics: metrics})
//	users := stores.LRUCache[User, string]("users", 10_000, nil)
//
// LRUCache panics if size is not positive, so that a constant size needs no
// error check; the middleware panics as pipeline.Cache does for a bad
// option or a nil next.
func LRUCache[V any, K comparable](name string, size int, opts *pipeline.CacheOptions[K]) pipeline.Middleware[K, V] {
	newLRU := func() *LRU[K, V] {
		lru, err := NewLRU[K, V](size)
		mustNot(err, "LRUCache", name)
		return lru
	}
	newLRU() // a bad size panics now, not when the first Fetcher is built
	return func(next pipeline.Fetcher[K, V]) pipeline.Fetcher[K, V] {
		return pipeline.Cache[K, V](name, newLRU(), opts)(next)
	}
}

// TTLCache returns a cache layer called name over a TTL of size entries,
// each kept for at most ttl, in one call: the middleware that
// pipeline.Cache(name, store, opts) returns, where store is a new TTL for
// each Fetcher the middleware builds. opts may be nil for defaults, as for
// pipeline.Cache, and is not modified.
//
// The lifetime is written once: ttl is the store's and the layer's (if
// opts.TTL is set too, the shorter wins; see pipeline.TTLStore). The store
// reads the layer's opts.Clock, and keeps expired entries as long as
// opts.StaleIfError needs (see pipeline.StaleKeeper); opts.Jitter applies
// to the lifetime the layer sets. The type parameters are those of
// LRUCache:
//
//	profiles := stores.TTLCache[Profile]("profiles", 100_000, 5*time.Minute, opts)
//
// TTLCache panics if size or ttl is not positive, so that constant settings
// need no error check; the middleware panics as pipeline.Cache does for a
// bad option or a nil next.
func TTLCache[V any, K comparable](name string, size int, ttl time.Duration, opts *pipeline.CacheOptions[K]) pipeline.Middleware[K, V] {
	var o TTLOptions
	if opts != nil {
		o.Clock = opts.Clock
	}
	newTTL := func() *TTL[K, V] {
		store, err := NewTTL[K, V](size, ttl, &o)
		mustNot(err, "TTLCache", name)
		return store
	}
	newTTL() // a bad size or ttl panics now, not when the first Fetcher is built
	return func(next pipeline.Fetcher[K, V]) pipeline.Fetcher[K, V] {
		return pipeline.Cache[K, V](name, newTTL(), opts)(next)
	}
}

// mustNot panics, naming the constructor and the layer, if err is not nil.
func mustNot(err error, constructor, name string) {
	if err != nil {
		panic(fmt.Sprintf("stores: %s %s: %v", constructor, name, err))
	}
}
