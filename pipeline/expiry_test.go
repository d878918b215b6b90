package pipeline_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

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
