package pipeline_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

func TestExpiryFlowsThroughThreeLayers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := &versioned{ttl: 10 * time.Second}
		opts := &pipeline.CacheOptions[string]{TTL: 60 * time.Second}
		l0 := pipeline.Cache("l0", newMemStore[string, string](), opts)(src)
		l1 := pipeline.Cache("l1", newMemStore[string, string](), opts)(l0)
		l2 := pipeline.Cache("l2", newMemStore[string, string](), opts)(l1)
		_, err := l2.Fetch(t.Context(), "k")
		require.NoError(t, err)
		time.Sleep(9 * time.Second)
		for _, f := range []pipeline.Fetcher[string, string]{l2, l1, l0} {
			_, err = f.Fetch(t.Context(), "k")
			require.NoError(t, err)
		}
		require.EqualValues(t, 1, src.calls.Load())
		time.Sleep(time.Second)
		for _, f := range []pipeline.Fetcher[string, string]{l0, l1, l2} {
			src.calls.Store(0)
			err = pipeline.Invalidate(t.Context(), f, "unrelated")
			require.NoError(t, err)
		}
		// After 10 s no layer serves the value: each reaches the source.
		_, err = l2.Fetch(t.Context(), "k")
		require.NoError(t, err)
		require.EqualValues(t, 1, src.calls.Load(), "l2 expired, l1 expired, l0 expired: one source call")
	})
}

// A layer with its own Clock judges expiry by that clock, not by the
// store's Get (which judges by time.Now): with a clock an hour behind, an
// entry filled with TTL 1m is expired for Get but fresh for the layer, and
// hits. Without a Clock, an entry expired by time.Now is fetched again.
func TestOwnClockJudgesExpiryOverStoreGet(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
		calls.Add(1)
		return "v" + k, nil
	})
	clock := func() time.Time { return time.Now().Add(-time.Hour) }
	f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
		TTL: time.Minute, Clock: clock,
	})(src)
	ctx := context.Background()
	_, err := f.Fetch(ctx, "k")
	require.NoError(t, err)
	v, err := f.Fetch(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "vk", v)
	res := pipeline.FetchMany(ctx, f, []string{"k"})
	require.NoError(t, res[0].Err)
	require.EqualValues(t, 1, calls.Load(), "fresh by the layer's clock: hits")

	// And the plain fast path does refetch an entry expired by time.Now.
	plainStore := newMemStore[string, string]()
	require.NoError(t, plainStore.SetEntry(ctx, "k", pipeline.Entry[string]{Value: "old", Expires: time.Now().Add(-time.Second)}))
	g := pipeline.Cache("g", plainStore, &pipeline.CacheOptions[string]{TTL: time.Minute})(src)
	v, err = g.Fetch(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "vk", v)
	res = pipeline.FetchMany(ctx, g, []string{"k"})
	require.Equal(t, "vk", res[0].Value)
}

func TestCacheTTLFromInner(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock()
	var calls atomic.Int64
	src := pipeline.EntryFetcherFunc[string, string](func(_ context.Context, k string) (pipeline.Entry[string], error) {
		calls.Add(1)
		return pipeline.Entry[string]{Value: k, Expires: clk.Now().Add(10 * time.Second)}, nil
	})
	opts := &pipeline.CacheOptions[string]{TTL: time.Minute, Clock: clk.Now}
	inner := pipeline.Cache("inner", newMemStore[string, string](), opts)(src)
	outer := pipeline.Cache("outer", newMemStore[string, string](), opts)(inner)

	e, err := outer.(pipeline.EntryFetcher[string, string]).FetchEntry(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, clk.Now().Add(10*time.Second), e.Expires, "the source's lifetime wins over a longer TTL")
	clk.Advance(9 * time.Second)
	_, err = outer.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.EqualValues(t, 1, calls.Load())
	clk.Advance(time.Second)
	_, err = outer.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.EqualValues(t, 2, calls.Load(), "no layer serves the value after the source's lifetime")
}

func TestCacheTTLCapsAndJitter(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock()
	store := newMemStore[string, string]()
	f := pipeline.Cache("l", store, &pipeline.CacheOptions[string]{
		TTL: 100 * time.Second, Jitter: 0.5, Clock: clk.Now,
	})(newSource("a", "A"))
	for range 50 {
		err := pipeline.Invalidate(t.Context(), f, "a")
		require.NoError(t, err)
		_, err = f.Fetch(t.Context(), "a")
		require.NoError(t, err)
		e, ok, err := store.GetEntry(t.Context(), "a")
		require.NoError(t, err)
		require.True(t, ok)
		life := e.Expires.Sub(clk.Now())
		require.Greater(t, life, 50*time.Second)
		require.LessOrEqual(t, life, 100*time.Second)
	}
}

func TestCachePlainStoreKeepsNoLifetime(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock()
	src := pipeline.EntryFetcherFunc[string, string](func(_ context.Context, k string) (pipeline.Entry[string], error) {
		return pipeline.Entry[string]{Value: k, Expires: clk.Now().Add(time.Second)}, nil
	})
	store := testkit.NewMap[string, string]()
	f := pipeline.Cache("l", store, nil)(src)
	v, err := f.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, "a", v)
	require.False(t, store.Has("a"), "a plain store cannot keep the lifetime, so the value is not kept")
}
