package pipeline_test

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// A batch that repeats a key, with every key expired and below failing,
// serves each position the stale value of its own key: with keys [a, a, b],
// a's repeat does not shift b onto a's old entry.
func TestBatchRepeatedKeyGetsItsOwnStaleValue(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := newMemStore[string, string]()
		past := time.Now().Add(-time.Second)
		require.NoError(t, store.SetEntry(t.Context(), "a", pipeline.Entry[string]{Value: "old-a", Expires: past}))
		require.NoError(t, store.SetEntry(t.Context(), "b", pipeline.Entry[string]{Value: "old-b", Expires: past}))
		bulk := &bulkSource{err: errBoom}
		f := pipeline.Cache("l", store, &pipeline.CacheOptions[string]{StaleIfError: time.Minute})(
			pipeline.BulkFunc[string, string](bulk.fetch))

		res := pipeline.FetchMany(t.Context(), f, []string{"a", "a", "b"})
		for i, want := range []string{"old-a", "old-a", "old-b"} {
			require.NoError(t, res[i].Err, "stale-if-error")
			require.Equal(t, want, res[i].Value, "position %d", i)
		}
	})
}

// Stale-if-error on the direct path (every key of the batch is a miss, and
// some hold expired entries that the caller's out carries down): each key
// gets its own stale value or the error, joiners too, and once below works
// again the fresh values.
func TestBatchOfMissesServesEachKeyItsOwnStaleValue(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		for _, batchStore := range []bool{false, true} {
			t.Run(fmt.Sprintf("cancellable=%v/batchStore=%v", cancellable, batchStore), func(t *testing.T) {
				t.Parallel()
				clk := testkit.NewClock()
				ms := newMemStore[string, string]()
				var store pipeline.Store[string, string] = ms
				if !batchStore {
					store = keyStore[string, string]{ms}
				}
				bulk := &gatedBulk{err: errBoom}
				f := pipeline.Cache("l", store, &pipeline.CacheOptions[string]{
					TTL: time.Minute, StaleIfError: time.Hour, Clock: clk.Now,
				})(pipeline.BulkFunc[string, string](bulk.fetch))
				expired := clk.Now().Add(-time.Second)
				for _, k := range []string{"a", "c"} {
					require.NoError(t, ms.SetEntry(t.Context(), k, pipeline.Entry[string]{Value: "old-" + k, Expires: expired}))
				}
				ctx, cancel := batchCtx(cancellable)
				defer cancel()
				keys := []string{"a", "b", "c"}
				res := pipeline.FetchMany(ctx, f, keys)
				require.NoError(t, res[0].Err)
				require.Equal(t, "old-a", res[0].Value)
				require.ErrorIs(t, res[1].Err, errBoom)
				require.Empty(t, res[1].Value)
				require.NoError(t, res[2].Err)
				require.Equal(t, "old-c", res[2].Value)

				bulk.mu.Lock()
				bulk.err = nil
				bulk.mu.Unlock()
				res = pipeline.FetchMany(ctx, f, keys)
				for i, k := range keys {
					require.NoError(t, res[i].Err)
					require.Equal(t, "v"+k, res[i].Value)
					require.True(t, res[i].Expires.After(clk.Now()), "a fresh lifetime")
				}
				// The expired entries did not leak down as results: below
				// was asked for every key.
				require.Equal(t, [][]string{keys, keys}, bulk.list())
			})
		}
	}
}

// Stale-if-error over two cache layers on the direct path: the outer
// layer's expired entries travel down in out, and the inner layer (whose
// own entries are expired too) must answer each key from its own store.
func TestBatchStaleIfErrorTwoLayersAnswerFromOwnStore(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			clk := testkit.NewClock()
			innerStore, outerStore := newMemStore[string, string](), newMemStore[string, string]()
			bulk := &gatedBulk{err: errBoom}
			opts := &pipeline.CacheOptions[string]{TTL: time.Minute, StaleIfError: time.Hour, Clock: clk.Now}
			inner := pipeline.Cache("inner", innerStore, opts)(pipeline.BulkFunc[string, string](bulk.fetch))
			outer := pipeline.Cache("outer", outerStore, opts)(inner)
			expired := clk.Now().Add(-time.Second)
			require.NoError(t, outerStore.SetEntry(t.Context(), "a", pipeline.Entry[string]{Value: "outer-a", Expires: expired}))
			require.NoError(t, innerStore.SetEntry(t.Context(), "b", pipeline.Entry[string]{Value: "inner-b", Expires: expired}))
			ctx, cancel := batchCtx(cancellable)
			defer cancel()
			res := pipeline.FetchMany(ctx, outer, []string{"a", "b", "c"})
			require.NoError(t, res[0].Err)
			require.Equal(t, "outer-a", res[0].Value, "the outer stale value; the inner layer has none and fails")
			require.NoError(t, res[1].Err)
			require.Equal(t, "inner-b", res[1].Value)
			require.ErrorIs(t, res[2].Err, errBoom)
		})
	}
}

func TestCacheStaleIfError(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock()
	src := newSource("k", "old")
	rec := &recorder[string]{}
	f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
		TTL: time.Minute, StaleIfError: 5 * time.Minute, Clock: clk.Now, Observer: rec,
	})(src)
	v, err := f.Fetch(t.Context(), "k")
	require.NoError(t, err)
	require.Equal(t, "old", v)

	src.fail(errBoom)
	clk.Advance(2 * time.Minute) // expired, within the grace period
	rec.list()
	v, err = f.Fetch(t.Context(), "k")
	require.NoError(t, err)
	require.Equal(t, "old", v, "stale value served when the source fails")
	require.Equal(t, []string{"miss l k", "stale served l k"}, rec.list())

	clk.Advance(5 * time.Minute) // past the grace period
	_, err = f.Fetch(t.Context(), "k")
	require.ErrorIs(t, err, errBoom)

	// Stale-if-error never hides a not found.
	src.fail(nil)
	src.mu.Lock()
	delete(src.data, "k")
	src.mu.Unlock()
	_, err = f.Fetch(t.Context(), "k")
	require.ErrorIs(t, err, pipeline.ErrNotFound)
}

// A fetch that misses on an expired value and joins the refresh-ahead of
// its key, which fails, gets the expired value, as it would from a fetch of
// its own: stale-if-error covers the value the refresh was replacing.
//
//	t=55s: a hit on the due value starts a refresh; below hangs
//	t=65s: the value expired; a fetch misses and joins the refresh
//	below fails → the joiner gets the old value, not the failure
func TestMissJoiningAFailedRefreshIsServedStale(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := &versioned{}
		f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
			TTL: time.Minute, RefreshAhead: 10 * time.Second, StaleIfError: time.Hour,
		})(src)
		defer pipeline.Close(f)
		ctx := t.Context()
		v, err := f.Fetch(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, "k@0", v)

		hold := make(chan struct{})
		src.hold.Store(&hold)
		src.fail.Store(true)
		time.Sleep(55 * time.Second)
		v, err = f.Fetch(ctx, "k") // due: starts the refresh, which hangs below
		require.NoError(t, err)
		require.Equal(t, "k@0", v)
		synctest.Wait()
		require.EqualValues(t, 2, src.calls.Load(), "the refresh is under way")

		time.Sleep(10 * time.Second) // the value expired; the refresh still hangs
		type result struct {
			v   string
			err error
		}
		got := make(chan result, 1)
		go func() {
			v, err := f.Fetch(ctx, "k")
			got <- result{v, err}
		}()
		synctest.Wait()
		close(hold)
		r := <-got
		require.NoError(t, r.err, "stale-if-error: below failed and the layer holds a value that expired 5s ago")
		require.Equal(t, "k@0", r.v)
		synctest.Wait()
		require.Equal(t, 1, pipeline.BackoffLen(f), "the refresh failed, whatever it served: the key backs off")
	})
}

// With StaleIfError on, a refresh-ahead that fails while its value is
// still fresh served nobody stale: it reports an Error, as without
// StaleIfError, and no StaleServed; the key backs off.
func TestRefreshFailingWhileFreshIsAnErrorNotStaleServed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := &versioned{}
		rec := &recorder[string]{}
		f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
			TTL: time.Minute, RefreshAhead: 10 * time.Second, StaleIfError: time.Hour, Observer: rec,
		})(src)
		defer pipeline.Close(f)
		ctx := t.Context()
		_, err := f.Fetch(ctx, "k")
		require.NoError(t, err)

		src.fail.Store(true)
		time.Sleep(55 * time.Second)
		v, err := f.Fetch(ctx, "k") // due: starts the refresh, which fails at once
		require.NoError(t, err)
		require.Equal(t, "k@0", v)
		synctest.Wait()
		require.Equal(t, 1, rec.count(pipeline.Error), "the failed refresh")
		require.Zero(t, rec.count(pipeline.StaleServed), "nobody was served stale")
		require.Equal(t, 1, pipeline.BackoffLen(f))
	})
}
