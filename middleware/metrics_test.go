package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// metricsStore is a Store over a map whose Get and Set can be made to fail.
type metricsStore struct {
	mu     sync.RWMutex
	m      map[string]string
	getErr error
	setErr error
}

func newMetricsStore() *metricsStore { return &metricsStore{m: make(map[string]string)} }

func (s *metricsStore) Get(_ context.Context, k string) (string, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.getErr != nil {
		return "", false, s.getErr
	}
	v, ok := s.m[k]
	return v, ok, nil
}

func (s *metricsStore) Set(_ context.Context, k, v string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.setErr != nil {
		return s.setErr
	}
	s.m[k] = v
	return nil
}

func (s *metricsStore) Delete(_ context.Context, k string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
	return nil
}

func (s *metricsStore) fail(get, set error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.getErr, s.setErr = get, set
}

// metricsSource serves "k" → "K" for the keys it holds, fails with err
// when it is set, and otherwise reports not found.
type metricsSource struct {
	mu   sync.Mutex
	keys map[string]bool
	err  error
}

func (s *metricsSource) Fetch(_ context.Context, k string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err != nil:
		return "", s.err
	case s.keys[k]:
		return "v" + k, nil
	}
	return "", fmt.Errorf("source: %s: %w", k, pipeline.ErrNotFound)
}

func (s *metricsSource) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

var errMetricsBoom = errors.New("boom")

// TestMetricsScript runs a scripted sequence of fetches through a cache layer
// and checks the counts after every step.
func TestMetricsScript(t *testing.T) {
	t.Parallel()
	metrics := middleware.NewMetrics(nil)
	store := newMetricsStore()
	src := &metricsSource{keys: map[string]bool{"a": true, "b": true, "d": true}}
	files := pipeline.Cache("files", store, &pipeline.CacheOptions[string]{
		Observer: middleware.Observe[string](metrics, "files"),
	})(src)

	var want pipeline.Stats
	steps := []struct {
		name    string
		do      func(ctx context.Context) error
		wantErr error
		count   func(s *pipeline.Stats)
	}{
		{
			name:  "a miss fills",
			do:    func(ctx context.Context) error { _, err := files.Fetch(ctx, "a"); return err },
			count: func(s *pipeline.Stats) { s.Misses++; s.Fills++ },
		},
		{
			name:  "a hit",
			do:    func(ctx context.Context) error { _, err := files.Fetch(ctx, "a"); return err },
			count: func(s *pipeline.Stats) { s.Hits++ },
		},
		{
			name:  "another hit",
			do:    func(ctx context.Context) error { _, err := files.Fetch(ctx, "a"); return err },
			count: func(s *pipeline.Stats) { s.Hits++ },
		},
		{
			name:    "not found",
			do:      func(ctx context.Context) error { _, err := files.Fetch(ctx, "c"); return err },
			wantErr: pipeline.ErrNotFound,
			count:   func(s *pipeline.Stats) { s.Misses++; s.NotFound++ },
		},
		{
			name: "the source fails",
			do: func(ctx context.Context) error {
				src.fail(errMetricsBoom)
				defer src.fail(nil)
				_, err := files.Fetch(ctx, "b")
				return err
			},
			wantErr: errMetricsBoom,
			count:   func(s *pipeline.Stats) { s.Misses++; s.Errors++ },
		},
		{
			name: "the store's Set fails: an error, and the value is still served, but not kept (no fill)",
			do: func(ctx context.Context) error {
				store.fail(nil, errMetricsBoom)
				defer store.fail(nil, nil)
				_, err := files.Fetch(ctx, "d")
				return err
			},
			count: func(s *pipeline.Stats) { s.Misses++; s.Errors++ },
		},
		{
			name: "the store's Get fails: an error and a miss, and nothing written back",
			do: func(ctx context.Context) error {
				store.fail(errMetricsBoom, nil)
				defer store.fail(nil, nil)
				_, err := files.Fetch(ctx, "a")
				return err
			},
			count: func(s *pipeline.Stats) { s.Errors++; s.Misses++ },
		},
		{
			name: "an invalidation",
			do: func(ctx context.Context) error {
				err := pipeline.Invalidate(ctx, files, "a")
				return err
			},
			count: func(s *pipeline.Stats) { s.Invalidated++ },
		},
		{
			name:  "after the invalidation, a miss",
			do:    func(ctx context.Context) error { _, err := files.Fetch(ctx, "a"); return err },
			count: func(s *pipeline.Stats) { s.Misses++; s.Fills++ },
		},
	}
	// The steps depend on each other: they run in order, in this test.
	for _, step := range steps {
		err := step.do(t.Context())
		if step.wantErr != nil {
			require.ErrorIs(t, err, step.wantErr, step.name)
		} else {
			require.NoError(t, err, step.name)
		}
		step.count(&want)
		require.Equal(t, want, metrics.Layer("files").Stats(), step.name)
	}
	require.Equal(t, pipeline.Stats{
		Hits: 2, Misses: 6, Fills: 2, NotFound: 1, Errors: 3, Invalidated: 1,
	}, want)
	require.InDelta(t, 0.25, want.HitRatio(), 1e-9)

	// The layer describes itself with the same counts.
	desc := files.(pipeline.Describer).Describe()
	require.Equal(t, &want, desc.Stats)
}

// TestMetricsTwoLayers counts the seed's two layers, with different key
// types, in one Metrics.
func TestMetricsTwoLayers(t *testing.T) {
	t.Parallel()
	type parsedKey struct{ blob, version string }
	metrics := middleware.NewMetrics(nil)
	src := &metricsSource{keys: map[string]bool{"a": true}}
	files := pipeline.Cache("cached_files", newMetricsStore(), &pipeline.CacheOptions[string]{
		Observer: middleware.Observe[string](metrics, "cached_files"),
	})(src)
	mapped := pipeline.FetcherFunc[parsedKey, string](func(ctx context.Context, k parsedKey) (string, error) {
		return files.Fetch(ctx, k.blob)
	})
	parsedStore := testkit.NewMap[parsedKey, string]()
	parsed := pipeline.Cache("parsed_cached_files", parsedStore, &pipeline.CacheOptions[parsedKey]{
		Observer: middleware.Observe[parsedKey](metrics, "parsed_cached_files"),
	})(mapped)

	for _, k := range []parsedKey{{"a", "0"}, {"a", "0"}, {"a", "1"}, {"c", "0"}} {
		_, _ = parsed.Fetch(t.Context(), k)
	}
	require.Equal(t, pipeline.Stats{Hits: 1, Misses: 2, Fills: 1, NotFound: 1},
		metrics.Layer("cached_files").Stats())
	require.Equal(t, pipeline.Stats{Hits: 1, Misses: 3, Fills: 2, NotFound: 1},
		metrics.Layer("parsed_cached_files").Stats())

	var names []string
	for _, l := range metrics.Layers() {
		names = append(names, l.Name())
	}
	require.Equal(t, []string{"cached_files", "parsed_cached_files"}, names)
	require.Nil(t, metrics.Layer("nope"))
}

// TestMetricsKinds feeds every kind of event to an observer.
func TestMetricsKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kind pipeline.EventKind
		want pipeline.Stats
	}{
		{name: "hit", kind: pipeline.Hit, want: pipeline.Stats{Hits: 1}},
		{name: "miss", kind: pipeline.Miss, want: pipeline.Stats{Misses: 1}},
		{name: "fill", kind: pipeline.Fill, want: pipeline.Stats{Fills: 1}},
		{name: "not found", kind: pipeline.NotFound, want: pipeline.Stats{NotFound: 1}},
		{name: "negative hit", kind: pipeline.NegativeHit, want: pipeline.Stats{NegativeHits: 1}},
		{name: "error", kind: pipeline.Error, want: pipeline.Stats{Errors: 1}},
		{name: "shared wait", kind: pipeline.SharedWait, want: pipeline.Stats{SharedWaits: 1}},
		{name: "stale served", kind: pipeline.StaleServed, want: pipeline.Stats{StaleServed: 1}},
		{name: "invalidated", kind: pipeline.Invalidated, want: pipeline.Stats{Invalidated: 1}},
		{name: "evicted", kind: pipeline.Evicted, want: pipeline.Stats{Evicted: 1}},
		{name: "no kind is ignored", kind: 0, want: pipeline.Stats{}},
		{name: "an unknown kind is ignored", kind: 200, want: pipeline.Stats{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := middleware.NewMetrics(nil)
			obs := middleware.Observe[int](m, "l")
			obs.Observe(t.Context(), pipeline.Event[int]{Layer: "l", Kind: tt.kind, Key: 1})
			require.Equal(t, tt.want, m.Layer("l").Stats())
			require.Equal(t, tt.want, obs.(pipeline.StatsSource).Stats())
			require.Zero(t, m.Layer("l").Latency().Count)
		})
	}
}

func TestMetricsLatency(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name    string
		buckets []time.Duration
		elapsed []time.Duration
		want    middleware.Histogram
	}{
		{
			name:    "nothing yet",
			buckets: []time.Duration{ms, 10 * ms},
			want:    middleware.Histogram{Bounds: []time.Duration{ms, 10 * ms}, Counts: []uint64{0, 0}},
		},
		{
			name:    "bounds are inclusive, and the rest is counted",
			buckets: []time.Duration{ms, 10 * ms},
			elapsed: []time.Duration{ms / 2, ms, ms + 1, 10 * ms, time.Second, 0},
			want: middleware.Histogram{
				Bounds: []time.Duration{ms, 10 * ms},
				Counts: []uint64{2, 4},
				Count:  5,
				Sum:    ms/2 + ms + ms + 1 + 10*ms + time.Second,
			},
		},
		{
			name:    "default buckets",
			elapsed: []time.Duration{3 * ms},
			want: middleware.Histogram{
				Bounds: []time.Duration{
					100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
					ms, 2500 * time.Microsecond, 5 * ms, 10 * ms, 25 * ms, 50 * ms,
					100 * ms, 250 * ms, 500 * ms, time.Second, 2500 * ms, 5 * time.Second, 10 * time.Second,
				},
				Counts: []uint64{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
				Count:  1,
				Sum:    3 * ms,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := middleware.NewMetrics(&middleware.MetricsOptions{Buckets: tt.buckets})
			obs := middleware.Observe[string](m, "l")
			for _, d := range tt.elapsed {
				obs.Observe(t.Context(), pipeline.Event[string]{Kind: pipeline.Fill, Elapsed: d})
			}
			require.Equal(t, tt.want, m.Layer("l").Latency())
			require.EqualValues(t, len(tt.elapsed), m.Layer("l").Stats().Fills)
		})
	}
}

// TestMetricsThroughCache checks the counts and latencies a cache layer
// reports, shared waits included, in a bubble where time is exact.
func TestMetricsThroughCache(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		metrics := middleware.NewMetrics(nil)
		gate := make(chan struct{})
		src := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
			<-gate
			time.Sleep(3 * time.Millisecond) // the bubble's clock: exact
			if k == "missing" {
				return "", pipeline.ErrNotFound
			}
			return "v" + k, nil
		})
		f := pipeline.Cache("l", newMetricsStore(), &pipeline.CacheOptions[string]{
			Observer: middleware.Observe[string](metrics, "l"),
		})(src)

		const callers = 10
		errs := make([]error, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() { _, errs[i] = f.Fetch(t.Context(), "k") })
		}
		synctest.Wait() // all callers are in: one fetches, the others wait
		close(gate)
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		_, err := f.Fetch(t.Context(), "missing")
		require.ErrorIs(t, err, pipeline.ErrNotFound)
		_, err = f.Fetch(t.Context(), "k")
		require.NoError(t, err)

		l := metrics.Layer("l")
		require.Equal(t, pipeline.Stats{
			Hits: 1, Misses: callers + 1, Fills: 1, NotFound: 1, SharedWaits: callers - 1,
		}, l.Stats())
		h := l.Latency()
		require.EqualValues(t, 2, h.Count)
		require.Equal(t, 6*time.Millisecond, h.Sum)
		require.Equal(t, 5*time.Millisecond, h.Bounds[5])
		require.EqualValues(t, 0, h.Counts[4])
		require.EqualValues(t, 2, h.Counts[5])
	})
}

// TestMetricsConcurrent counts from many goroutines at once.
func TestMetricsConcurrent(t *testing.T) {
	t.Parallel()
	m := middleware.NewMetrics(nil)
	const goroutines, each = 8, 1000
	var wg sync.WaitGroup
	for g := range goroutines {
		obs := middleware.Observe[int](m, "l") // one observer per goroutine, shared counts
		wg.Go(func() {
			for i := range each {
				kind := pipeline.Hit
				if i%4 == 0 {
					kind = pipeline.Miss
				}
				obs.Observe(context.Background(), pipeline.Event[int]{Kind: kind, Key: g, Elapsed: time.Duration(i % 2)})
			}
		})
	}
	for range 100 {
		_ = m.Layer("l").Stats()
		_ = m.Layer("l").Latency()
		_ = m.Layers()
	}
	wg.Wait()
	require.Equal(t, pipeline.Stats{Hits: goroutines * each * 3 / 4, Misses: goroutines * each / 4}, m.Layer("l").Stats())
	require.EqualValues(t, goroutines*each/2, m.Layer("l").Latency().Count)
	require.Len(t, m.Layers(), 1)
}

func TestMetricsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    func()
		want string
	}{
		{
			name: "nil metrics",
			f:    func() { middleware.Observe[string](nil, "l") },
			want: "middleware: Observe: nil Metrics",
		},
		{
			name: "empty layer name",
			f:    func() { middleware.Observe[string](middleware.NewMetrics(nil), "") },
			want: "middleware: Observe: empty layer name",
		},
		{
			name: "buckets out of order",
			f: func() {
				middleware.NewMetrics(&middleware.MetricsOptions{Buckets: []time.Duration{2, 1}})
			},
			want: "middleware: NewMetrics: bucket bounds must be positive and increasing, got [2ns 1ns]",
		},
		{
			name: "a bucket of zero",
			f: func() {
				middleware.NewMetrics(&middleware.MetricsOptions{Buckets: []time.Duration{0, 1}})
			},
			want: "middleware: NewMetrics: bucket bounds must be positive and increasing, got [0s 1ns]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.PanicsWithValue(t, tt.want, tt.f)
		})
	}

	t.Run("the caller's buckets are copied", func(t *testing.T) {
		t.Parallel()
		buckets := []time.Duration{1, 2}
		m := middleware.NewMetrics(&middleware.MetricsOptions{Buckets: buckets})
		buckets[0] = 5
		middleware.Observe[string](m, "l")
		require.Equal(t, []time.Duration{1, 2}, m.Layer("l").Latency().Bounds)
	})
}

// TestMetricsExactUnderConcurrentFetches: counts through a real cache stay
// exact while many goroutines hit and miss at once, some under a trace.
func TestMetricsExactUnderConcurrentFetches(t *testing.T) {
	t.Parallel()
	m := middleware.NewMetrics(nil)
	mem := testkit.NewMap[string, string]()
	c := pipeline.Cache("mc", mem, &pipeline.CacheOptions[string]{
		Observer: middleware.Observe[string](m, "mc"), NoCoalesce: true,
	})(source)
	inspected := middleware.Inspect[string](func(context.Context, string, []pipeline.Event[any], error) {})(c)
	ctx := t.Context()
	_, err := c.Fetch(ctx, "hot")
	require.NoError(t, err)
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		f := c
		if g%2 == 1 {
			f = inspected
		}
		wg.Go(func() {
			for range each {
				if _, err := f.Fetch(ctx, "hot"); err != nil {
					panic(err)
				}
				if _, err := f.Fetch(ctx, "missing"); !errors.Is(err, pipeline.ErrNotFound) {
					panic(err)
				}
			}
		})
	}
	wg.Wait()
	st := m.Layer("mc").Stats()
	require.EqualValues(t, goroutines*each, st.Hits)
	require.EqualValues(t, goroutines*each+1, st.Misses)
	require.EqualValues(t, 1, st.Fills)
	require.EqualValues(t, goroutines*each, st.NotFound)
	require.EqualValues(t, goroutines*each+1, m.Layer("mc").Latency().Count, "every fill and not found has a latency")
}
