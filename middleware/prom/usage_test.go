package prom_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/middleware/prom"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

func TestCollectorExportsHowFullEachBoundedStoreIs(t *testing.T) {
	t.Parallel()
	metrics := middleware.NewMetrics(nil)
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return k, nil })
	lru, err := stores.NewLRU[string, string](3)
	require.NoError(t, err)
	bounded := pipeline.Cache("bounded", lru, &pipeline.CacheOptions[string]{
		Observer: middleware.Observe[string](metrics, "bounded"),
	})(src)
	pipeline.Cache("unbounded", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{
		Observer: middleware.Observe[string](metrics, "unbounded"),
	})(src)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		_, err := bounded.Fetch(t.Context(), k)
		require.NoError(t, err)
	}
	u, ok := metrics.Layer("bounded").Usage()
	require.True(t, ok)
	require.Equal(t, pipeline.Usage{Entries: 3, Capacity: 3}, u)
	_, ok = metrics.Layer("unbounded").Usage()
	require.False(t, ok, "a Map does not say how full it is")
	require.EqualValues(t, 2, metrics.Layer("bounded").Stats().Evicted)

	reg := prometheus.NewRegistry()
	reg.MustRegister(prom.NewCollector(metrics, nil))
	want := `
# HELP multilayer_capacity Most entries the layer's store holds, where the store says; 0 if a weight budget bounds it.
# TYPE multilayer_capacity gauge
multilayer_capacity{layer="bounded"} 3
# HELP multilayer_entries Entries held by the layer's store, where the store says (a bounded stock store does).
# TYPE multilayer_entries gauge
multilayer_entries{layer="bounded"} 3
# HELP multilayer_evictions_total Keys dropped by the layer's store to make room.
# TYPE multilayer_evictions_total counter
multilayer_evictions_total{layer="bounded"} 2
multilayer_evictions_total{layer="unbounded"} 0
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"multilayer_entries", "multilayer_capacity", "multilayer_evictions_total"))
}
