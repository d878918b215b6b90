package pipeline_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

func TestHitRatioCountsSharedWaitsAsSparedFetches(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
			<-gate
			return k, nil
		})
		metrics := middleware.NewMetrics(nil)
		f := pipeline.Cache("l", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{
			Observer: middleware.Observe[string](metrics, "l"),
		})(src)
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() { _, _ = f.Fetch(context.Background(), "k") })
		}
		synctest.Wait()
		close(gate)
		wg.Wait()
		s := metrics.Layer("l").Stats()
		require.EqualValues(t, 100, s.Misses)
		require.EqualValues(t, 99, s.SharedWaits)
		require.InDelta(t, 0.99, s.HitRatio(), 1e-9, "one fetch served 100 requests")

		// A batch repeating a missing key: one fetch, the repeats shared.
		pipeline.FetchMany(context.Background(), f, []string{"x", "x", "x", "x"})
		s = metrics.Layer("l").Stats()
		require.EqualValues(t, 104, s.Misses)
		require.EqualValues(t, 102, s.SharedWaits)

		// A repeat before another missing key: only the repeat is shared.
		pipeline.FetchMany(context.Background(), f, []string{"y", "y", "z"})
		s = metrics.Layer("l").Stats()
		require.EqualValues(t, 107, s.Misses)
		require.EqualValues(t, 103, s.SharedWaits)
	})
}
