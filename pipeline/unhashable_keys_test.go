package pipeline_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// NaN keys never equal themselves: each occurrence gets ErrInvalidKey and
// none is asked below; the ordinary keys next to them, repeats included, get
// their values and are asked below once.
func TestBatchAnswersNaNKeysWithInvalidKey(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var asked [][]float64
			bulk := pipeline.BulkFunc[float64, string](func(_ context.Context, keys []float64) (map[float64]string, error) {
				mu.Lock()
				asked = append(asked, append([]float64(nil), keys...))
				mu.Unlock()
				m := map[float64]string{}
				for _, k := range keys {
					if !math.IsNaN(k) {
						m[k] = fmt.Sprint("v", k)
					}
				}
				return m, nil
			})
			f := pipeline.Cache("l", newMemStore[float64, string](), nil)(bulk)
			ctx, cancel := batchCtx(cancellable)
			defer cancel()
			nan := math.NaN()
			keys := []float64{nan, 1, nan, 2, 1}
			res := pipeline.FetchMany(ctx, f, keys)
			require.ErrorIs(t, res[0].Err, pipeline.ErrInvalidKey)
			require.ErrorIs(t, res[2].Err, pipeline.ErrInvalidKey)
			require.Equal(t, "v1", res[1].Value)
			require.Equal(t, "v2", res[3].Value)
			require.Equal(t, "v1", res[4].Value)
			mu.Lock()
			require.Len(t, asked, 1)
			require.Equal(t, []float64{1, 2}, asked[0], "a NaN is never asked below; 1 and 2 once")
			mu.Unlock()
			// All NaN: nothing goes below.
			res = pipeline.FetchMany(ctx, f, []float64{nan, nan})
			require.ErrorIs(t, res[0].Err, pipeline.ErrInvalidKey)
			require.ErrorIs(t, res[1].Err, pipeline.ErrInvalidKey)
			mu.Lock()
			require.Len(t, asked, 1)
			mu.Unlock()
		})
	}
}

// Unhashable keys through MapKey (Invalidate and batches), through
// Coalesce, and struct keys with interface fields in a batch, get
// ErrInvalidKey and leave the layers usable.
func TestUnhashableKeysThroughMiddleware(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	type sk struct {
		a string
		b any
	}
	src := pipeline.FetcherFunc[any, string](func(_ context.Context, k any) (string, error) { return fmt.Sprint(k), nil })
	inner := pipeline.Cache("in", newMemStore[any, string](), nil)(src)
	mapped := middleware.MapKey[string](func(k sk) any { return k.b })(inner)
	outer := pipeline.Cache("out", newMemStore[sk, string](), nil)(mapped)
	_, err := outer.Fetch(ctx, sk{"x", []int{1}})
	require.ErrorIs(t, err, pipeline.ErrInvalidKey)
	require.ErrorIs(t, outer.(pipeline.Invalidator[sk]).Invalidate(ctx, sk{"x", []int{1}}), pipeline.ErrInvalidKey)
	require.ErrorIs(t, mapped.(pipeline.Invalidator[sk]).Invalidate(ctx, sk{"x", []int{1}}), pipeline.ErrInvalidKey)
	res := pipeline.FetchMany(ctx, outer, []sk{{"a", 1}, {"b", map[int]int{}}, {"c", [1]any{[]byte("x")}}, {"a", 1}})
	require.NoError(t, res[0].Err)
	require.ErrorIs(t, res[1].Err, pipeline.ErrInvalidKey)
	require.ErrorIs(t, res[2].Err, pipeline.ErrInvalidKey)
	require.Equal(t, "1", res[3].Value)

	co := middleware.Coalesce[any, string]("co", nil)(src)
	_, err = co.Fetch(ctx, []int{1})
	require.ErrorIs(t, err, pipeline.ErrInvalidKey)
	res2 := pipeline.FetchMany(ctx, co, []any{"a", func() {}})
	require.NoError(t, res2[0].Err)
	require.ErrorIs(t, res2[1].Err, pipeline.ErrInvalidKey)
	v, err := co.Fetch(ctx, strings.Repeat("z", 2))
	require.NoError(t, err)
	require.Equal(t, "zz", v)
}

// FetchMany through a layer that is not a BatchFetcher (Log, Inspect, a
// user layer) answers an unhashable key with ErrInvalidKey and fetches the
// others; it does not panic in the caller.
func TestFetchManyThroughNonBatchLayerAnswersUnhashableKeyWithInvalidKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := pipeline.FetcherFunc[any, string](func(_ context.Context, k any) (string, error) { return fmt.Sprint(k), nil })
	inner := pipeline.Cache("in", newMemStore[any, string](), nil)(src)
	logged := middleware.Inspect[string](func(context.Context, any, []pipeline.Event[any], error) {})(inner)
	_, err := logged.Fetch(ctx, []int{1})
	require.ErrorIs(t, err, pipeline.ErrInvalidKey, "a single fetch gets the error")
	var res []pipeline.Result[string]
	require.NotPanics(t, func() { res = pipeline.FetchMany(ctx, logged, []any{"a", []int{1}}) })
	require.NoError(t, res[0].Err)
	require.ErrorIs(t, res[1].Err, pipeline.ErrInvalidKey)
}

// A key whose dynamic type cannot be hashed (a slice in an any key) is an
// error for its caller alone: a batch holding one does not make a later
// Fetch of a good key panic, and the layer stays usable.
func TestUnhashableKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	type pair struct {
		a string
		b any
	}
	store := newMemStore[any, string]()
	var calls atomic.Int64
	src := pipeline.BulkFunc[any, string](func(_ context.Context, keys []any) (map[any]string, error) {
		calls.Add(1)
		m := make(map[any]string, len(keys))
		for _, k := range keys {
			m[k] = fmt.Sprint(k)
		}
		return m, nil
	})
	f := pipeline.Cache("l", store, nil)(src)
	bad := []any{[]int{1}, map[string]int{}, pair{"x", []byte("y")}, func() {}}
	for _, k := range bad {
		_, err := f.Fetch(ctx, k)
		require.ErrorIs(t, err, pipeline.ErrInvalidKey, "%T", k)
		_, err = f.(pipeline.EntryFetcher[any, string]).FetchEntry(ctx, k)
		require.ErrorIs(t, err, pipeline.ErrInvalidKey, "%T", k)
		require.ErrorIs(t, f.(pipeline.Invalidator[any]).Invalidate(ctx, k), pipeline.ErrInvalidKey, "%T", k)
	}
	require.Zero(t, calls.Load(), "a bad key never reaches below")

	keys := []any{"a", []int{1}, pair{"p", 1}, "a", bad[2], 7}
	res := pipeline.FetchMany(ctx, f, keys)
	for i, want := range []string{"a", "", "{p 1}", "a", "", "7"} {
		if want == "" {
			require.ErrorIs(t, res[i].Err, pipeline.ErrInvalidKey, i)
			continue
		}
		require.NoError(t, res[i].Err, i)
		require.Equal(t, want, res[i].Value, i)
	}
	require.EqualValues(t, 1, calls.Load(), "the good keys go down as one batch")
	v, err := f.Fetch(ctx, "b")
	require.NoError(t, err, "the layer still works")
	require.Equal(t, "b", v)
	require.True(t, store.has(pair{"p", 1}))
}

// A plain comparable key type pays no check, and a key type that holds an
// interface with only hashable values works as usual.
func TestHashableInterfaceKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := pipeline.Cache("l", newMemStore[any, string](), nil)(pipeline.FetcherFunc[any, string](
		func(_ context.Context, k any) (string, error) { return fmt.Sprint(k), nil }))
	for _, k := range []any{"a", 1, 2.5, [2]int{1, 2}, struct{ x any }{"y"}} {
		v, err := f.Fetch(ctx, k)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(k), v)
	}
}
