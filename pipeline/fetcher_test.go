package pipeline_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
	"github.com/multilayer-cache/multilayer/pipeline"
)

func TestChainAndComposePanicOnNil(t *testing.T) {
	t.Parallel()
	id := pipeline.Middleware[string, string](func(f pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] { return f })
	tests := []struct {
		name string
		f    func()
	}{
		{"nil outer", func() { pipeline.Chain[string, string](nil) }},
		{"nil other", func() { pipeline.Chain(id, nil) }},
		{"nil compose outer", func() { pipeline.Compose[string, string, string, string, string, string](nil, id) }},
		{"nil compose inner", func() { pipeline.Compose[string, string, string, string, string, string](id, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Panics(t, tt.f)
		})
	}
}

func TestChainSingle(t *testing.T) {
	t.Parallel()
	src := newSource("a", "A")
	f := pipeline.Chain(pipeline.Cache("l", newMemStore[string, string](), nil))(src)
	v, err := f.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, "A", v)
}

func TestEntries(t *testing.T) {
	t.Parallel()
	src := newSource("a", "A")
	ef := pipeline.Entries[string, string](src)
	e, err := ef.FetchEntry(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, pipeline.Entry[string]{Value: "A"}, e)
	v, err := ef.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, "A", v)

	already := pipeline.EntryFetcherFunc[string, string](func(context.Context, string) (pipeline.Entry[string], error) {
		return pipeline.Entry[string]{Value: "x"}, nil
	})
	same := pipeline.Entries[string, string](already)
	v, err = same.Fetch(t.Context(), "k")
	require.NoError(t, err)
	require.Equal(t, "x", v)
}

func TestStoreFuncs(t *testing.T) {
	t.Parallel()
	m := map[string]string{}
	s := pipeline.StoreFuncs[string, string]{
		GetFunc: func(_ context.Context, k string) (string, bool, error) { v, ok := m[k]; return v, ok, nil },
		SetFunc: func(_ context.Context, k, v string) error { m[k] = v; return nil },
	}
	require.NoError(t, s.Set(t.Context(), "a", "A"))
	v, ok, err := s.Get(t.Context(), "a")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "A", v)
	require.NoError(t, s.Delete(t.Context(), "a"), "nil DeleteFunc is a no-op")
}

func TestEventKindString(t *testing.T) {
	t.Parallel()
	require.Equal(t, "hit", pipeline.Hit.String())
	require.Equal(t, "stale served", pipeline.StaleServed.String())
	require.Equal(t, "EventKind(200)", pipeline.EventKind(200).String())
}

func TestObservers(t *testing.T) {
	t.Parallel()
	require.Nil(t, pipeline.Observers[string](nil, nil))
	a := &recorder[string]{}
	require.Same(t, a, pipeline.Observers[string](nil, a))
	b := &recorder[string]{}
	both := pipeline.Observers[string](a, b)
	both.Observe(t.Context(), pipeline.Event[string]{Layer: "l", Kind: pipeline.Hit, Key: "k"})
	require.Equal(t, []string{"hit l k"}, a.list())
	require.Equal(t, []string{"hit l k"}, b.list())
}

// countingObserver counts through its counters and records what reaches
// Observe.
type countingObserver struct {
	recorder[string]
	counters [16]plumbing.Count
	counts   [16]int // filled by sum
}

func (c *countingObserver) Counter(k uint8) *plumbing.Count { return &c.counters[k] }

func (c *countingObserver) sum() {
	for i := range c.counters {
		c.counts[i] = int(c.counters[i].Load())
	}
}

func TestCounterGetsEventsWithNothingButAKind(t *testing.T) {
	t.Parallel()
	obs := &countingObserver{}
	f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{Observer: obs})(newSource("a", "A"))
	for range 3 {
		_, err := f.Fetch(context.Background(), "a")
		require.NoError(t, err)
	}
	_, err := f.Fetch(context.Background(), "x")
	require.ErrorIs(t, err, pipeline.ErrNotFound)
	obs.sum()
	require.Equal(t, 2, obs.counts[pipeline.Hit])
	require.Equal(t, 2, obs.counts[pipeline.Miss])
	require.Equal(t, []string{"fill l a", "not found l x"}, obs.list(), "events with an error or a duration still go to Observe")

	// Under a trace, the trace sees every event, the counter still counts.
	rec := &recorder[any]{}
	ctx, end := pipeline.WithTrace(context.Background(), rec)
	_, err = f.Fetch(ctx, "a")
	end()
	require.NoError(t, err)
	require.Equal(t, []string{"hit l a"}, rec.list())
	require.Empty(t, obs.list())
	obs.sum()
	require.Equal(t, 3, obs.counts[pipeline.Hit])
}
