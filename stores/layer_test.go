package stores_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// LRUCache and TTLCache refuse bad sizes and lifetimes when they are
// called, before any Fetcher is built, with a panic that names the layer.
func TestCacheLayersPanicAtBuildForBadSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		build func()
		want  string
	}{
		{name: "LRU size 0", build: func() { stores.LRUCache[string, string]("profiles", 0, nil) },
			want: "stores: LRUCache profiles: stores: invalid size 0: must be positive"},
		{name: "LRU size -1", build: func() { stores.LRUCache[string, string]("profiles", -1, nil) },
			want: "stores: LRUCache profiles: stores: invalid size -1: must be positive"},
		{name: "TTL size 0", build: func() { stores.TTLCache[string, string]("profiles", 0, time.Minute, nil) },
			want: "stores: TTLCache profiles: stores: invalid size 0: must be positive"},
		{name: "TTL ttl 0", build: func() { stores.TTLCache[string, string]("profiles", 10, 0, nil) },
			want: "stores: TTLCache profiles: stores: invalid ttl 0s: must be positive"},
		{name: "TTL ttl -1s", build: func() { stores.TTLCache[string, string]("profiles", 10, -time.Second, nil) },
			want: "stores: TTLCache profiles: stores: invalid ttl -1s: must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.PanicsWithValue(t, tc.want, tc.build)
		})
	}
}

// A bad option or a nil next panics as pipeline.Cache does, naming the
// layer, when the layer is built.
func TestCacheLayersPanicAsCacheDoesForBadOptions(t *testing.T) {
	t.Parallel()
	opts := &pipeline.CacheOptions[string]{Jitter: 2}
	require.PanicsWithValue(t, "pipeline: Cache local: Jitter must be in [0, 1)", func() {
		stores.LRUCache[string]("local", 10, opts)(&source{})
	})
	require.PanicsWithValue(t, "pipeline: Cache shared: Jitter must be in [0, 1)", func() {
		stores.TTLCache[string]("shared", 10, time.Minute, opts)(&source{})
	})
	require.PanicsWithValue(t, "pipeline: Cache local: nil next Fetcher", func() {
		stores.LRUCache[string, string]("local", 10, nil)(nil)
	})
}

// Each Fetcher a layer's middleware builds has a store of its own, of the
// given size: filling one does not fill the other, and each evicts at its
// size.
func TestLRUCacheBuildsAStorePerFetcher(t *testing.T) {
	t.Parallel()
	layer := stores.LRUCache[string, string]("local", 2, nil)
	src := &source{}
	a, b := layer(src), layer(src)
	for _, k := range []string{"x", "y", "z", "x"} {
		_, err := a.Fetch(t.Context(), k)
		require.NoError(t, err)
	}
	require.EqualValues(t, 4, src.calls.Load(), "x was evicted by z: size 2")
	_, err := b.Fetch(t.Context(), "z")
	require.NoError(t, err)
	require.EqualValues(t, 5, src.calls.Load(), "b has a store of its own")
}

// A TTLCache keeps a value for its ttl, or for opts.TTL if that is
// shorter, and serves it stale-if-error for opts.StaleIfError after it
// expired, with no setting of the store's to keep in step.
func TestTTLCacheLifetimeAndStaleIfError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		optsTTL time.Duration
		want    time.Duration // the lifetime
	}{
		{name: "ttl alone", want: time.Minute},
		{name: "shorter opts.TTL wins", optsTTL: 30 * time.Second, want: 30 * time.Second},
		{name: "longer opts.TTL loses", optsTTL: time.Hour, want: time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := testkit.NewClock()
			src := &source{}
			f := stores.TTLCache[string]("shared", 10, time.Minute, &pipeline.CacheOptions[string]{
				TTL: tc.optsTTL, StaleIfError: time.Hour, Clock: clock.Now,
			})(src)
			_, err := f.Fetch(t.Context(), "a")
			require.NoError(t, err)
			clock.Advance(tc.want - time.Nanosecond)
			_, err = f.Fetch(t.Context(), "a")
			require.NoError(t, err)
			require.EqualValues(t, 1, src.calls.Load(), "within the lifetime: a hit")
			clock.Advance(time.Nanosecond)
			_, err = f.Fetch(t.Context(), "a")
			require.NoError(t, err)
			require.EqualValues(t, 2, src.calls.Load(), "at the end of the lifetime: fetched again")

			src.fail.Store(true)
			clock.Advance(tc.want + 59*time.Minute)
			v, err := f.Fetch(t.Context(), "a")
			require.NoError(t, err, "expired 59 minutes ago: served stale")
			require.Equal(t, "a#2", v)
			clock.Advance(time.Minute)
			_, err = f.Fetch(t.Context(), "a")
			require.ErrorIs(t, err, errSource, "expired an hour ago: the error")
		})
	}
}
