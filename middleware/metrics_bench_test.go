package middleware_test

import (
	"context"
	"testing"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

var metricsSink string

// metricsNoop is an observer that does nothing: what delivering an event
// costs a layer, whatever the observer does with it.
type metricsNoop struct{}

func (metricsNoop) Observe(context.Context, pipeline.Event[string]) {}

// metricsBenchLayers returns a cache layer holding "key", with no observer,
// with one that does nothing, and with a Metrics observer.
func metricsBenchLayers(b *testing.B) []struct {
	name string
	f    pipeline.Fetcher[string, string]
} {
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return k, nil })
	var out []struct {
		name string
		f    pipeline.Fetcher[string, string]
	}
	for _, obs := range []struct {
		name string
		o    pipeline.Observer[string]
	}{
		{"none", nil},
		{"noop", metricsNoop{}},
		{"metrics", middleware.Observe[string](middleware.NewMetrics(nil), "layer")},
	} {
		f := pipeline.Cache("layer", newMetricsStore(),
			&pipeline.CacheOptions[string]{Observer: obs.o})(src)
		if _, err := f.Fetch(context.Background(), "key"); err != nil {
			b.Fatal(err)
		}
		out = append(out, struct {
			name string
			f    pipeline.Fetcher[string, string]
		}{obs.name, f})
	}
	return out
}

// BenchmarkMetricsHit measures a hit of a cache layer with no observer, with
// one that does nothing and with a Metrics observer: counting must cost
// little and allocate nothing.
func BenchmarkMetricsHit(b *testing.B) {
	ctx := context.Background()
	for _, l := range metricsBenchLayers(b) {
		b.Run(l.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				metricsSink, _ = l.f.Fetch(ctx, "key")
			}
		})
	}
}

// BenchmarkMetricsHitParallel is BenchmarkMetricsHit from GOMAXPROCS
// goroutines, all on one key: the store's lock and the hit counter are
// shared by all of them.
func BenchmarkMetricsHitParallel(b *testing.B) {
	ctx := context.Background()
	for _, l := range metricsBenchLayers(b) {
		b.Run(l.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _ = l.f.Fetch(ctx, "key")
				}
			})
		})
	}
}

// BenchmarkMetricsObserve measures the observer alone, for a hit and for a
// fill that records a latency.
func BenchmarkMetricsObserve(b *testing.B) {
	obs := middleware.Observe[string](middleware.NewMetrics(nil), "layer")
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		e    pipeline.Event[string]
	}{
		{"hit", pipeline.Event[string]{Layer: "layer", Kind: pipeline.Hit, Key: "key"}},
		{"fill", pipeline.Event[string]{Layer: "layer", Kind: pipeline.Fill, Key: "key", Elapsed: 3e6}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				obs.Observe(ctx, bc.e)
			}
		})
	}
}
