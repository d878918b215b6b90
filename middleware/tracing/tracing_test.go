package tracing_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/multilayer-cache/multilayer/middleware/tracing"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// TestSpansSayOutcomeAndServingLayer: each fetch makes one span with the
// layer, the outcome and the layer that served it; failures are recorded
// as errors, not found is not.
func TestSpansSayOutcomeAndServingLayer(t *testing.T) {
	t.Parallel()
	tp, rec := recorder(t)
	stack, outerMem := twoLayers(source)
	f := tracing.Spans[string, string]("docs", &tracing.Options{TracerProvider: tp})(stack)

	found := func(outcome, servedBy string) spanView {
		return spanView{name: "fetch docs", status: "Unset", attrs: map[attribute.Key]string{
			tracing.LayerKey: "docs", tracing.OutcomeKey: outcome, tracing.ServedByKey: servedBy,
		}}
	}
	steps := []struct {
		name    string
		key     string
		prepare func()
		want    spanView
	}{
		{name: "fill from the source", key: "a", want: found("fill", "source")},
		{name: "outer hit", key: "a", want: found("hit", "outer")},
		{
			name:    "inner hit",
			key:     "a",
			prepare: func() { _ = outerMem.Delete(t.Context(), "a") },
			want:    found("hit", "inner"),
		},
		{name: "not found at the source", key: "missing", want: found("not found", "source")},
		{name: "negative hit", key: "missing", want: found("not found", "outer")},
		{
			name: "error",
			key:  "down",
			want: spanView{
				name:   "fetch docs",
				status: "Error: pipeline: outer: pipeline: inner: down",
				attrs:  map[attribute.Key]string{tracing.LayerKey: "docs", tracing.OutcomeKey: "error"},
				errors: []string{"pipeline: outer: pipeline: inner: down"},
			},
		},
	}
	for _, st := range steps {
		// Steps build on each other: not parallel.
		t.Run(st.name, func(t *testing.T) {
			if st.prepare != nil {
				st.prepare()
			}
			_, _ = f.Fetch(t.Context(), st.key)
			require.Equal(t, []spanView{st.want}, views(rec))
		})
	}
}

// TestSpansNestBetweenCallerAndSource: a fetch's span is a child of the
// caller's span, and the source's spans are children of the fetch's.
func TestSpansNestBetweenCallerAndSource(t *testing.T) {
	t.Parallel()
	tp, rec := recorder(t)
	tracer := tp.Tracer("test")
	db := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
		_, span := tracer.Start(ctx, "db query")
		defer span.End()
		return k, nil
	})
	f := tracing.Spans[string, string]("docs", &tracing.Options{TracerProvider: tp})(
		pipeline.Cache("docs", testkit.NewMap[string, string](), nil)(db))

	ctx, request := tracer.Start(t.Context(), "request")
	_, err := f.Fetch(ctx, "a")
	require.NoError(t, err)
	request.End()

	ended := rec.Ended()
	require.Len(t, ended, 3)
	query, fetch, req := ended[0], ended[1], ended[2]
	require.Equal(t, []string{"db query", "fetch docs", "request"}, []string{query.Name(), fetch.Name(), req.Name()})
	require.Equal(t, req.SpanContext().SpanID(), fetch.Parent().SpanID())
	require.Equal(t, fetch.SpanContext().SpanID(), query.Parent().SpanID())
	require.Equal(t, req.SpanContext().TraceID(), query.SpanContext().TraceID())
}

// TestSpansShowASharedFetch: a fetch that joined another caller's fetch of
// the key is "shared", served by the layer whose flight it joined.
func TestSpansShowASharedFetch(t *testing.T) {
	t.Parallel()
	tp, rec := recorder(t)
	release := make(chan struct{})
	slow := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
		select {
		case <-release:
			return k, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	joined := make(chan struct{}, 1)
	c := pipeline.Cache("docs", testkit.NewMap[string, string](), &pipeline.CacheOptions[string]{
		Observer: pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
			if e.Kind == pipeline.SharedWait {
				joined <- struct{}{}
			}
		}),
	})(slow)
	f := tracing.Spans[string, string]("top", &tracing.Options{TracerProvider: tp})(c)

	first := make(chan error, 1)
	go func() {
		_, err := f.Fetch(context.Background(), "a")
		first <- err
	}()
	second := make(chan error, 1)
	go func() {
		// Joins the first fetch if that one started; starts it otherwise.
		_, err := f.Fetch(context.Background(), "a")
		second <- err
	}()
	<-joined
	close(release)
	require.NoError(t, <-first)
	require.NoError(t, <-second)

	var outcomes []string
	for _, v := range views(rec) {
		outcomes = append(outcomes, v.attrs[tracing.OutcomeKey]+"@"+v.attrs[tracing.ServedByKey])
	}
	require.ElementsMatch(t, []string{"fill@source", "shared@docs"}, outcomes)
}

// TestSpansFollowTheGlobalProvider: with no provider in the options, spans
// go to the global provider of the moment, set after the pipeline was
// built, and set again. Not parallel: it sets the global provider.
func TestSpansFollowTheGlobalProvider(t *testing.T) {
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	f := tracing.Spans[string, string]("docs", nil)(source)
	_, err := f.Fetch(t.Context(), "a") // no provider set yet: nothing recorded
	require.NoError(t, err)

	first, firstRec := recorder(t)
	otel.SetTracerProvider(first)
	_, err = f.Fetch(t.Context(), "b")
	require.NoError(t, err)
	got := views(firstRec)
	require.Len(t, got, 1)
	require.Equal(t, "fetch docs", got[0].name)

	second, secondRec := recorder(t)
	otel.SetTracerProvider(second)
	_, err = f.Fetch(t.Context(), "c")
	require.NoError(t, err)
	require.Empty(t, views(firstRec))
	require.Len(t, views(secondRec), 1)

	// A provider of a type that == cannot compare is asked for its
	// tracer at each fetch, and works.
	third, thirdRec := recorder(t)
	otel.SetTracerProvider(uncomparable{TracerProvider: third, names: []string{"x"}})
	for range 2 {
		_, err = f.Fetch(t.Context(), "d")
		require.NoError(t, err)
	}
	require.Empty(t, views(secondRec))
	require.Len(t, views(thirdRec), 2)
}

// uncomparable is a TracerProvider whose type == cannot compare: it holds
// a slice.
type uncomparable struct {
	trace.TracerProvider
	names []string
}

// TestSpansRecordNothingWhenNotSampled: a span that a sampler dropped is
// not exported, and the fetch passes through it unchanged.
func TestSpansRecordNothingWhenNotSampled(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	f := tracing.Spans[string, string]("docs", &tracing.Options{TracerProvider: tp})(source)

	v, err := f.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, "A", v)
	_, err = f.Fetch(t.Context(), "down")
	require.ErrorIs(t, err, errDown)
	require.Empty(t, rec.Started())
	require.Empty(t, views(rec))
}

// TestSpansTraceABatchAsOne: a batch through a BatchFetcher gets one span
// with its size and the numbers of keys not found and failed.
func TestSpansTraceABatchAsOne(t *testing.T) {
	t.Parallel()
	tp, rec := recorder(t)
	f := tracing.Spans[string, string]("docs", &tracing.Options{TracerProvider: tp})(
		pipeline.Cache("docs", testkit.NewMap[string, string](), nil)(source))
	_, ok := f.(pipeline.BatchFetcher[string, string])
	require.True(t, ok, "over a BatchFetcher, Spans is one")

	results := pipeline.FetchMany(t.Context(), f, []string{"a", "b", "missing", "down"})
	require.Equal(t, "A", results[0].Value)
	require.ErrorIs(t, results[2].Err, pipeline.ErrNotFound)
	require.ErrorIs(t, results[3].Err, errDown)
	require.Equal(t, []spanView{{
		name:   "fetch batch docs",
		status: "Error: pipeline: docs: down",
		attrs: map[attribute.Key]string{
			tracing.LayerKey: "docs", tracing.BatchSizeKey: "4", tracing.BatchNotFoundKey: "1", tracing.BatchErrorsKey: "1",
		},
		errors: []string{"pipeline: docs: down"},
	}}, views(rec))
}

// TestSpansPassThroughWhatNextHas: entries keep their lifetimes, and
// invalidations, clears, closes and batches reach next.
func TestSpansPassThroughWhatNextHas(t *testing.T) {
	t.Parallel()
	tp, _ := recorder(t)
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p := &probe{expires: expires}
	f := tracing.Spans[string, string]("p", &tracing.Options{TracerProvider: tp})(p)
	ctx := t.Context()

	e, err := f.(pipeline.EntryFetcher[string, string]).FetchEntry(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, pipeline.Entry[string]{Value: "a", Expires: expires}, e)
	require.Equal(t, []string{"fetch entry a"}, p.took())

	v, err := f.Fetch(ctx, "b")
	require.NoError(t, err)
	require.Equal(t, "b", v)
	require.Equal(t, []string{"fetch entry b"}, p.took())

	out := make([]pipeline.Result[string], 2)
	f.(pipeline.BatchFetcher[string, string]).FetchBatch(ctx, []string{"c", "d"}, out)
	require.Equal(t, expires, out[1].Expires)
	require.NoError(t, f.(pipeline.Invalidator[string]).Invalidate(ctx, "e"))
	require.NoError(t, f.(pipeline.Clearer).Clear(ctx))
	require.NoError(t, f.(pipeline.Closer).Close())
	require.Equal(t, []string{"fetch batch c,d", "invalidate e", "clear", "close"}, p.took())

	d := f.(pipeline.Describer).Describe()
	require.Equal(t, "p", d.Name)
	require.Equal(t, "tracing", d.Kind)
	require.Equal(t, []any{p}, d.Next)
	require.Equal(t, p, f.(interface{ BatchNext() any }).BatchNext(), "a batch goes to p whole and in order")
}

// TestSpansOverAPlainFetcher: over a Fetcher with no optional interface,
// Spans is no BatchFetcher, and its Invalidate, Clear and Close do nothing.
func TestSpansOverAPlainFetcher(t *testing.T) {
	t.Parallel()
	tp, _ := recorder(t)
	f := tracing.Spans[string, string]("p", &tracing.Options{TracerProvider: tp})(source)
	_, ok := f.(pipeline.BatchFetcher[string, string])
	require.False(t, ok)
	require.NoError(t, f.(pipeline.Invalidator[string]).Invalidate(t.Context(), "a"))
	require.NoError(t, f.(pipeline.Clearer).Clear(t.Context()))
	require.NoError(t, f.(pipeline.Closer).Close())
}

// TestSpansReturnWhatBelowReturned: values and errors from below come back
// unchanged, errors.Is works on them.
func TestSpansReturnWhatBelowReturned(t *testing.T) {
	t.Parallel()
	tp, _ := recorder(t)
	f := tracing.Spans[string, string]("p", &tracing.Options{TracerProvider: tp})(source)
	_, err := f.Fetch(t.Context(), "missing")
	require.True(t, errors.Is(err, pipeline.ErrNotFound))
	_, err = f.Fetch(t.Context(), "down")
	require.Same(t, errDown, err)
}

func TestSpansPanicsOnBadConfiguration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		build func()
		want  string
	}{
		{name: "empty name", build: func() { tracing.Spans[string, string]("", nil) }, want: "tracing: Spans: empty layer name"},
		{name: "nil next", build: func() { tracing.Spans[string, string]("l", nil)(nil) }, want: "tracing: Spans l: nil next Fetcher"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.PanicsWithValue(t, tt.want, tt.build)
		})
	}
}

// A cache layer over Spans over a cache layer of the same keys needs no
// dependency records below (Spans asks below for the key it was given): an
// inner layer whose index may hold next to nothing drops none of the outer
// layer's values, and an invalidation below still reaches the outer layer.
func TestCacheOverSpansNeedsNoRecords(t *testing.T) {
	t.Parallel()
	tp, _ := recorder(t)
	inner := pipeline.Cache("inner", testkit.NewMap[string, string](),
		&pipeline.CacheOptions[string]{DependentsBytes: 1})(source)
	outerStore := stores.NewMap[string, string]()
	outer := pipeline.Cache("outer", outerStore, nil)(
		tracing.Spans[string, string]("spans", &tracing.Options{TracerProvider: tp})(inner))
	keys := []string{"a", "b", "c", "d"}
	for _, k := range keys {
		_, err := outer.Fetch(t.Context(), k)
		require.NoError(t, err)
	}
	require.Equal(t, len(keys), outerStore.Len(), "no record, so none dropped for want of room")

	require.NoError(t, pipeline.Invalidate(t.Context(), inner, "a"))
	require.Equal(t, len(keys)-1, outerStore.Len(), "the inner layer dropped the outer key")
}
