//go:build !race

// Allocation counts are not meaningful under the race detector, so these
// tests are left out of -race builds (rather than skipped, which CI
// forbids); `go test ./middleware/` runs them.

package middleware_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// TestLightLayersHitAllocatesNothing: a hit through the light layers (and a cache
// counted by Metrics) allocates nothing.
func TestLightLayersHitAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	m := middleware.NewMetrics(nil)
	cached := pipeline.Cache("c", testkit.NewMap[string, string](),
		&pipeline.CacheOptions[string]{Observer: middleware.Observe[string](m, "c")})(source)
	stacks := map[string]pipeline.Fetcher[string, string]{
		"cache+metrics": cached,
		"MapKey":        middleware.MapKey[string](func(s string) string { return s })(cached),
		"Parse":         middleware.Parse[string](func(s string) (string, error) { return s, nil })(cached),
		"Transform":     middleware.Transform[string](func(s string) string { return s })(cached),
		"Log disabled":  middleware.Log[string, string](slog.New(slog.DiscardHandler), "l", nil)(cached),
		// The common production setting: found values (Debug) not logged,
		// not-found and errors (Info and above) logged.
		"Log at info": middleware.Log[string, string](slog.New(slog.NewTextHandler(io.Discard, nil)), "l", nil)(cached),
	}
	recorded := pipeline.Cache("r", testkit.NewMap[string, string](),
		&pipeline.CacheOptions[string]{Metrics: m})(source)
	stacks["cache+Metrics option"] = recorded
	for _, f := range []pipeline.Fetcher[string, string]{cached, recorded} {
		_, err := f.Fetch(ctx, "a")
		require.NoError(t, err)
	}
	for name, f := range stacks {
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := f.Fetch(ctx, "a"); err != nil {
				panic(err)
			}
		})
		require.Zero(t, allocs, name)
		ef := f.(pipeline.EntryFetcher[string, string])
		allocs = testing.AllocsPerRun(200, func() {
			if _, err := ef.FetchEntry(ctx, "a"); err != nil {
				panic(err)
			}
		})
		require.Zero(t, allocs, name+" FetchEntry")
	}
	require.NotZero(t, m.Layer("c").Stats().Hits)
	require.NotZero(t, m.Layer("r").Stats().Hits)
}

// TestBatchHitAllocatesOnlyItsResults: FetchMany promises that its result slice is the
// only allocation of a batch whose keys all hit; MapKey and Parse borrow
// their scratch slices instead of allocating them.
func TestBatchHitAllocatesOnlyItsResults(t *testing.T) {
	ctx := context.Background()
	cached := pipeline.Cache("c", testkit.NewMap[string, string](), nil)(source)
	keys := []string{"a", "b", "c"}
	for _, r := range pipeline.FetchMany(ctx, cached, keys) {
		require.NoError(t, r.Err)
	}
	base := testing.AllocsPerRun(100, func() { pipeline.FetchMany(ctx, cached, keys) })
	require.EqualValues(t, 1, base, "the cache alone: only the result slice")
	for name, f := range map[string]pipeline.Fetcher[string, string]{
		"MapKey": middleware.MapKey[string](func(s string) string { return s })(cached),
		"Parse":  middleware.Parse[string](func(s string) (string, error) { return s, nil })(cached),
	} {
		allocs := testing.AllocsPerRun(100, func() { pipeline.FetchMany(ctx, f, keys) })
		require.EqualValues(t, 1, allocs, name)
	}
}
