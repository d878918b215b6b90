package middleware_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

var errRvBelow = errors.New("rv: below failed")

// rvBatch is a BatchFetcher that records each batch it receives and answers
// "missing" with errMissing (the same instance every time), "down" with
// errRvBelow, and other keys with themselves, lifetime rvExpires.
type rvBatch struct {
	mu      sync.Mutex
	batches [][]string
}

var rvExpires = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

func (b *rvBatch) answer(k string) pipeline.Result[string] {
	switch k {
	case "missing":
		return pipeline.Result[string]{Err: errMissing}
	case "down":
		return pipeline.Result[string]{Err: errRvBelow}
	}
	return pipeline.Result[string]{Entry: pipeline.Entry[string]{Value: k, Expires: rvExpires}}
}

func (b *rvBatch) Fetch(_ context.Context, k string) (string, error) {
	r := b.answer(k)
	return r.Value, r.Err
}

func (b *rvBatch) FetchEntry(_ context.Context, k string) (pipeline.Entry[string], error) {
	r := b.answer(k)
	return r.Entry, r.Err
}

func (b *rvBatch) FetchBatch(_ context.Context, keys []string, out []pipeline.Result[string]) {
	b.mu.Lock()
	b.batches = append(b.batches, append([]string(nil), keys...))
	b.mu.Unlock()
	for i, k := range keys {
		out[i] = b.answer(k)
	}
}

func (b *rvBatch) seen() [][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.batches
}

// TestReviewBatchesStayWhole checks that MapKey, Parse, Transform and
// Timeout pass a batch down in one call, with results aligned with the keys,
// per-key errors (not found unchanged) and lifetimes kept.
func TestReviewBatchesStayWhole(t *testing.T) {
	t.Parallel()
	upper := strings.ToUpper
	lower := strings.ToLower
	tests := []struct {
		name  string
		layer pipeline.Middleware[string, string]
		// inner is what reaches the source for an outer key; outer what
		// comes back for an inner value.
		inner, outer func(string) string
	}{
		{name: "MapKey", layer: middleware.MapKey[string](lower), inner: lower, outer: func(s string) string { return s }},
		{name: "Parse", layer: middleware.Parse[string](func(s string) (string, error) { return upper(s), nil }), inner: func(s string) string { return s }, outer: upper},
		{name: "Transform", layer: middleware.Transform[string](upper), inner: func(s string) string { return s }, outer: upper},
		{name: "Timeout", layer: middleware.Timeout[string, string](time.Hour), inner: func(s string) string { return s }, outer: func(s string) string { return s }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := &rvBatch{}
			f := tt.layer(src)
			_, ok := f.(pipeline.BatchFetcher[string, string])
			require.True(t, ok, "a BatchFetcher over a BatchFetcher")
			keys := []string{"a", "missing", "b", "down", "a"}
			res := pipeline.FetchMany(t.Context(), f, keys)
			require.Len(t, res, len(keys))
			require.Equal(t, [][]string{{tt.inner("a"), "missing", tt.inner("b"), "down", tt.inner("a")}}, src.seen())
			for i, k := range keys {
				switch k {
				case "missing":
					require.Same(t, errMissing, res[i].Err, "not found unchanged")
				case "down":
					require.ErrorIs(t, res[i].Err, errRvBelow)
				default:
					require.NoError(t, res[i].Err)
					require.Equal(t, tt.outer(tt.inner(k)), res[i].Value)
					require.True(t, rvExpires.Equal(res[i].Expires), "lifetime kept")
				}
			}
		})
	}
}

// TestReviewMapKeyBatchCollapsing: outer keys that map to one inner key are
// fetched once below, and every outer key gets the result.
func TestReviewMapKeyBatchCollapsing(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	var asked [][]string
	var mu sync.Mutex
	bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
		calls.Add(1)
		mu.Lock()
		asked = append(asked, append([]string(nil), keys...))
		mu.Unlock()
		m := map[string]string{}
		for _, k := range keys {
			if k != "missing" {
				m[k] = "v-" + k
			}
		}
		return m, nil
	})
	f := middleware.MapKey[string](strings.ToLower)(bulk)
	res := pipeline.FetchMany(t.Context(), f, []string{"A", "a", "MISSING", "b", "missing"})
	require.EqualValues(t, 1, calls.Load())
	require.Equal(t, [][]string{{"a", "missing", "b"}}, asked)
	require.Equal(t, "v-a", res[0].Value)
	require.Equal(t, "v-a", res[1].Value)
	require.ErrorIs(t, res[2].Err, pipeline.ErrNotFound)
	require.Equal(t, "v-b", res[3].Value)
	require.ErrorIs(t, res[4].Err, pipeline.ErrNotFound)
}

// TestReviewTimeoutBatchCallerSooner: a caller's sooner deadline governs a
// batch, and its error is not named after the layer.
func TestReviewTimeoutBatchCallerSooner(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bulk := pipeline.BulkFunc[string, string](func(ctx context.Context, keys []string) (map[string]string, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		f := middleware.Timeout[string, string](time.Hour)(bulk)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		res := pipeline.FetchMany(ctx, f, []string{"a", "b"})
		require.Equal(t, time.Second, time.Since(start))
		for _, r := range res {
			require.Equal(t, context.DeadlineExceeded, r.Err, "the caller's own error, unchanged")
		}
	})
}

// TestReviewTimeoutOwnDeadlineNested: of two Timeouts, the sooner one names
// itself, whichever is outer.
func TestReviewTimeoutOwnDeadlineNested(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		outer, inner time.Duration
	}{
		{name: "outer sooner", outer: time.Second, inner: time.Minute},
		{name: "inner sooner", outer: time.Minute, inner: time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := pipeline.Chain(middleware.Timeout[string, string](tc.outer), middleware.Timeout[string, string](tc.inner))(slow(time.Hour))
				_, err := f.Fetch(t.Context(), "a")
				require.ErrorIs(t, err, context.DeadlineExceeded)
				require.EqualError(t, err, "middleware: timeout after 1s: context deadline exceeded")
			})
		})
	}
}

// rvLogger returns a debug-level text logger without times or durations, and its output.
func rvLogger() (*slog.Logger, *rvLog) {
	l := &rvLog{}
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{}
			}
			return a
		},
	})), l
}

type rvLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *rvLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *rvLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

var _ io.Writer = (*rvLog)(nil)

// TestReviewLogShared: a fetch that joined another one's flight is logged
// as "shared", served by the layer whose flight it joined.
func TestReviewLogShared(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		logger, buf := rvLogger()
		release := make(chan struct{})
		src := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
			<-release
			return k, nil
		})
		f := middleware.Log[string, string](logger, "top", nil)(
			pipeline.Cache("c", newMemory[string, string]().store(), nil)(src))
		var wg sync.WaitGroup
		wg.Go(func() {
			_, err := f.Fetch(t.Context(), "a")
			require.NoError(t, err)
		})
		synctest.Wait()
		wg.Go(func() {
			_, err := f.Fetch(t.Context(), "a")
			require.NoError(t, err)
		})
		synctest.Wait()
		close(release)
		wg.Wait()
		require.ElementsMatch(t, []string{
			"level=DEBUG msg=fetch layer=top key=a outcome=fill served_by=source",
			"level=DEBUG msg=fetch layer=top key=a outcome=shared served_by=c",
		}, buf.lines())
	})
}

// TestReviewLogStale: a value served stale-if-error is logged as "stale",
// served by the layer that kept it.
func TestReviewLogStale(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		logger, buf := rvLogger()
		var fail atomic.Bool
		src := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
			if fail.Load() {
				return "", errRvBelow
			}
			return k, nil
		})
		c := pipeline.Cache("c", newExpiring[string, string](),
			&pipeline.CacheOptions[string]{TTL: time.Minute, StaleIfError: time.Hour})(src)
		f := middleware.Log[string, string](logger, "top", nil)(c)
		_, err := f.Fetch(t.Context(), "a")
		require.NoError(t, err)
		time.Sleep(2 * time.Minute)
		fail.Store(true)
		v, err := f.Fetch(t.Context(), "a")
		require.NoError(t, err)
		require.Equal(t, "a", v)
		require.Equal(t, []string{
			"level=DEBUG msg=fetch layer=top key=a outcome=fill served_by=source",
			"level=DEBUG msg=fetch layer=top key=a outcome=stale served_by=c",
		}, buf.lines())
	})
}

// TestReviewCoalesceContract: Coalesce passes not found unchanged, keeps
// lifetimes, passes invalidations and clears inward and keeps batches
// whole.
func TestReviewCoalesceContract(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := &probe{expires: rvExpires}
	f := middleware.Coalesce[string, string]("co", nil)(p)
	defer f.(pipeline.Closer).Close()

	_, err := f.Fetch(ctx, "missing")
	require.Same(t, errMissing, err)
	e, err := f.(pipeline.EntryFetcher[string, string]).FetchEntry(ctx, "a")
	require.NoError(t, err)
	require.True(t, rvExpires.Equal(e.Expires))
	require.Equal(t, "a", e.Value)

	err = pipeline.Invalidate(ctx, f, "a")
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, p.invalidated)
	require.NoError(t, f.(pipeline.Clearer).Clear(ctx))
	require.Equal(t, 1, p.cleared)

	src := &rvBatch{}
	g := middleware.Coalesce[string, string]("co", nil)(src)
	defer g.(pipeline.Closer).Close()
	res := pipeline.FetchMany(ctx, g, []string{"a", "missing", "b"})
	require.Equal(t, [][]string{{"a", "missing", "b"}}, src.seen())
	require.Equal(t, "a", res[0].Value)
	require.Same(t, errMissing, res[1].Err)
	require.Equal(t, "b", res[2].Value)
}

// TestReviewMetricsConcurrentThroughCache: counts through a real cache stay
// exact while many goroutines hit and miss at once, some under a trace.
func TestReviewMetricsConcurrentThroughCache(t *testing.T) {
	t.Parallel()
	m := middleware.NewMetrics(nil)
	mem := newMemory[string, string]()
	c := pipeline.Cache("mc", mem.store(), &pipeline.CacheOptions[string]{
		Observer: middleware.Observe[string](m, "mc"), NoCoalesce: true,
	})(source)
	inspected := middleware.Inspect[string, string](func(context.Context, string, []pipeline.Event[any], error) {})(c)
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

// TestReviewBatchDependentsThroughMapKey: a batch filled through MapKey
// records, in the inner cache, which outer keys derive from each inner key,
// so that invalidating an inner key drops exactly the outer values built on
// it.
func TestReviewBatchDependentsThroughMapKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
		m := map[string]string{}
		for _, k := range keys {
			m[k] = "v-" + k
		}
		return m, nil
	})
	innerMem, outerMem := newMemory[string, string](), newMemory[string, string]()
	inner := pipeline.Cache("inner", innerMem.store(), nil)(bulk)
	outer := pipeline.Cache("outer", outerMem.store(), nil)(middleware.MapKey[string](strings.ToLower)(inner))
	res := pipeline.FetchMany(ctx, outer, []string{"X", "Y", "x"})
	for _, r := range res {
		require.NoError(t, r.Err)
	}
	require.True(t, outerMem.has("X") && outerMem.has("Y") && outerMem.has("x"))
	err := pipeline.Invalidate(ctx, inner, "x")
	require.NoError(t, err)
	require.False(t, innerMem.has("x"))
	require.False(t, outerMem.has("X"), "derived from inner x")
	require.False(t, outerMem.has("x"), "derived from inner x")
	require.True(t, outerMem.has("Y"), "not derived from inner x")
}
