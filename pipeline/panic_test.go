package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// An observer that panics on the SharedWait event of a batch that joins a
// flight reaches the batch's caller as a *PanicError, and leaves none of
// the batch's keys stuck: a later fetch of a key the batch led is served.
func TestBatchObserverPanicOnSharedWaitLeavesNoKeyStuck(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("a", "A", "b", "B")
		src.gate = make(chan struct{})
		var armed atomic.Bool
		obs := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
			if e.Kind == pipeline.SharedWait && armed.CompareAndSwap(true, false) {
				panic("observer bug")
			}
		})
		f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{Observer: obs})(src)

		go func() { _, _ = f.Fetch(t.Context(), "b") }() // b in flight
		synctest.Wait()
		armed.Store(true)
		// The observer's panic reaches the caller as a *PanicError, at every
		// position of the batch.
		res := pipeline.FetchMany(t.Context(), f, []string{"a", "b"})
		var perr *pipeline.PanicError
		require.ErrorAs(t, res[0].Err, &perr)
		close(src.gate)
		synctest.Wait()

		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		v, err := f.Fetch(ctx, "a")
		require.NoError(t, err, "key a must not stay stuck after a panic")
		require.Equal(t, "A", v)
	})
}

// A batch whose fetch below panics reports the panic as an Error event; an
// observer that panics on that event too reaches the caller as a
// *PanicError and leaves none of the batch's keys stuck: a later fetch of
// one of them is served.
func TestBatchObserverPanicOnPanicReportLeavesNoKeyStuck(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		src := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
			if calls.Add(1) == 1 {
				panic("bulk kaboom")
			}
			m := map[string]string{}
			for _, k := range keys {
				m[k] = "v" + k
			}
			return m, nil
		})
		var armed atomic.Bool
		armed.Store(true)
		obs := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
			if e.Kind == pipeline.Error && armed.CompareAndSwap(true, false) {
				panic("observer bug")
			}
		})
		f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{Observer: obs})(src)
		// The observer's panic reaches the caller as a *PanicError.
		res := pipeline.FetchMany(context.Background(), f, []string{"a", "b"})
		var perr *pipeline.PanicError
		require.ErrorAs(t, res[0].Err, &perr)

		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		v, err := f.Fetch(ctx, "a")
		require.NoError(t, err, "key a must not stay stuck after a panic")
		require.Equal(t, "va", v)
	})
}

// A panic in the store's Set inside a shared fetch reaches every waiter as a
// PanicError and leaves nothing stuck.
func TestStoreSetPanicInsideFlightReachesEveryWaiter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", "V")
		src.gate = make(chan struct{})
		inner := newMemStore[string, string]()
		var panics atomic.Int64
		store := pipeline.StoreFuncs[string, string]{
			GetFunc: inner.Get,
			SetFunc: func(ctx context.Context, k, v string) error {
				if panics.Add(1) == 1 {
					panic("set kaboom")
				}
				return inner.Set(ctx, k, v)
			},
			DeleteFunc: inner.Delete,
		}
		f := pipeline.Cache("l", store, nil)(src)
		const n = 5
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = f.Fetch(t.Context(), "k") })
		}
		synctest.Wait()
		close(src.gate)
		wg.Wait()
		for _, err := range errs {
			var pe *pipeline.PanicError
			require.ErrorAs(t, err, &pe)
		}
		v, err := f.Fetch(t.Context(), "k")
		require.NoError(t, err)
		require.Equal(t, "V", v)
	})
}

// A panic below fails every key the batch fetches, and the keys that
// others joined: a single fetch and another batch get the *PanicError; the
// keys the batch answered from the store on its recheck keep their values.
func TestBatchPanicReachesJoiners(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				bulk := &gatedBulk{hold: map[string]bool{"a": true}, gate: make(chan struct{}), panic: "kaboom"}
				f := pipeline.Cache("l", newMemStore[string, string](), nil)(pipeline.BulkFunc[string, string](bulk.fetch))
				ctx, cancel := batchCtx(cancellable)
				defer cancel()
				first := make(chan []pipeline.Result[string], 1)
				go func() { first <- pipeline.FetchMany(ctx, f, []string{"a", "b", "a"}) }()
				synctest.Wait()
				single := make(chan error, 1)
				go func() { _, err := f.Fetch(context.Background(), "b"); single <- err }()
				other := make(chan []pipeline.Result[string], 1)
				go func() { other <- pipeline.FetchMany(context.Background(), f, []string{"a", "b"}) }()
				synctest.Wait()
				close(bulk.gate)
				var pe *pipeline.PanicError
				for i, r := range <-first {
					require.ErrorAs(t, r.Err, &pe, i)
				}
				require.ErrorAs(t, <-single, &pe)
				for i, r := range <-other {
					require.ErrorAs(t, r.Err, &pe, i)
				}
				synctest.Wait()
				bulk.mu.Lock()
				bulk.panic = nil
				bulk.mu.Unlock()
				res := pipeline.FetchMany(ctx, f, []string{"a", "b"})
				require.Equal(t, "va", res[0].Value)
				require.Equal(t, "vb", res[1].Value)
				require.NoError(t, f.(pipeline.Closer).Close())
			})
		})
	}
}

// Invalidate on an outer layer drops the outer key even when the inner
// layer's drop panics (an observer panics on Invalidated): the outer layer
// does not keep serving the invalidated value. (TestObserverPanicOnInvalidatedStillDropsDependents
// covers an invalidation started at the inner layer.)
//
//	top.Invalidate(k): in.Invalidate(k) -> in drops k, its observer panics
//	top must still drop k: top.Fetch(k) after the panic -> v2
func TestInnerObserverPanicWhileInvalidatingOuterStillDropsOuterKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		over func(in pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] // builds top over in
		key  string                                                                     // top's key, derived from in's a
	}{
		{
			name: "identity",
			over: func(in pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
				return pipeline.Cache("top", newMemStore[string, string](), nil)(in)
			},
			key: "a",
		},
		{
			name: "recorded",
			over: func(in pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
				return pipeline.Cache("top", newMemStore[string, string](), nil)(upperNoCase{in})
			},
			key: "a/x",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			src := newSource("a", "a1")
			panicky := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
				if e.Kind == pipeline.Invalidated {
					panic("observer")
				}
			})
			in := pipeline.Cache("in", newMemStore[string, string](), &pipeline.CacheOptions[string]{Observer: panicky})(src)
			top, key := tc.over(in), tc.key
			v, err := top.Fetch(ctx, key)
			require.NoError(t, err)
			require.Equal(t, "a1", v)

			src.set("a", "a2")
			require.Panics(t, func() { _ = top.(pipeline.Invalidator[string]).Invalidate(ctx, key) })
			v, err = top.Fetch(ctx, key)
			require.NoError(t, err)
			require.Equal(t, "a2", v, "the layer Invalidate was called on still serves the invalidated value")
		})
	}
}

// panicSetStore panics in Set when armed.
type panicSetStore struct {
	*memStore[string, string]
	armed atomic.Bool
}

func (p *panicSetStore) Set(ctx context.Context, k, v string) error {
	if p.armed.CompareAndSwap(true, false) {
		panic("set")
	}
	return p.memStore.Set(ctx, k, v)
}

// A store Set that panics during a fill leaves Invalidate free to run, and
// later fills are kept. A Set that blocks during a fill makes Invalidate
// wait, and other fills' writes wait too, but all finish once Set returns:
// no deadlock. (Not under synctest: a goroutine blocked on a sync.RWMutex is
// not durably blocked, so synctest.Wait would hang; the short sleeps only
// make the intended interleaving likely, nothing is asserted on time.)
func TestStoreSetPanicOrBlockDoesNotDeadlockInvalidate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newSource("a", "a1", "b", "b1", "c", "c1")
	st := &panicSetStore{memStore: newMemStore[string, string]()}
	f := pipeline.Cache("f", st, nil)(src)
	st.armed.Store(true)
	_, err := f.Fetch(ctx, "a")
	var perr *pipeline.PanicError
	require.ErrorAs(t, err, &perr)
	require.NoError(t, f.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
	v, err := f.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a1", v)
	require.True(t, st.has("a"))

	// Blocking Set, then an Invalidate (writer waits), then another fill.
	block, blocked := make(chan struct{}), make(chan struct{})
	var n atomic.Int64
	st.beforeSet = func() {
		if n.Add(1) == 1 {
			close(blocked)
			<-block
		}
	}
	done := make(chan struct{}, 3)
	go func() { _, _ = f.Fetch(ctx, "b"); done <- struct{}{} }()
	<-blocked
	go func() { _ = f.(pipeline.Invalidator[string]).Invalidate(ctx, "a"); done <- struct{}{} }()
	time.Sleep(5 * time.Millisecond)
	go func() { _, _ = f.Fetch(ctx, "c"); done <- struct{}{} }()
	time.Sleep(5 * time.Millisecond)
	close(block)
	for range 3 {
		<-done
	}
	require.True(t, st.has("b"))
	// c's fill read the generation before the bump: it is not kept (an
	// invalidation of any key voids every fill under way in the layer).
}

// An observer that panics on Invalidated does not keep the outer layers
// serving the invalidated value: the dependents are dropped all the same,
// though the layer emits the event before it drops them.
func TestObserverPanicOnInvalidatedStillDropsDependents(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newSource("a", "a1")
	panicky := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
		if e.Kind == pipeline.Invalidated {
			panic("observer")
		}
	})
	raw := pipeline.Cache("raw", newMemStore[string, string](), &pipeline.CacheOptions[string]{Observer: panicky})(src)
	top := pipeline.Cache("top", newMemStore[string, string](), nil)(raw)
	v, err := top.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a1", v)

	src.set("a", "a2")
	require.Panics(t, func() { _ = raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a") })
	v, err = top.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a2", v, "the outer layer still serves the value its inner layer dropped")
}

func TestCachePanic(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", "V")
		src.gate = make(chan struct{})
		src.panic = "kaboom"
		f := pipeline.Cache("l", newMemStore[string, string](), nil)(src)
		const n = 10
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = f.Fetch(t.Context(), "k") })
		}
		synctest.Wait()
		close(src.gate)
		wg.Wait()
		for _, err := range errs {
			var pe *pipeline.PanicError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "kaboom", pe.Value)
			require.Equal(t, "l", pe.Layer)
			require.NotEmpty(t, pe.Stack)
		}
		require.EqualValues(t, 1, src.calls.Load())

		// The key is not stuck: the next fetch calls the source again.
		src.panic = nil
		v, err := f.Fetch(t.Context(), "k")
		require.NoError(t, err)
		require.Equal(t, "V", v)
		require.EqualValues(t, 2, src.calls.Load())
	})
}

func TestCachePanicWithErrorUnwraps(t *testing.T) {
	t.Parallel()
	src := newSource()
	src.panic = errBoom
	f := pipeline.Cache("l", newMemStore[string, string](), nil)(src)
	_, err := f.Fetch(context.Background(), "k") // the caller runs the fetch itself
	require.ErrorIs(t, err, errBoom)
}

// An observer that panics on the report of an invalid key reaches the
// caller of Fetch and FetchEntry as a *PanicError, as in the rest of a
// fetch: only a hit skips the recover (see Cache).
func TestObserverPanicOnInvalidKeyIsAPanicError(t *testing.T) {
	t.Parallel()
	obs := pipeline.ObserverFunc[float64](func(_ context.Context, e pipeline.Event[float64]) {
		if e.Kind == pipeline.Error && errors.Is(e.Err, pipeline.ErrInvalidKey) {
			panic("observer bug")
		}
	})
	src := pipeline.FetcherFunc[float64, string](func(context.Context, float64) (string, error) { return "v", nil })
	f := pipeline.Cache("l", newMemStore[float64, string](), &pipeline.CacheOptions[float64]{Observer: obs})(src)
	for _, tc := range []struct {
		name  string
		fetch func() error
	}{
		{name: "Fetch", fetch: func() error { _, err := f.Fetch(t.Context(), math.NaN()); return err }},
		{name: "FetchEntry", fetch: func() error {
			_, err := f.(pipeline.EntryFetcher[float64, string]).FetchEntry(t.Context(), math.NaN())
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var err error
			require.NotPanics(t, func() { err = tc.fetch() })
			var pe *pipeline.PanicError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "observer bug", pe.Value)
		})
	}
}
