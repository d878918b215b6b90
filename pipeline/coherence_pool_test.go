package pipeline_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// Was a bug, fixed: an expired entry read for stale-if-error before Invalidate's Delete
// travels into a flight opened after Invalidate returned, and a caller that
// starts after Invalidate returned (and finds the store empty) joins that
// flight and is served the invalidated value when below fails.
//
//	X: GetEntry(a) -> expired a1 (kept as old) ...................... miss: put F (current gen), old = a1
//	Invalidate(a): bump; Delete(a); gen++, flights.drop; return
//	Y (after return): GetEntry -> absent; miss; joins F
//	F: below fails -> StaleServed old a1 -> Y gets a1, nil
//
// single: X's miss did not recheck (no flight landed), so old stays a1.
// batch-recheck: a flight landed, the batch rechecks and finds a absent, but
// runBatch keeps olds[n] from before (it only replaces it on expired), so
// even the recheck does not help. single-clear: Clear, same as single.
// single-recheck holds (load sets st=absent) and is the control.
func TestStaleReadBeforeInvalidateNotServedToLaterJoiner(t *testing.T) {
	for _, mode := range []string{"single", "batch", "batch-recheck", "single-clear", "single-recheck"} {
		t.Run(mode, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				bg := context.Background()
				now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
				clock := func() time.Time { return now }
				gate := make(chan struct{})
				src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
					if k != "a" {
						return "v" + k, nil
					}
					<-gate
					return "", errBoom // the source moved on to a2, and now fails for a while
				})
				st := newMemStore[string, string]()
				require.NoError(t, st.SetEntry(bg, "a", pipeline.Entry[string]{Value: "a1", Expires: now.Add(-time.Second)}))
				var store pipeline.Store[string, string] = st
				if mode == "single-clear" {
					store = clearStore{st}
				}
				l := pipeline.Cache("l", store, &pipeline.CacheOptions[string]{StaleIfError: time.Hour, Clock: clock})(src)

				read, release := make(chan struct{}), make(chan struct{})
				var reads atomic.Int64
				st.afterGet = func() {
					if reads.Add(1) == 1 { // X's read: the expired a1
						close(read)
						<-release
					}
				}
				x := make(chan pipeline.Result[string], 1)
				go func() {
					if mode == "batch" || mode == "batch-recheck" {
						x <- pipeline.FetchMany(bg, l, []string{"a"})[0]
						return
					}
					e, err := l.(pipeline.EntryFetcher[string, string]).FetchEntry(bg, "a")
					x <- pipeline.Result[string]{Entry: e, Err: err}
				}()
				<-read
				if mode == "single-clear" {
					require.NoError(t, l.(pipeline.Clearer).Clear(bg))
				} else {
					require.NoError(t, l.(pipeline.Invalidator[string]).Invalidate(bg, "a"))
				}
				if mode == "batch-recheck" || mode == "single-recheck" {
					v, err := l.Fetch(bg, "z") // a flight lands: X will look in the store again
					require.NoError(t, err)
					require.Equal(t, "vz", v)
				}
				close(release)
				synctest.Wait() // X leads a flight of a, waiting on below

				y := make(chan pipeline.Result[string], 1)
				go func() { // starts after Invalidate returned
					v, err := l.Fetch(bg, "a")
					y <- pipeline.Result[string]{Entry: pipeline.Entry[string]{Value: v}, Err: err}
				}()
				synctest.Wait()
				close(gate)
				<-x // X raced the invalidation: a1 is allowed for it
				r := <-y
				require.Error(t, r.Err, "a fetch that started after Invalidate returned was served the invalidated value %q", r.Value)
			})
		})
	}
}

// Was a bug, fixed (the batch marker is now the dependent, dropping its keys
// one by one): neverGen, an interim guard, stopped only the layer whose batch marker was recorded as
// whole-layer. A cache layer directly over it (an identity dependent) keeps
// the value, and dropping the inner key reaches it only through
// outer.clearHere -> top.clearHere, which does nothing over a store without
// Clear: top serves the invalidated value for good.
//
//	top batch [a/x] -> outer.fetchDistinct -> runBatch(marker) -> perKeyBatch -> in.Fetch: register whole(outer)
//	outer keeps nothing (neverGen); top keeps a/x = a1
//	in.Invalidate(a): wholeLayer{outer}.dropDerived -> outer.clearHere (no Clear) -> top.clearHere (no Clear)
//	top.Fetch(a/x) -> a1
func TestWholeBatchDependentDropsThroughLayersAbove(t *testing.T) {
	for _, topo := range []string{"identity", "recorded"} {
		t.Run(topo, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			src := newSource("a", "a1")
			in := pipeline.Cache("in", newMemStore[string, string](), nil)(src)
			outer := pipeline.Cache("outer", newMemStore[string, string](), nil)(perKeyBatch{upperNoCase{in}})
			var top pipeline.Fetcher[string, string]
			key := "a/x"
			if topo == "identity" {
				top = pipeline.Cache("top", newMemStore[string, string](), nil)(outer)
			} else {
				// a describing mapper that passes the batch down whole: outer
				// records top's keys one by one, then clears them with itself
				strip := func(k string) string { b, _, _ := strings.Cut(k, "/"); return b }
				top = pipeline.Cache("top", newMemStore[string, string](), nil)(middleware.MapKey[string](strip)(outer))
				key = "a/y" // -> outer a -> in a
			}
			res := pipeline.FetchMany(ctx, top, []string{key})
			require.NoError(t, res[0].Err)
			require.Equal(t, "a1", res[0].Value)

			src.set("a", "a2")
			require.NoError(t, in.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
			v, err := top.Fetch(ctx, key)
			require.NoError(t, err)
			require.Equal(t, "a2", v, "a layer over the whole-layer batch keeps the invalidated value")
		})
	}
}

// A flight dropped by Invalidate while its uncancellable leader
// still runs, a new flight of the key in the same slot, then the old leader
// lands: remove leaves the new flight (pointer compare), the old one goes to
// the free list and is reused for another key, and a joiner of the new
// flight still gets the new leader's value (no shared flight under -race).
func TestDroppedFlightLandsAfterNewOneInSameSlot(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bg := context.Background()
		gates := map[string]chan struct{}{"a": make(chan struct{}), "a2": make(chan struct{})}
		var aCalls atomic.Int64
		src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
			if k == "a" {
				n := aCalls.Add(1)
				if n == 1 {
					<-gates["a"]
					return "a-old", nil
				}
				<-gates["a2"]
				return "a-new", nil
			}
			return "v" + k, nil
		})
		f := pipeline.Cache("l", newMemStore[string, string](), nil)(src)
		for _, k := range []string{"p", "q"} { // spare flights
			_, err := f.Fetch(bg, k)
			require.NoError(t, err)
		}
		l1 := make(chan string, 1)
		go func() { v, _ := f.Fetch(bg, "a"); l1 <- v }() // reused flight f1
		synctest.Wait()
		require.NoError(t, f.(pipeline.Invalidator[string]).Invalidate(bg, "a"))
		l2 := make(chan string, 1)
		go func() { v, _ := f.Fetch(bg, "a"); l2 <- v }() // new flight f2, same slot
		synctest.Wait()
		close(gates["a"])
		require.Equal(t, "a-old", <-l1) // raced; not kept, f1 recycled
		synctest.Wait()
		for _, k := range []string{"r", "s", "t"} { // take f1 from the free list
			v, err := f.Fetch(bg, k)
			require.NoError(t, err)
			require.Equal(t, "v"+k, v)
		}
		j := make(chan string, 1)
		go func() { v, _ := f.Fetch(bg, "a"); j <- v }() // joins f2
		batch := make(chan []pipeline.Result[string], 1)
		go func() { batch <- pipeline.FetchMany(bg, f, []string{"a", "u", "a"}) }()
		synctest.Wait()
		close(gates["a2"])
		require.Equal(t, "a-new", <-l2)
		require.Equal(t, "a-new", <-j)
		res := <-batch
		require.Equal(t, "a-new", res[0].Value)
		require.Equal(t, "vu", res[1].Value)
		require.Equal(t, "a-new", res[2].Value)
		require.Equal(t, int64(2), aCalls.Load(), "the joiners coalesced with the new flight")
	})
}

// An observer that panics on Miss, before the batch has made its call,
// while a single fetch of one of its keys runs and a cancellable (detached)
// caller has a dup: the panic reaches the batch's caller as a *PanicError
// and the single fetch is not affected. Also
// with a detached batch that the caller abandons and that lands while a
// joiner and the next batches run (the last user gives the memory back).
func TestBatchMemoryVsPanicAndDetach(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bg := context.Background()
		var armed atomic.Bool
		inObs, goOn := make(chan struct{}), make(chan struct{})
		obs := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
			if e.Kind == pipeline.Miss && e.Key == "a" && armed.CompareAndSwap(true, false) {
				close(inObs)
				<-goOn
				panic("observer")
			}
		})
		gate := make(chan struct{})
		bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
			m := map[string]string{}
			for _, k := range keys {
				if k == "g" {
					<-gate
				}
				m[k] = "v" + k
			}
			return m, nil
		})
		f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{Observer: obs})(bulk)
		ctx, cancel := context.WithCancel(bg)
		defer cancel()

		armed.Store(true)
		results := make(chan []pipeline.Result[string], 1)
		go func() { results <- pipeline.FetchMany(ctx, f, []string{"a", "b", "a"}) }()
		<-inObs // Miss comes before the batch makes its call
		joined := make(chan error, 1)
		go func() { _, err := f.Fetch(bg, "b"); joined <- err }()
		synctest.Wait()
		close(goOn)
		var perr *pipeline.PanicError
		require.ErrorAs(t, (<-results)[0].Err, &perr, "the observer's panic reaches the caller as an error")
		require.NoError(t, <-joined, "the batch had made no call: b was fetched on its own")

		// Detached: the caller gives up, a joiner waits, next batches reuse scratch.
		dctx, dcancel := context.WithCancel(bg)
		first := make(chan []pipeline.Result[string], 1)
		go func() { first <- pipeline.FetchMany(dctx, f, []string{"g", "h", "g"}) }()
		synctest.Wait()
		j := make(chan string, 1)
		go func() { v, _ := f.Fetch(bg, "h"); j <- v }()
		synctest.Wait()
		dcancel()
		r := <-first
		require.ErrorIs(t, r[0].Err, context.Canceled)
		for range 3 {
			res := pipeline.FetchMany(ctx, f, []string{"x1", "x2", "x3"})
			require.Equal(t, "vx3", res[2].Value)
		}
		close(gate)
		require.Equal(t, "vh", <-j)
		synctest.Wait()
		for range 3 {
			res := pipeline.FetchMany(ctx, f, []string{"y1", "g", "y2"})
			require.Equal(t, "vg", res[1].Value)
		}
		require.NoError(t, f.(pipeline.Closer).Close())
	})
}
