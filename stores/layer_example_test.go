package stores_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/middleware/prom"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/pipeline/debughttp"
	"github.com/multilayer-cache/multilayer/stores"
)

// Profile is a user's profile, as the database holds it.
type Profile struct {
	ID   int
	Name string
}

// loadProfile stands for the database: a query by primary key.
func loadProfile(_ context.Context, id int) (Profile, error) {
	names := map[int]string{1: "Ada", 2: "Grace"}
	name, ok := names[id]
	if !ok {
		return Profile{}, fmt.Errorf("db: profile %d: %w", id, pipeline.ErrNotFound)
	}
	return Profile{ID: id, Name: name}, nil
}

// newLogger returns the service's logger. It writes text without times or
// durations, so that the example's output can be checked.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// A service's profile cache: an LRU of 10,000 profiles in front of a TTL
// store of 100,000 that keeps each for five minutes, in front of the
// database; one Metrics for both layers (each counts under its own name),
// exported to Prometheus and shown on a debug page; a log record per
// lookup; one handle to fetch through and to close.
func ExampleLRUCache() {
	logger := newLogger(os.Stdout)

	metrics := middleware.NewMetrics(nil)
	opts := &pipeline.CacheOptions[int]{Metrics: metrics}
	profiles := pipeline.Chain(
		middleware.Log[int, Profile](logger, "profiles", nil),
		stores.LRUCache[Profile]("local", 10_000, opts),
		stores.TTLCache[Profile]("shared", 100_000, 5*time.Minute, opts),
	)(pipeline.Source("db", pipeline.FetcherFunc[int, Profile](loadProfile)))
	defer pipeline.Close(profiles) // stops the background work of every layer
	registry := prometheus.NewRegistry()
	registry.MustRegister(prom.NewCollector(metrics, nil))
	debug := debughttp.Handler(profiles)

	// The service's HTTP wiring would serve debug on /debug/multilayer, and
	// the registry on /metrics; its handlers fetch through profiles.
	ctx := context.Background()
	for _, id := range []int{1, 1, 2, 3} {
		_, _ = profiles.Fetch(ctx, id)
	}
	page := httptest.NewRecorder()
	debug.ServeHTTP(page, httptest.NewRequest(http.MethodGet, "/debug/multilayer?format=text", nil))
	fmt.Print(page.Body)
	// Output:
	// level=DEBUG msg=fetch layer=profiles key=1 outcome=fill served_by=source
	// level=DEBUG msg=fetch layer=profiles key=1 outcome=hit served_by=local
	// level=DEBUG msg=fetch layer=profiles key=2 outcome=fill served_by=source
	// level=INFO msg=fetch layer=profiles key=3 outcome="not found" served_by=source
	// db (source)
	// └── shared (cache, ttl 5m0s) entries=2/100000 hits=0 misses=3 fills=2 not_found=1 hit_ratio=0.0%
	//     └── local (cache) entries=2/10000 hits=1 misses=3 fills=2 not_found=1 hit_ratio=25.0%
	//         └── profiles (log)
}

// A TTL cache layer: the lifetime is written once, for the store and the
// layer, and a layer above keeps a value no longer than this one does.
func ExampleTTLCache() {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now } // tests move it instead of sleeping
	calls := 0
	rates := pipeline.FetcherFunc[string, float64](func(context.Context, string) (float64, error) {
		calls++
		return 1.08 + float64(calls)/100, nil
	})
	opts := &pipeline.CacheOptions[string]{Clock: clock}
	f := pipeline.Chain(
		stores.LRUCache[float64]("local", 100, opts),
		stores.TTLCache[float64]("shared", 1000, time.Minute, opts),
	)(rates)

	ctx := context.Background()
	for _, step := range []time.Duration{0, 59 * time.Second, time.Second} {
		now = now.Add(step)
		v, _ := f.Fetch(ctx, "EURUSD")
		fmt.Printf("%s: %.2f\n", now.Format(time.TimeOnly), v)
	}
	// Output:
	// 12:00:00: 1.09
	// 12:00:59: 1.09
	// 12:01:00: 1.10
}

// Stale-if-error over a TTL cache layer needs no grace period of the
// store's: the layer makes the store keep expired entries as long as
// StaleIfError (see pipeline.StaleKeeper).
func ExampleTTLCache_staleIfError() {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	down := false
	rates := pipeline.FetcherFunc[string, float64](func(context.Context, string) (float64, error) {
		if down {
			return 0, errors.New("rates: service unavailable")
		}
		return 1.09, nil
	})
	f := stores.TTLCache[float64]("rates", 1000, time.Minute, &pipeline.CacheOptions[string]{
		StaleIfError: time.Hour,
		Clock:        func() time.Time { return now },
	})(rates)

	ctx := context.Background()
	_, _ = f.Fetch(ctx, "EURUSD")
	down = true
	for _, step := range []time.Duration{30 * time.Minute, time.Hour} {
		now = now.Add(step)
		v, err := f.Fetch(ctx, "EURUSD")
		fmt.Printf("%s: %.2f %v\n", now.Format(time.TimeOnly), v, err)
	}
	// Output:
	// 12:30:00: 1.09 <nil>
	// 13:30:00: 0.00 pipeline: rates: rates: service unavailable
}
