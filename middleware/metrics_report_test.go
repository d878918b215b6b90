package middleware_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// The observers of Metrics hand a layer what the debug page shows beyond
// its counts.
var (
	_ pipeline.LatencySource = middleware.Observe[string](middleware.NewMetrics(nil), "l").(pipeline.LatencySource)
	_ pipeline.ErrorSource   = middleware.Observe[string](middleware.NewMetrics(nil), "l").(pipeline.ErrorSource)
)

func TestMetricsKeepTheLastErrorWithItsTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := middleware.NewMetrics(nil)
		obs := middleware.Observe[string](m, "l")
		_, ok := m.Layer("l").LastError()
		require.False(t, ok, "no error yet")

		ctx := context.Background()
		obs.Observe(ctx, pipeline.Event[string]{Kind: pipeline.Error, Err: errors.New("first")})
		time.Sleep(time.Minute)
		obs.Observe(ctx, pipeline.Event[string]{Kind: pipeline.Hit})
		obs.Observe(ctx, pipeline.Event[string]{Kind: pipeline.NotFound, Err: pipeline.ErrNotFound})
		obs.Observe(ctx, pipeline.Event[string]{Kind: pipeline.StaleServed, Err: errors.New("second")})
		got, ok := m.Layer("l").LastError()
		require.True(t, ok)
		require.Equal(t, pipeline.LastError{Message: "second", At: time.Now()}, got)

		obs.Observe(ctx, pipeline.Event[string]{Kind: pipeline.Error, Err: errors.New(strings.Repeat("é", 1000))})
		got, _ = m.Layer("l").LastError()
		require.LessOrEqual(t, len(got.Message), 512+len("…"), "a long error is cut")
		require.True(t, strings.HasSuffix(got.Message, "é…"), "and stays valid UTF-8")
	})
}

func TestCacheWithMetricsDescribesLatencyAndLastError(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		opts func(m *middleware.Metrics) *pipeline.CacheOptions[string]
	}{
		{"Observe", func(m *middleware.Metrics) *pipeline.CacheOptions[string] {
			return &pipeline.CacheOptions[string]{Observer: middleware.Observe[string](m, "l")}
		}},
		{"Metrics option", func(m *middleware.Metrics) *pipeline.CacheOptions[string] {
			return &pipeline.CacheOptions[string]{Metrics: m}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := middleware.NewMetrics(nil)
			fail := errors.New("source down")
			f := pipeline.Cache("l", newMetricsStore(), c.opts(m))(
				pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
					if k == "bad" {
						return "", fail
					}
					return "v", nil
				}))
			for _, k := range []string{"a", "b", "bad"} {
				_, _ = f.Fetch(t.Context(), k)
			}
			n := pipeline.TreeOf(f)[0].Dependents[0]
			require.Equal(t, "l", n.Name)
			require.NotNil(t, n.Latency, "the layer hands over its histogram")
			require.EqualValues(t, 3, n.Latency.Count, "two fills and an error, each timed")
			require.NotNil(t, n.LastError, "the layer hands over its last error")
			require.Equal(t, "pipeline: l: source down", n.LastError.Message)
			require.False(t, n.LastError.At.IsZero())
		})
	}
}
