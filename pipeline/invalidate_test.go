package pipeline_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// A batch fill that raced an invalidation of one of its keys is returned;
// later callers of that key do not join the invalidated flight.
func TestBatchFillRacingInvalidationIsNotJoinedAfterIt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bulk := &bulkSource{gate: make(chan struct{})}
		store := newMemStore[string, string]()
		f := pipeline.Cache("l", store, nil)(pipeline.BulkFunc[string, string](bulk.fetch))
		done := make(chan []pipeline.Result[string])
		go func() { done <- pipeline.FetchMany(t.Context(), f, []string{"a", "b"}) }()
		synctest.Wait()
		err := pipeline.Invalidate(t.Context(), f, "a")
		require.NoError(t, err)
		// A later caller does not join the invalidated flight.
		got := make(chan string)
		go func() {
			v, _ := f.Fetch(t.Context(), "a")
			got <- v
		}()
		synctest.Wait()
		require.Len(t, bulk.callList(), 2, "the fetch after the invalidation starts afresh")
		close(bulk.gate)
		res := <-done
		require.Equal(t, "va", res[0].Value)
		require.Equal(t, "vb", res[1].Value)
		require.Equal(t, "va", <-got)
		synctest.Wait()
		// The generation is per layer, not per key: the invalidation of a
		// also keeps b of the same batch out of the store (a refetch, not a
		// wrong answer). The later single fetch of a started afterwards and
		// is kept.
		require.True(t, store.has("a"))
		v, err := f.Fetch(t.Context(), "b")
		require.NoError(t, err)
		require.Equal(t, "vb", v)
	})
}

// An invalidation while a batch fetches a key: a fetch that starts after
// Invalidate returned must not get the batch's (old) value, whether it is
// a single fetch or a batch, and the batch's old value is not kept.
func TestInvalidateDuringBatchIsNotServedAfterIt(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				version := 1
				gate := make(chan struct{})
				var held bool
				bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
					mu.Lock()
					v := version
					wait := !held
					held = true
					mu.Unlock()
					if wait {
						<-gate
					}
					m := map[string]string{}
					for _, k := range keys {
						m[k] = fmt.Sprint(k, v)
					}
					return m, nil
				})
				ms := newMemStore[string, string]()
				f := pipeline.Cache("l", ms, nil)(bulk)
				ctx, cancel := batchCtx(cancellable)
				defer cancel()
				first := make(chan []pipeline.Result[string], 1)
				go func() { first <- pipeline.FetchMany(ctx, f, []string{"a", "b"}) }()
				synctest.Wait() // read version 1, held
				// A joiner before the invalidation makes the lazy flight of a.
				early := make(chan string, 1)
				go func() { v, _ := f.Fetch(context.Background(), "a"); early <- v }()
				synctest.Wait()
				mu.Lock()
				version = 2
				mu.Unlock()
				require.NoError(t, f.(pipeline.Invalidator[string]).Invalidate(context.Background(), "a"))
				v, err := f.Fetch(context.Background(), "a")
				require.NoError(t, err)
				require.Equal(t, "a2", v)
				// b was not invalidated: it may still join the first batch,
				// which waits at the gate.
				res := pipeline.FetchMany(context.Background(), f, []string{"a", "a"})
				require.Equal(t, "a2", res[1].Value)
				close(gate)
				<-first
				<-early
				synctest.Wait()
				v, err = f.Fetch(context.Background(), "a")
				require.NoError(t, err)
				require.Equal(t, "a2", v, "the batch's old value was not kept")
				require.NoError(t, f.(pipeline.Closer).Close())
			})
		})
	}
}

// A flight opened while Invalidate runs, whose recheck read the store
// before the Delete and so saw the old value, is not joined by a fetch that
// starts after Invalidate returned (and finds the store empty):
//
//	W fills a1; X read the store (absent) before W landed, so X will recheck
//	Invalidate(a): [X: opens a flight, recheck Get -> a1]; Delete(a); return
//	Y (after return): Get -> absent; miss; must not join X
func TestFlightOpenedBeforeDeleteIsNotJoinedAfterInvalidate(t *testing.T) {
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				gate := make(chan struct{})
				src, set := gatedSource(gate)
				ms := newMemStore[string, string]()
				st := &deleteHookStore{memStore: ms}
				l := pipeline.Cache("l", st, nil)(src)

				xRelease, xRechecked, xGo := make(chan struct{}), make(chan struct{}), make(chan struct{})
				var reads atomic.Int64
				ms.afterGet = func() {
					switch reads.Add(1) {
					case 2: // X's first read: absent
						<-xRelease
					case 3: // X's recheck inside its flight: a1
						close(xRechecked)
						<-xGo
					}
				}
				w := make(chan string, 1)
				go func() { v, _ := l.Fetch(ctx, "a"); w <- v }() // read #1, then blocks in src
				synctest.Wait()
				x := make(chan string, 1)
				go func() {
					if batch {
						x <- pipeline.FetchMany(ctx, l, []string{"a"})[0].Value
						return
					}
					v, _ := l.Fetch(ctx, "a")
					x <- v
				}()
				synctest.Wait() // X has read the store and waits
				close(gate)
				require.Equal(t, "a1", <-w) // W stored a1 and landed

				set("a2")
				st.beforeDelete = func() { // after bump and flights.drop
					st.beforeDelete = nil
					close(xRelease)
					<-xRechecked
				}
				require.NoError(t, l.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))

				y := make(chan string, 1)
				go func() { v, _ := l.Fetch(ctx, "a"); y <- v }()
				synctest.Wait()
				close(xGo)
				require.Equal(t, "a1", <-x, "X raced the invalidation")
				require.Equal(t, "a2", <-y, "a fetch that started after Invalidate returned got the invalidated value")
			})
		})
	}
}

// Invalidate and Clear called from inside a fill (from next), from
// an observer of Fill, Invalidated, Miss and SharedWait events, and from an
// inner layer's observer while an identity stack drops a key: no deadlock,
// and the values served after return are fresh.
func TestInvalidateFromObserversAndFills(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		src := newSource("a", "a1", "b", "b1")
		var top, in pipeline.Fetcher[string, string]
		var depth atomic.Int32
		obs := pipeline.ObserverFunc[string](func(ctx context.Context, e pipeline.Event[string]) {
			if depth.Add(1) > 1 {
				depth.Add(-1)
				return
			}
			defer depth.Add(-1)
			switch e.Kind {
			case pipeline.Fill, pipeline.Invalidated, pipeline.Miss:
				_ = top.(pipeline.Invalidator[string]).Invalidate(ctx, "b")
				_ = in.(pipeline.Clearer).Clear(ctx)
			}
		})
		in = pipeline.Cache("in", clearStore{newMemStore[string, string]()}, &pipeline.CacheOptions[string]{Observer: obs})(
			pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
				_ = in.(pipeline.Invalidator[string]).Invalidate(ctx, "b") // from inside a fill
				return src.Fetch(ctx, k)
			}))
		top = pipeline.Cache("top", clearStore{newMemStore[string, string]()}, &pipeline.CacheOptions[string]{Observer: obs})(in)
		for range 3 {
			v, err := top.Fetch(ctx, "a")
			require.NoError(t, err)
			require.Equal(t, "a1", v)
			res := pipeline.FetchMany(ctx, top, []string{"a", "b"})
			require.NoError(t, res[1].Err)
			require.NoError(t, in.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
		}
		src.set("a", "a2")
		require.NoError(t, in.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
		v, err := top.Fetch(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, "a2", v)
	})
}

// An expired entry read for stale-if-error before Invalidate's Delete is
// not served to a caller that starts after Invalidate returned, even when
// that caller joins a flight opened before and below fails:
//
//	X: GetEntry(a) -> expired a1 (kept as old) ...................... miss: flight F, old = a1
//	Invalidate(a): Delete(a); return
//	Y (after return): GetEntry -> absent; miss; joins F
//	F: below fails -> Y must not get a1
//
// Cases: single (X's miss did not recheck), batch-recheck (a flight landed
// and the batch rechecks), single-clear (Clear instead of Invalidate), and
// single-recheck as the control.
func TestStaleValueReadBeforeInvalidateIsNotServedAfterIt(t *testing.T) {
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

// A flight dropped by Invalidate while its uncancellable leader
// still runs, a new flight of the key in the same slot, then the old leader
// lands: remove leaves the new flight (pointer compare), the old one goes to
// the free list and is reused for another key, and a joiner of the new
// flight still gets the new leader's value (no shared flight under -race).
func TestDroppedFlightLandingAfterNewFlightLeavesIt(t *testing.T) {
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

// An inner hit that reads the old value just before an invalidation of the
// inner key may reach the caller, but the outer layer does not keep it (or
// the value derived from it), whether the outer layer is directly over the
// inner one or reads it through a key mapper (a tree):
//
//	O.Fetch(a/0): O misses
//	  I.Fetch(a): store.Get → "a1" (old)
//	    Invalidate(I, a) returns
//	O.Fetch(a/0) → "A1" (the raced fetch may return it)
//	O.Fetch(a/0) after Invalidate returned → "A2"
func TestInnerHitRacingInvalidateIsNotKeptAbove(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// stack builds top over raw, over src.
		stack    func(src pipeline.Fetcher[string, string]) (top, raw pipeline.Fetcher[string, string], rawStore *memStore[string, string])
		key      string // the key fetched from top
		old, new string // what top serves before and after the invalidation
	}{
		{
			name: "direct stack",
			stack: func(src pipeline.Fetcher[string, string]) (top, raw pipeline.Fetcher[string, string], rawStore *memStore[string, string]) {
				top, raw, _, rawStore = direct(src)
				return top, raw, rawStore
			},
			key: "a", old: "a1", new: "a2",
		},
		{
			name: "tree",
			stack: func(src pipeline.Fetcher[string, string]) (top, raw pipeline.Fetcher[string, string], rawStore *memStore[string, string]) {
				rawStore = newMemStore[string, string]()
				raw = pipeline.Cache("raw", rawStore, nil)(src)
				top = pipeline.Cache("top", newMemStore[string, string](), nil)(upper{raw})
				return top, raw, rawStore
			},
			key: "a/0", old: "A1", new: "A2",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			src := newSource("a", "a1")
			top, raw, rawStore := tc.stack(src)
			_, err := raw.Fetch(ctx, "a") // raw holds a1, top nothing
			require.NoError(t, err)
			src.set("a", "a2")

			var fired atomic.Bool
			rawStore.afterGet = func() { // after raw read a1 for top, before top stores it
				if fired.CompareAndSwap(false, true) {
					require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
				}
			}
			v, err := top.Fetch(ctx, tc.key)
			require.NoError(t, err)
			require.Equal(t, tc.old, v, "the fetch that raced may return the old value")
			require.True(t, fired.Load())

			v, err = top.Fetch(ctx, tc.key)
			require.NoError(t, err)
			require.Equal(t, tc.new, v, "a fetch that starts after Invalidate returned must not get the invalidated value")
		})
	}
}

// A reader of the inner layer whose snapshot falls between the move of the
// generation and the Delete reads the old value; if it records its dependent
// after drop has dropped the dependents, nothing else drops the outer value.
// drop moves the generation again after the Delete, so register drops it:
//
//	raw.drop(a): gen++ ........ Delete(a) ... dropDependents(a) ... returns
//	top miss -> raw.Fetch(a): snapshot gen (new); Get -> a1 (old) ........ register: gen unchanged, record top:a/0
//	top stores A1 and serves it after Invalidate returned.
func TestInnerReadBetweenBumpAndDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newSource("a", "a1")
	rawStore := deleteHookStore{memStore: newMemStore[string, string]()}
	raw := pipeline.Cache("raw", &rawStore, nil)(src)
	top := pipeline.Cache("top", newMemStore[string, string](), nil)(upper{raw})
	_, err := raw.Fetch(ctx, "a") // raw holds a1
	require.NoError(t, err)

	read, release := make(chan struct{}), make(chan struct{})
	var armed atomic.Bool
	rawStore.afterGet = func() {
		if armed.CompareAndSwap(true, false) {
			close(read)
			<-release // record after the invalidation has dropped the dependents
		}
	}
	type result struct {
		v   string
		err error
	}
	got := make(chan result, 1)
	rawStore.beforeDelete = func() { // raw.drop has bumped its generation
		rawStore.beforeDelete = nil
		armed.Store(true)
		go func() {
			v, err := top.Fetch(ctx, "a/0")
			got <- result{v, err}
		}()
		<-read // the reader has read a1 from raw's store
	}
	src.set("a", "a2")
	require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
	close(release)
	r := <-got
	require.NoError(t, r.err)
	require.Equal(t, "A1", r.v, "the fetch that raced may return the old value")

	v, err := top.Fetch(ctx, "a/0")
	require.NoError(t, err)
	require.Equal(t, "A2", v, "a fetch that starts after Invalidate returned must not get the invalidated value")
}

// A fill's write that began before an invalidation does not land after it:
// a fill checks the generation and writes under the layer's fillMu, which
// Invalidate and Clear take to move the generation, so they wait for the
// write and then delete it: the fill's write of the old value is never
// visible after Invalidate or Clear returned.
func TestFillWriteDoesNotOutliveInvalidation(t *testing.T) {
	for _, op := range []string{"invalidate", "clear"} {
		for _, batch := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/batch=%v", op, batch), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				src := newSource("a", "a1")
				store := newMemStore[string, string]()
				f := pipeline.Cache("l", clearStore{store}, nil)(src)
				checked, letWrite := make(chan struct{}), make(chan struct{})
				written, letGo := make(chan struct{}), make(chan struct{})
				store.beforeSet = func() { // the fill has checked the generation
					store.beforeSet = nil
					close(checked)
					<-letWrite
				}
				store.afterSet = func() {
					store.afterSet = nil
					close(written)
					<-letGo
				}
				fill := make(chan string, 1)
				go func() {
					if batch {
						fill <- pipeline.FetchMany(ctx, f, []string{"a"})[0].Value
						return
					}
					v, _ := f.Fetch(ctx, "a")
					fill <- v
				}()
				<-checked
				src.set("a", "a2")
				done := make(chan error, 1)
				go func() {
					if op == "clear" {
						done <- f.(pipeline.Clearer).Clear(ctx)
					} else {
						done <- f.(pipeline.Invalidator[string]).Invalidate(ctx, "a")
					}
				}()
				select {
				case err := <-done: // returned before the fill wrote: its write must not be seen
					require.NoError(t, err)
					close(letWrite)
					<-written
					v, err := f.Fetch(ctx, "a")
					close(letGo)
					require.NoError(t, err)
					require.Equal(t, "a2", v, "a fetch after the invalidation returned got the old value")
				case <-time.After(20 * time.Millisecond): // waits for the write, as it should
					close(letWrite)
					<-written
					close(letGo)
					require.NoError(t, <-done)
				}
				require.Equal(t, "a1", <-fill, "the racing fill returns what it fetched")
				v, err := f.Fetch(ctx, "a")
				require.NoError(t, err)
				require.Equal(t, "a2", v)
			})
		}
	}
}

// An outer fill whose inner read got the old value just before an
// invalidation of the inner layer must be known to that invalidation: a
// fetch of the outer layer that starts after Invalidate returned must not
// join it. The inner layer records the outer key before it reads, so the
// invalidation finds the record and drops the outer key, flight included.
func TestOuterFlightOfInvalidatedValueIsNotJoined(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		src := newSource("a", "a1")
		rawStore := newMemStore[string, string]()
		raw := pipeline.Cache("raw", rawStore, nil)(src)
		top := pipeline.Cache("top", newMemStore[string, string](), nil)(upper{raw})
		_, err := raw.Fetch(ctx, "a") // raw holds a1
		require.NoError(t, err)

		read, release := make(chan struct{}), make(chan struct{})
		rawStore.afterGet = func() {
			rawStore.afterGet = nil
			close(read)
			<-release
		}
		first := make(chan string, 1)
		go func() { v, _ := top.Fetch(ctx, "a/0"); first <- v }()
		<-read // top's fill has read a1 from raw
		src.set("a", "a2")
		require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))

		second := make(chan string, 1)
		go func() { v, _ := top.Fetch(ctx, "a/0"); second <- v }()
		synctest.Wait()
		close(release)
		require.Equal(t, "A1", <-first, "the fetch that raced may return the old value")
		require.Equal(t, "A2", <-second, "a fetch that starts after Invalidate returned must not get the invalidated value")
	})
}

func TestCacheInvalidate(t *testing.T) {
	t.Parallel()
	src := newSource("a", "A")
	innerStore, outerStore := newMemStore[string, string](), newMemStore[string, string]()
	inner := pipeline.Cache("inner", innerStore, nil)(src)
	outer := pipeline.Cache("outer", outerStore, nil)(inner)
	_, err := outer.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.True(t, innerStore.has("a"))
	require.True(t, outerStore.has("a"))

	err = pipeline.Invalidate(t.Context(), outer, "a")
	require.NoError(t, err)
	require.False(t, innerStore.has("a"))
	require.False(t, outerStore.has("a"))
	src.set("a", "A2")
	v, err := outer.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, "A2", v)

	err = pipeline.Invalidate(t.Context(), pipeline.Fetcher[string, string](src), "a")
	require.NoError(t, err)
}

func TestCacheFillRacingInvalidationIsNotKept(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("a", "old")
		src.gate = make(chan struct{})
		store := newMemStore[string, string]()
		f := pipeline.Cache("l", store, nil)(src)
		got := make(chan string)
		go func() {
			v, _ := f.Fetch(t.Context(), "a")
			got <- v
		}()
		synctest.Wait()
		// The value changes and is invalidated while the old one is in flight.
		src.set("a", "new")
		err := pipeline.Invalidate(t.Context(), f, "a")
		require.NoError(t, err)
		close(src.gate)
		require.Equal(t, "new", <-got) // this source reads after the gate
		require.False(t, store.has("a"), "a fill that raced an invalidation is not stored")
	})
}
