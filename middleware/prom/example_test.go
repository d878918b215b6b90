package prom_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/middleware/prom"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

func ExampleNewCollector() {
	bucket := pipeline.FetcherFunc[string, string](func(_ context.Context, blob string) (string, error) {
		if blob == "missing" {
			return "", fmt.Errorf("bucket: %s: %w", blob, pipeline.ErrNotFound)
		}
		return "contents of " + blob, nil
	})
	metrics := middleware.NewMetrics(nil)
	files := pipeline.Cache("files", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{
		Metrics: metrics, // counted under the layer's name, "files"
	})(bucket)

	// Register the collector with a registry of your own, and serve it.
	reg := prometheus.NewRegistry()
	reg.MustRegister(prom.NewCollector(metrics, nil))
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

	ctx := context.Background()
	for _, blob := range []string{"a", "a", "b", "missing"} {
		_, _ = files.Fetch(ctx, blob)
	}

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	lines := bufio.NewScanner(rec.Body)
	for lines.Scan() {
		line := lines.Text()
		// Leave out the latency buckets and sum, which depend on the clock.
		if strings.HasPrefix(line, "multilayer_") && !strings.Contains(line, "_bucket") && !strings.Contains(line, "_sum") {
			fmt.Println(line)
		}
	}
	// Output:
	// multilayer_errors_total{layer="files"} 0
	// multilayer_evictions_total{layer="files"} 0
	// multilayer_fetch_duration_seconds_count{layer="files"} 3
	// multilayer_fills_total{layer="files"} 2
	// multilayer_hits_total{layer="files"} 1
	// multilayer_invalidations_total{layer="files"} 0
	// multilayer_misses_total{layer="files"} 3
	// multilayer_negative_hits_total{layer="files"} 0
	// multilayer_not_found_total{layer="files"} 1
	// multilayer_shared_waits_total{layer="files"} 0
	// multilayer_stale_served_total{layer="files"} 0
}
