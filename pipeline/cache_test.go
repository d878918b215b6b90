package pipeline_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// counted wraps f and counts its calls.
func counted[K, V any](n *atomic.Int64, f pipeline.Fetcher[K, V]) pipeline.Fetcher[K, V] {
	return pipeline.FetcherFunc[K, V](func(ctx context.Context, k K) (V, error) {
		n.Add(1)
		return f.Fetch(ctx, k)
	})
}

func TestCacheReadThrough(t *testing.T) {
	t.Parallel()
	src := newSource("a", "A")
	store := newMemStore[string, string]()
	rec := &recorder[string]{}
	f := pipeline.Cache("l", store, &pipeline.CacheOptions[string]{Observer: rec})(src)

	v, err := f.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, "A", v)
	require.Equal(t, []string{"miss l a", "fill l a"}, rec.list())

	v, err = f.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, "A", v)
	require.Equal(t, []string{"hit l a"}, rec.list())
	require.EqualValues(t, 1, src.calls.Load(), "a hit calls nothing below")

	_, err = f.Fetch(t.Context(), "c")
	require.ErrorIs(t, err, pipeline.ErrNotFound)
	require.Equal(t, "source: \"c\": pipeline: not found", err.Error(), "not found is returned unchanged")
	require.Equal(t, []string{"miss l c", "not found l c"}, rec.list())
	require.False(t, store.has("c"), "not found is not stored")
}

func TestCacheErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		setup    func(*source, *memStore[string, string])
		wantErr  error
		wantV    string
		stored   bool
		reported error
	}{
		{
			name:    "source error is wrapped and not cached",
			setup:   func(s *source, _ *memStore[string, string]) { s.fail(errBoom) },
			wantErr: errBoom,
		},
		{
			name:     "failing Set still returns the value",
			setup:    func(_ *source, m *memStore[string, string]) { m.setErr = errBoom },
			wantV:    "A",
			reported: errBoom,
		},
		{
			name:     "failing Get is a miss, and nothing is written back",
			setup:    func(_ *source, m *memStore[string, string]) { m.getErr = errBoom },
			wantV:    "A",
			stored:   false,
			reported: errBoom,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := newSource("a", "A")
			store := newMemStore[string, string]()
			tt.setup(src, store)
			rec := &recorder[string]{}
			f := pipeline.Cache("layer", store, &pipeline.CacheOptions[string]{Observer: rec})(src)
			v, err := f.Fetch(t.Context(), "a")
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.NotErrorIs(t, err, pipeline.ErrNotFound)
				require.Contains(t, err.Error(), "layer", "wrapped with the layer's name")
				require.False(t, store.has("a"))
				_, err = f.Fetch(t.Context(), "a")
				require.ErrorIs(t, err, tt.wantErr)
				require.EqualValues(t, 2, src.calls.Load(), "errors are not cached")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantV, v)
			require.Equal(t, tt.stored, store.has("a"))
			errs := rec.errs()
			require.NotEmpty(t, errs)
			require.ErrorIs(t, errs[0], tt.reported)
		})
	}
}

func TestCacheStampede(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", "V")
		src.gate = make(chan struct{})
		var innerNext, outerNext atomic.Int64
		inner := pipeline.Cache("inner", newMemStore[string, string](), nil)(counted(&innerNext, src))
		outerRec := &recorder[string]{}
		outer := pipeline.Cache("outer", newMemStore[string, string](),
			&pipeline.CacheOptions[string]{Observer: outerRec})(counted(&outerNext, inner))

		const n = 1000
		vals := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { vals[i], errs[i] = outer.Fetch(t.Context(), "k") })
		}
		synctest.Wait() // every caller is waiting on the one flight
		require.Equal(t, n-1, outerRec.count(pipeline.SharedWait))
		close(src.gate)
		wg.Wait()

		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, "V", vals[i])
		}
		require.EqualValues(t, 1, src.calls.Load(), "source calls")
		require.EqualValues(t, 1, innerNext.Load(), "inner layer's next calls")
		require.EqualValues(t, 1, outerNext.Load(), "outer layer's next calls")

		// A caller arriving after the flight ended hits the store.
		v, err := outer.Fetch(t.Context(), "k")
		require.NoError(t, err)
		require.Equal(t, "V", v)
		require.EqualValues(t, 1, src.calls.Load())
	})
}

func TestCacheRechecksStoreInsideFlight(t *testing.T) {
	t.Parallel()
	// Caller A misses the store; before it starts its flight, caller B
	// misses too, fetches, stores and ends its flight. A must find B's
	// value inside its own flight instead of fetching again.
	src := newSource("k", "v")
	store := newMemStore[string, string]()
	f := pipeline.Cache("l", store, nil)(src)
	var fired atomic.Bool
	store.afterGet = func() {
		if fired.CompareAndSwap(false, true) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = f.Fetch(context.Background(), "k") // B
			}()
			<-done
		}
	}
	v, err := f.Fetch(context.Background(), "k") // A
	require.NoError(t, err)
	require.Equal(t, "v", v)
	require.EqualValues(t, 1, src.calls.Load(), "the caller arriving just after a flight ended does not load again")
}

func TestCacheWaitersHonourTheirContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", "V")
		src.gate = make(chan struct{})
		f := pipeline.Cache("l", newMemStore[string, string](), nil)(src)

		const n = 100
		vals := make([]string, n)
		errs := make([]error, n)
		cancels := make([]context.CancelFunc, n)
		var wg sync.WaitGroup
		for i := range n {
			ctx, cancel := context.WithCancel(t.Context())
			cancels[i] = cancel
			wg.Go(func() { vals[i], errs[i] = f.Fetch(ctx, "k") })
		}
		synctest.Wait()
		// Cancel the even ones, including the one that started the flight.
		start := time.Now()
		for i := 0; i < n; i += 2 {
			cancels[i]()
		}
		synctest.Wait()
		require.Zero(t, time.Since(start), "cancelled callers return at once")
		for i := 0; i < n; i += 2 {
			require.ErrorIs(t, errs[i], context.Canceled)
		}
		close(src.gate)
		wg.Wait()
		for i := 1; i < n; i += 2 {
			require.NoError(t, errs[i])
			require.Equal(t, "V", vals[i])
		}
		require.EqualValues(t, 1, src.calls.Load())
		for _, c := range cancels {
			c()
		}
	})
}

func TestCacheLeaderCancelledValueKept(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", "V")
		src.gate = make(chan struct{})
		store := newMemStore[string, string]()
		f := pipeline.Cache("l", store, nil)(src)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			_, err := f.Fetch(ctx, "k")
			done <- err
		}()
		synctest.Wait()
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		close(src.gate)
		synctest.Wait() // the detached fetch finishes and stores
		require.True(t, store.has("k"), "the fetched value is not lost")
	})
}

func TestCacheFetchTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", "V")
		src.gate = make(chan struct{}) // never opens
		f := pipeline.Cache("l", newMemStore[string, string](),
			&pipeline.CacheOptions[string]{FetchTimeout: time.Second})(src)
		start := time.Now()
		_, err := f.Fetch(t.Context(), "k")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		took := time.Since(start)
		require.GreaterOrEqual(t, took, time.Second, "the shared fetch is bounded by FetchTimeout")
		require.LessOrEqual(t, took, time.Second+time.Second/16, "to within a sixteenth of it")
	})
}

func TestCacheNoCoalesce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", "V")
		src.gate = make(chan struct{})
		f := pipeline.Cache("l", newMemStore[string, string](),
			&pipeline.CacheOptions[string]{NoCoalesce: true})(src)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { _, _ = f.Fetch(t.Context(), "k") })
		}
		synctest.Wait()
		close(src.gate)
		wg.Wait()
		require.EqualValues(t, 3, src.calls.Load())
	})
}

func TestCacheBuildPanics(t *testing.T) {
	t.Parallel()
	store := newMemStore[string, string]()
	plain := testkit.NewMap[string, string]()
	tests := []struct {
		name  string
		build func()
	}{
		{"empty name", func() { pipeline.Cache[string, string]("", store, nil) }},
		{"nil store", func() { pipeline.Cache[string, string]("l", nil, nil) }},
		{"nil next", func() { pipeline.Cache[string, string]("l", store, nil)(nil) }},
		{"negative TTL", func() { pipeline.Cache("l", store, &pipeline.CacheOptions[string]{TTL: -1}) }},
		{"jitter 1", func() { pipeline.Cache("l", store, &pipeline.CacheOptions[string]{Jitter: 1}) }},
		{"TTL on plain store", func() {
			pipeline.Cache[string, string]("l", plain, &pipeline.CacheOptions[string]{TTL: time.Second})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.PanicsWithValue(t, panicValue(tt.build), tt.build)
			require.Contains(t, panicValue(tt.build), "pipeline")
		})
	}
}

func panicValue(f func()) (v string) {
	defer func() { v, _ = recover().(string) }()
	f()
	return ""
}

func TestCacheDoesNotMutateOptions(t *testing.T) {
	t.Parallel()
	opts := &pipeline.CacheOptions[string]{}
	pipeline.Cache("l", newMemStore[string, string](), opts)
	require.Equal(t, pipeline.CacheOptions[string]{}, *opts)
}

func TestTraceOrder(t *testing.T) {
	t.Parallel()
	src := newSource("a", "A")
	inner := pipeline.Cache("inner", newMemStore[string, string](), nil)(src)
	outer := pipeline.Cache("outer", newMemStore[string, string](), nil)(inner)
	_, err := inner.Fetch(t.Context(), "a")
	require.NoError(t, err)

	rec := &recorder[any]{}
	ctx, end := pipeline.WithTrace(t.Context(), rec)
	_, err = outer.Fetch(ctx, "a")
	end()
	end() // idempotent
	require.NoError(t, err)
	require.Equal(t, []string{"miss outer a", "hit inner a", "fill outer a"}, rec.list())

	_, err = outer.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.Empty(t, rec.list(), "an untraced fetch reports nothing to the trace")
}

func TestTracesNest(t *testing.T) {
	t.Parallel()
	src := newSource("a", "A")
	f := pipeline.Cache("l", newMemStore[string, string](), nil)(src)
	outer, inner := &recorder[any]{}, &recorder[any]{}
	ctx, endOuter := pipeline.WithTrace(t.Context(), outer)
	defer endOuter()
	ictx, endInner := pipeline.WithTrace(ctx, inner)
	_, err := f.Fetch(ictx, "a")
	endInner()
	require.NoError(t, err)
	require.Equal(t, []string{"miss l a", "fill l a"}, inner.list())
	require.Equal(t, []string{"miss l a", "fill l a"}, outer.list(), "an inner trace hides nothing from the outer one")
}
