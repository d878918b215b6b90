package middleware_test

import (
	"context"
	"sync"
	"testing"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// meteredMap is a map store that says how full it is.
type meteredMap struct{ *testkit.Map[string, string] }

func (meteredMap) Usage() pipeline.Usage { return pipeline.Usage{Entries: 1, Capacity: 10} }

// A cache layer given a Metrics as CacheOptions.Metrics counts under the
// name it was built with: the name is written once, so no typo can split
// its counts. Its fills' latencies, its store's fill level and its counts
// in the tree reach the Metrics as through Observe.
func TestCacheLayerCountsUnderItsOwnName(t *testing.T) {
	t.Parallel()
	m := middleware.NewMetrics(nil)
	opts := &pipeline.CacheOptions[string]{Metrics: m} // one options value for both layers
	inner := pipeline.Cache("inner", meteredMap{testkit.NewMap[string, string]()}, opts)(source)
	outer := pipeline.Cache("outer", testkit.NewMap[string, string](), opts)(inner)

	for _, k := range []string{"a", "a", "b", "missing"} {
		_, _ = outer.Fetch(t.Context(), k)
	}
	_, err := inner.Fetch(t.Context(), "a")
	require.NoError(t, err)

	var names []string
	for _, l := range m.Layers() {
		names = append(names, l.Name())
	}
	require.Equal(t, []string{"inner", "outer"}, names, "in the order the layers were built")
	require.Equal(t, pipeline.Stats{Hits: 1, Misses: 3, Fills: 2, NotFound: 1}, m.Layer("outer").Stats())
	require.Equal(t, pipeline.Stats{Hits: 1, Misses: 3, Fills: 2, NotFound: 1}, m.Layer("inner").Stats())
	require.EqualValues(t, 3, m.Layer("outer").Latency().Count, "two fills and a not found, timed")

	u, ok := m.Layer("inner").Usage()
	require.True(t, ok, "the store's Meter reaches the Metrics")
	require.Equal(t, pipeline.Usage{Entries: 1, Capacity: 10}, u)
	_, ok = m.Layer("outer").Usage()
	require.False(t, ok, "the outer store is no Meter")

	for _, n := range pipeline.TreeOf(outer).Nodes() {
		if n.Name == "" {
			continue // the source
		}
		require.NotNil(t, n.Stats, "layer %s shows its counts in the tree", n.Name)
		require.Equal(t, m.Layer(n.Name).Stats(), *n.Stats)
	}
}

// A layer with both an Observer and Metrics reports every event to both:
// the observer with its key, the Metrics without.
func TestCacheLayerReportsToBothObserverAndMetrics(t *testing.T) {
	t.Parallel()
	m := middleware.NewMetrics(nil)
	var mu sync.Mutex
	var seen []string
	obs := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, e.Kind.String()+" "+e.Key)
	})
	f := pipeline.Cache("l", testkit.NewMap[string, string](), &pipeline.CacheOptions[string]{
		Observer: obs, Metrics: m,
	})(source)
	for range 2 {
		_, err := f.Fetch(t.Context(), "a")
		require.NoError(t, err)
	}
	require.Equal(t, []string{"miss a", "fill a", "hit a"}, seen)
	require.Equal(t, pipeline.Stats{Hits: 1, Misses: 1, Fills: 1}, m.Layer("l").Stats())
}

// A Recorder's observer sees events without their keys, and a Recorder
// that makes no observer leaves the layer unobserved.
func TestRecorderObserverSeesEventsWithoutKeys(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []pipeline.Event[any]
	rec := recorderFunc(func(name string) pipeline.Observer[any] {
		if name == "silent" {
			return nil
		}
		return pipeline.ObserverFunc[any](func(_ context.Context, e pipeline.Event[any]) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, e)
		})
	})
	for _, name := range []string{"silent", "l"} {
		f := pipeline.Cache(name, testkit.NewMap[string, string](), &pipeline.CacheOptions[string]{Metrics: rec})(source)
		_, err := f.Fetch(t.Context(), "a")
		require.NoError(t, err)
	}
	require.Len(t, seen, 2)
	for i, kind := range []pipeline.EventKind{pipeline.Miss, pipeline.Fill} {
		require.Equal(t, "l", seen[i].Layer)
		require.Equal(t, kind, seen[i].Kind)
		require.Nil(t, seen[i].Key)
	}
}

// recorderFunc adapts a function to a pipeline.Recorder.
type recorderFunc func(name string) pipeline.Observer[any]

func (f recorderFunc) LayerObserver(name string) pipeline.Observer[any] { return f(name) }

// Coalesce counts under its own name too.
func TestCoalesceCountsUnderItsOwnName(t *testing.T) {
	t.Parallel()
	m := middleware.NewMetrics(nil)
	f := middleware.Coalesce[string, string]("once", &middleware.CoalesceOptions[string]{Metrics: m})(source)
	_, err := f.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.EqualValues(t, 1, m.Layer("once").Stats().Misses)
}
