package middleware_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

func TestCoalesce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		gate := make(chan struct{})
		src := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
			calls.Add(1)
			<-gate
			return "v" + k, nil
		})
		f := middleware.Coalesce[string, string]("source", nil)(src)

		const n = 100
		vals := make([]string, n)
		errs := make([]error, n)
		ctxs := make([]context.CancelFunc, n)
		var wg sync.WaitGroup
		for i := range n {
			ctx, cancel := context.WithCancel(t.Context())
			ctxs[i] = cancel
			wg.Go(func() { vals[i], errs[i] = f.Fetch(ctx, "k") })
		}
		synctest.Wait()
		for i := 0; i < n; i += 2 {
			ctxs[i]()
		}
		synctest.Wait()
		close(gate)
		wg.Wait()
		for i := range n {
			if i%2 == 0 {
				require.ErrorIs(t, errs[i], context.Canceled)
				continue
			}
			require.NoError(t, errs[i])
			require.Equal(t, "vk", vals[i])
		}
		require.EqualValues(t, 1, calls.Load())

		// It keeps nothing: the next fetch calls the source again.
		_, err := f.Fetch(t.Context(), "k")
		require.NoError(t, err)
		require.EqualValues(t, 2, calls.Load())
		for _, c := range ctxs {
			c()
		}
	})
}

func TestCoalescePanics(t *testing.T) {
	t.Parallel()
	require.PanicsWithValue(t, "middleware: Coalesce: empty layer name", func() {
		middleware.Coalesce[string, string]("", nil)
	})
	d := middleware.Coalesce[string, string]("c", nil)(pipeline.FetcherFunc[string, string](
		func(context.Context, string) (string, error) { return "", nil })).(pipeline.Describer).Describe()
	require.Equal(t, "coalesce", d.Kind)
}

func ExampleCoalesce() {
	var calls atomic.Int64
	slow := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
		calls.Add(1)
		return "value of " + k, nil
	})
	f := middleware.Coalesce[string, string]("api", nil)(slow)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { _, _ = f.Fetch(context.Background(), "k") })
	}
	wg.Wait()
	v, _ := f.Fetch(context.Background(), "k")
	fmt.Println(v)
	// Output: value of k
}

// TestCoalesceKeepsLayerContract: Coalesce passes not found unchanged, keeps
// lifetimes, passes invalidations and clears inward and keeps batches
// whole.
func TestCoalesceKeepsLayerContract(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := &probe{expires: batchExpires}
	f := middleware.Coalesce[string, string]("co", nil)(p)
	defer f.(pipeline.Closer).Close()

	_, err := f.Fetch(ctx, "missing")
	require.Same(t, errMissing, err)
	e, err := f.(pipeline.EntryFetcher[string, string]).FetchEntry(ctx, "a")
	require.NoError(t, err)
	require.True(t, batchExpires.Equal(e.Expires))
	require.Equal(t, "a", e.Value)

	err = pipeline.Invalidate(ctx, f, "a")
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, p.invalidated)
	require.NoError(t, f.(pipeline.Clearer).Clear(ctx))
	require.Equal(t, 1, p.cleared)

	src := &batchRecorder{}
	g := middleware.Coalesce[string, string]("co", nil)(src)
	defer g.(pipeline.Closer).Close()
	res := pipeline.FetchMany(ctx, g, []string{"a", "missing", "b"})
	require.Equal(t, [][]string{{"a", "missing", "b"}}, src.seen())
	require.Equal(t, "a", res[0].Value)
	require.Same(t, errMissing, res[1].Err)
	require.Equal(t, "b", res[2].Value)
}
