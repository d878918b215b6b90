package pipeline_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// blockingSource blocks every fetch until its ctx ends, and counts the
// fetches that saw their ctx end.
type blockingSource struct{ cancelled atomic.Int64 }

func (s *blockingSource) Fetch(ctx context.Context, _ string) (string, error) {
	<-ctx.Done()
	s.cancelled.Add(1)
	return "", ctx.Err()
}

func TestCloseOnTheOutermostFetcherStopsEveryLayerBelow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := &blockingSource{}
		inner := pipeline.Cache("inner", stores.NewMap[string, string](), nil)(src)
		top := pipeline.Cache("top", stores.NewMap[string, string](), nil)(
			middleware.MapKey[string](strings.ToUpper)(
				middleware.Parse[string](func(s string) (string, error) { return s, nil })(
					middleware.Log[string, string](slog.New(slog.DiscardHandler), "inner", nil)(inner))))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { _, err := top.Fetch(ctx, "a"); done <- err }()
		synctest.Wait()
		cancel() // the caller leaves; the shared fetches go on, detached
		require.ErrorIs(t, <-done, context.Canceled)
		synctest.Wait()
		require.Zero(t, src.cancelled.Load(), "the detached fetch still runs")

		require.NoError(t, pipeline.Close(top))
		require.EqualValues(t, 1, src.cancelled.Load(), "Close reached the inner layer through MapKey, Parse and Log")
		require.NoError(t, pipeline.Close(top), "Close is idempotent")
	})
}

func TestSharedLayerClosesWhenItsLastDependentCloses(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := &blockingSource{}
		shared := pipeline.Cache("shared", stores.NewMap[string, string](), nil)(src)
		mk := func(name string) pipeline.Fetcher[string, string] {
			return pipeline.Cache(name, stores.NewMap[string, string](), nil)(
				pipeline.Forward(shared, func(ctx context.Context, k string) (string, error) {
					return shared.Fetch(ctx, k)
				}))
		}
		left, right := mk("left"), mk("right")
		ctx, cancel := context.WithCancel(context.Background())
		go func() { pipeline.FetchMany(ctx, shared, []string{"a"}) }()
		synctest.Wait()
		cancel()
		synctest.Wait()

		require.NoError(t, pipeline.Close(left))
		synctest.Wait()
		require.Zero(t, src.cancelled.Load(), "the shared layer still serves right")
		require.NoError(t, pipeline.Close(right))
		require.EqualValues(t, 1, src.cancelled.Load(), "the last dependent closed it")
	})
}

func TestForwardPassesInvalidateAndClearInward(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newGuaranteeSource()
	inner := pipeline.Cache("inner", stores.NewMap[string, string](), nil)(src)
	upper := pipeline.Forward(inner, func(ctx context.Context, k string) (string, error) {
		v, err := inner.Fetch(ctx, k)
		return strings.ToUpper(v), err
	})
	v, err := upper.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "A@0", v)
	src.bump("a")
	require.NoError(t, pipeline.Invalidate(ctx, upper, "a"))
	v, err = upper.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "A@1", v, "Invalidate reached the cache layer below")
	src.bump("a")
	require.NoError(t, pipeline.Clear(ctx, upper))
	v, err = upper.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "A@2", v, "Clear reached the cache layer below")
}

func TestABareClosureStopsInvalidateOnItsWayInward(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newGuaranteeSource()
	inner := pipeline.Cache("inner", stores.NewMap[string, string](), nil)(src)
	top := bare(inner)
	_, err := top.Fetch(ctx, "a")
	require.NoError(t, err)
	src.bump("a")
	require.NoError(t, pipeline.Invalidate(ctx, top, "a"), "a bare closure is no Invalidator: nothing happens")
	v, err := top.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "A@0", v, "the layer below it was not reached (see pipeline.Forward)")
}
