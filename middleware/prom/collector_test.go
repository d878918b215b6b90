package prom_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/middleware/prom"
	"github.com/multilayer-cache/multilayer/pipeline"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

// emit sends n events of kind to obs, each with elapsed.
func emit[K any](obs pipeline.Observer[K], kind pipeline.EventKind, n int, elapsed time.Duration) {
	for range n {
		obs.Observe(context.Background(), pipeline.Event[K]{Kind: kind, Elapsed: elapsed})
	}
}

// counters returns the exposition of the counters of one layer, all zero
// but those given.
func counters(ns, layer string, values map[string]int) string {
	var b strings.Builder
	for _, c := range []struct{ name, help string }{
		{"errors_total", "Failures: errors from the layer below, and store errors that did not fail the lookup."},
		{"evictions_total", "Keys dropped by the layer's store to make room."},
		{"fills_total", "Values fetched from the layer below and stored."},
		{"hits_total", "Lookups the layer answered from its store."},
		{"invalidations_total", "Keys dropped from the layer by invalidation."},
		{"misses_total", "Lookups the layer did not answer itself and passed to the layer below."},
		{"negative_hits_total", "Lookups answered with not found from the layer's memory of missing keys."},
		{"not_found_total", "Lookups that the layer below answered with not found."},
		{"shared_waits_total", "Lookups that waited for a fetch of the same key already under way: they missed (and count in misses_total), but spared the layer below a fetch, so the hit ratio counts them as answered."},
		{"stale_served_total", "Expired values served because the layer below failed."},
	} {
		fmt.Fprintf(&b, "# HELP %s_%s %s\n# TYPE %s_%s counter\n%s_%s{layer=%q} %d\n",
			ns, c.name, c.help, ns, c.name, ns, c.name, layer, values[c.name])
	}
	return b.String()
}

// TestCollectorOneLayer checks the whole exposition of one layer after a
// scripted sequence of events.
func TestCollectorOneLayer(t *testing.T) {
	t.Parallel()
	metrics := middleware.NewMetrics(&middleware.MetricsOptions{
		Buckets: []time.Duration{time.Millisecond, 100 * time.Millisecond},
	})
	files := middleware.Observe[string](metrics, "files")
	emit(files, pipeline.Hit, 7, 0)
	emit(files, pipeline.Miss, 5, 0)
	emit(files, pipeline.Fill, 2, 500*time.Microsecond)
	emit(files, pipeline.Fill, 1, 50*time.Millisecond)
	emit(files, pipeline.NotFound, 1, 2*time.Second)
	emit(files, pipeline.Error, 1, 0) // a store error: no time below
	emit(files, pipeline.SharedWait, 3, 0)

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(prom.NewCollector(metrics, nil)))
	want := counters("multilayer", "files", map[string]int{
		"hits_total": 7, "misses_total": 5, "fills_total": 3, "not_found_total": 1,
		"errors_total": 1, "shared_waits_total": 3,
	}) + `# HELP multilayer_fetch_duration_seconds Time spent below the layer after a miss, whatever the outcome: fill, not found, error or stale value served.
# TYPE multilayer_fetch_duration_seconds histogram
multilayer_fetch_duration_seconds_bucket{layer="files",le="0.001"} 2
multilayer_fetch_duration_seconds_bucket{layer="files",le="0.1"} 3
multilayer_fetch_duration_seconds_bucket{layer="files",le="+Inf"} 4
multilayer_fetch_duration_seconds_sum{layer="files"} 2.051
multilayer_fetch_duration_seconds_count{layer="files"} 4
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want)))

	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
}

// TestCollectorLayers checks that one collector serves layers of different
// key types, including layers made after it was registered.
func TestCollectorLayers(t *testing.T) {
	t.Parallel()
	metrics := middleware.NewMetrics(nil)
	c := prom.NewCollector(metrics, nil)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	require.Equal(t, 0, testutil.CollectAndCount(c))

	files := middleware.Observe[string](metrics, "files")
	docs := middleware.Observe[struct{ blob, version string }](metrics, "docs")
	emit(files, pipeline.Hit, 7, 0)
	emit(docs, pipeline.Hit, 1, 0)
	emit(docs, pipeline.NegativeHit, 2, 0)
	emit(docs, pipeline.StaleServed, 1, 0)
	emit(docs, pipeline.Invalidated, 4, 0)
	emit(docs, pipeline.Evicted, 6, 0)

	tests := []struct {
		name string
		want string
	}{
		{
			name: "multilayer_hits_total",
			want: `# HELP multilayer_hits_total Lookups the layer answered from its store.
# TYPE multilayer_hits_total counter
multilayer_hits_total{layer="docs"} 1
multilayer_hits_total{layer="files"} 7
`,
		},
		{
			name: "multilayer_negative_hits_total",
			want: `# HELP multilayer_negative_hits_total Lookups answered with not found from the layer's memory of missing keys.
# TYPE multilayer_negative_hits_total counter
multilayer_negative_hits_total{layer="docs"} 2
multilayer_negative_hits_total{layer="files"} 0
`,
		},
		{
			name: "multilayer_stale_served_total",
			want: `# HELP multilayer_stale_served_total Expired values served because the layer below failed.
# TYPE multilayer_stale_served_total counter
multilayer_stale_served_total{layer="docs"} 1
multilayer_stale_served_total{layer="files"} 0
`,
		},
		{
			name: "multilayer_invalidations_total",
			want: `# HELP multilayer_invalidations_total Keys dropped from the layer by invalidation.
# TYPE multilayer_invalidations_total counter
multilayer_invalidations_total{layer="docs"} 4
multilayer_invalidations_total{layer="files"} 0
`,
		},
		{
			name: "multilayer_evictions_total",
			want: `# HELP multilayer_evictions_total Keys dropped by the layer's store to make room.
# TYPE multilayer_evictions_total counter
multilayer_evictions_total{layer="docs"} 6
multilayer_evictions_total{layer="files"} 0
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(tt.want), tt.name))
		})
	}
	t.Run("every series of both layers", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, 2*11, testutil.CollectAndCount(c))
	})
}

func TestCollectorOptions(t *testing.T) {
	t.Parallel()
	metrics := middleware.NewMetrics(nil)
	emit(middleware.Observe[string](metrics, "files"), pipeline.Hit, 3, 0)
	c := prom.NewCollector(metrics, &prom.Options{
		Namespace:   "app",
		ConstLabels: prometheus.Labels{"service": "blobs"},
	})
	want := `# HELP app_hits_total Lookups the layer answered from its store.
# TYPE app_hits_total counter
app_hits_total{layer="files",service="blobs"} 3
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want), "app_hits_total"))
	require.Equal(t, 11, testutil.CollectAndCount(c))
}

// TestCollectorRegistersNothing checks that making a collector leaves the
// default registry alone.
func TestCollectorRegistersNothing(t *testing.T) {
	t.Parallel()
	metrics := middleware.NewMetrics(nil)
	emit(middleware.Observe[string](metrics, "files"), pipeline.Hit, 1, 0)
	_ = prom.NewCollector(metrics, nil)
	families, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, f := range families {
		require.NotContains(t, f.GetName(), "multilayer")
	}
}

func TestCollectorNilMetrics(t *testing.T) {
	t.Parallel()
	require.PanicsWithValue(t, "prom: NewCollector: nil Metrics", func() { prom.NewCollector(nil, nil) })
}

// TestCollectorConcurrent scrapes while layers count, for the race
// detector.
func TestCollectorConcurrent(t *testing.T) {
	t.Parallel()
	metrics := middleware.NewMetrics(nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(prom.NewCollector(metrics, nil))
	var wg sync.WaitGroup
	for g := range 4 {
		obs := middleware.Observe[int](metrics, fmt.Sprint("layer", g))
		wg.Go(func() { emit(obs, pipeline.Fill, 1000, time.Millisecond) })
	}
	for range 10 {
		_, err := reg.Gather()
		require.NoError(t, err)
	}
	wg.Wait()
	want := `# HELP multilayer_fills_total Values fetched from the layer below and stored.
# TYPE multilayer_fills_total counter
multilayer_fills_total{layer="layer0"} 1000
multilayer_fills_total{layer="layer1"} 1000
multilayer_fills_total{layer="layer2"} 1000
multilayer_fills_total{layer="layer3"} 1000
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "multilayer_fills_total"))
}

// A layer name that is not valid UTF-8 (a label value must be) does not
// make a scrape panic, which would end the process: the collector exports
// the name with the invalid bytes replaced by U+FFFD.
func TestCollectorExportsALayerNameThatIsNotUTF8(t *testing.T) {
	t.Parallel()
	metrics := middleware.NewMetrics(nil)
	emit(middleware.Observe[string](metrics, "bad\xffname"), pipeline.Hit, 2, 0)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(prom.NewCollector(metrics, nil)))

	require.NotPanics(t, func() {
		n, err := testutil.GatherAndCount(reg, "multilayer_hits_total")
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == "multilayer_hits_total" {
			require.Equal(t, "bad\uFFFDname", f.GetMetric()[0].GetLabel()[0].GetValue())
			require.Equal(t, 2.0, f.GetMetric()[0].GetCounter().GetValue())
		}
	}
}
