package pipeline_test

import (
	"context"
	"fmt"
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

// Was a bug, fixed: drop removes the key's flight (and bump closes batch flights) BEFORE
// it deletes the key from the store. A flight opened in between whose
// recheck reads the store still sees the old value, and it stays in the
// flight table after Invalidate returned, so a fetch that starts afterwards
// (and finds the store empty) joins it and gets the invalidated value.
//
//	W fills a1; X read the store (absent) before W landed, so X will recheck
//	Invalidate: bump; flights.drop(a); [X: no flight, put X, recheck Get -> a1]; Delete(a); return
//	Y (after return): Get -> absent; miss; joins X -> a1
func TestFlightOpenedBeforeDeleteIsNotJoinedAfterInvalidate(t *testing.T) {
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				gate := make(chan struct{})
				var calls atomic.Int64
				var mu sync.Mutex
				val := "a1"
				src := pipeline.FetcherFunc[string, string](func(context.Context, string) (string, error) {
					if calls.Add(1) == 1 {
						<-gate
					}
					mu.Lock()
					defer mu.Unlock()
					return val, nil
				})
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

				mu.Lock()
				val = "a2"
				mu.Unlock()
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

// Was a bug, fixed: Invalidate on an outer layer sets origin so that the inner layer's
// drop skips the outer key (the outer drops it itself afterwards). If the
// inner drop panics (an observer panics on Invalidated), the outer drop
// never runs and the skipped dependent is never dropped: the outer layer
// keeps serving the invalidated value. TestObserverPanicOnInvalidatedStillDropsDependents
// covers only an invalidation started at the inner layer.
//
//	top.Invalidate(k): in.Invalidate(origin=top:k) -> in.drop: bump, Delete, emit panics
//	  deferred dropDependents: identity/recorded top:k == origin -> skipped
//	panic leaves top.Invalidate before top.drop(k): top still holds v1
func TestInnerObserverPanicWhenInvalidatingOuter(t *testing.T) {
	for _, topo := range []string{"identity", "recorded"} {
		t.Run(topo, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			src := newSource("a", "a1")
			panicky := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
				if e.Kind == pipeline.Invalidated {
					panic("observer")
				}
			})
			in := pipeline.Cache("in", newMemStore[string, string](), &pipeline.CacheOptions[string]{Observer: panicky})(src)
			var top pipeline.Fetcher[string, string]
			key := "a"
			if topo == "identity" {
				top = pipeline.Cache("top", newMemStore[string, string](), nil)(in)
			} else {
				top = pipeline.Cache("top", newMemStore[string, string](), nil)(upperNoCase{in})
				key = "a/x"
			}
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

// perKeyBatch is a describing key mapper that implements FetchBatch by
// fetching each key on its own, passing the batch's context down: the
// inner cache layer sees the outer batch marker in a single Fetch and
// records the whole outer layer as dependent.
type perKeyBatch struct{ upperNoCase }

func (p perKeyBatch) FetchBatch(ctx context.Context, keys []string, out []pipeline.Result[string]) {
	for i, k := range keys {
		v, err := p.Fetch(ctx, k)
		out[i] = pipeline.Result[string]{Entry: pipeline.Entry[string]{Value: v}, Err: err}
	}
}

// Was a bug, fixed: when a batch reaches an inner layer key by key, the inner layer
// records wholeLayer{outer}, and dropping the inner key "drops" it with
// outer.clearHere. Over a store without a Clear method (a plain Store, which
// is all the Store interface asks for) clearHere only reports an Error
// event: the outer key is not dropped, Invalidate returns nil, and the outer
// layer serves the invalidated value for good.
//
//	outer batch [a/x] -> perKeyBatch -> in.Fetch(ctx with batchMarker): register whole(outer)
//	in.Invalidate(a): dropDependents -> outer.clearHere -> store has no Clear -> Error event only
//	outer.Fetch(a/x) -> a1
func TestWholeLayerDependentOverStoreWithoutClear(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newSource("a", "a1")
	in := pipeline.Cache("in", newMemStore[string, string](), nil)(src)
	var rec recorder[string]
	outer := pipeline.Cache("outer", newMemStore[string, string](), &pipeline.CacheOptions[string]{Observer: &rec})(perKeyBatch{upperNoCase{in}})
	res := pipeline.FetchMany(ctx, outer, []string{"a/x"})
	require.NoError(t, res[0].Err)
	require.Equal(t, "a1", res[0].Value)

	src.set("a", "a2")
	err := in.(pipeline.Invalidator[string]).Invalidate(ctx, "a")
	require.NoError(t, err, "Invalidate reports nothing")
	v, err := outer.Fetch(ctx, "a/x")
	require.NoError(t, err)
	require.Equal(t, "a2", v, "outer serves a value derived from an invalidated inner value (errors seen: %v)", rec.errs())
}

// A batch through a describing mapper that cannot batch goes
// through fanOut, which gives each key its own marker: the record is per
// key and the drop works over a store without Clear.
func TestFanOutBatchRecordsPerKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newSource("a", "a1", "b", "b1")
	in := pipeline.Cache("in", newMemStore[string, string](), nil)(src)
	outer := pipeline.Cache("outer", newMemStore[string, string](), nil)(upperNoCase{in})
	res := pipeline.FetchMany(ctx, outer, []string{"a/x", "b/x", "a/y"})
	for _, r := range res {
		require.NoError(t, r.Err)
	}
	src.set("a", "a2")
	require.NoError(t, in.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
	for _, k := range []string{"a/x", "a/y"} {
		v, err := outer.Fetch(ctx, k)
		require.NoError(t, err)
		require.Equal(t, "a2", v, k)
	}
}

// opaque passes fetches, invalidations and clears to next, but is not a
// Describer: it hides next from the layers above.
type opaque struct {
	next        pipeline.Fetcher[string, string]
	beforeClear func()
}

func (o *opaque) Fetch(ctx context.Context, k string) (string, error) { return o.next.Fetch(ctx, k) }
func (o *opaque) Invalidate(ctx context.Context, k string) error {
	err := pipeline.Invalidate(ctx, o.next, k)
	return err
}
func (o *opaque) Clear(ctx context.Context) error {
	if o.beforeClear != nil {
		o.beforeClear()
	}
	return o.next.(pipeline.Clearer).Clear(ctx)
}

// Was a bug (minor), fixed: Clear clears this layer first and the layers below after,
// the opposite of Invalidate (inward first). When the inner layer does not
// know this one as a dependent (a non-Describer in between), a fill in
// between reads the inner value not yet cleared and keeps it: after Clear
// returned the outer layer serves a value older than the source's.
// Invalidate through the same stack is correct (checked below).
//
//	top.Clear: top.clearHere (bump, store cleared) ; [fill: top miss -> in hit a1 -> top keeps a1] ; in.Clear
//	top.Fetch after Clear returned -> a1
func TestClearGoesInwardFirstOverOpaqueLayer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newSource("a", "a1")
	in := pipeline.Cache("in", clearStore{newMemStore[string, string]()}, nil)(src)
	op := &opaque{next: in}
	top := pipeline.Cache("top", clearStore{newMemStore[string, string]()}, nil)(op)
	_, err := top.Fetch(ctx, "a")
	require.NoError(t, err)

	// Invalidate holds (inward first).
	src.set("a", "a2")
	require.NoError(t, top.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
	v, err := top.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a2", v)

	src.set("a", "a3")
	op.beforeClear = func() {
		op.beforeClear = nil
		v, err := top.Fetch(ctx, "a") // a racing fetch, before in is cleared
		require.NoError(t, err)
		require.Equal(t, "a2", v)
	}
	require.NoError(t, top.(pipeline.Clearer).Clear(ctx))
	v, err = top.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a3", v, "a fetch that started after Clear returned got a value older than the source's")
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

// A store Set that panics under fillMu (read) releases it:
// Invalidate still runs, and later fills are kept. A Set that blocks under
// fillMu makes Invalidate wait (writer) and, with RWMutex writer
// preference, other fills' writes wait too, but all finish once Set
// returns: no deadlock. (Not under synctest: a goroutine blocked on a
// sync.RWMutex is not durably blocked, so synctest.Wait would hang; the
// short sleeps only make the intended interleaving likely, nothing is
// asserted on time.)
func TestStoreSetPanicsOrBlocksUnderFillMu(t *testing.T) {
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

// A refresh-ahead flight whose fetch began before Invalidate and
// returns the old value is neither joined by a fetch that starts after
// Invalidate returned nor kept.
func TestRefreshAheadVsInvalidate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var clockMu sync.Mutex
		clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
		var calls atomic.Int64
		gate := make(chan struct{})
		var mu sync.Mutex
		val := "a1"
		src := pipeline.FetcherFunc[string, string](func(context.Context, string) (string, error) {
			mu.Lock()
			v := val
			mu.Unlock()
			if calls.Add(1) == 2 { // the refresh: read the old value, then wait
				<-gate
			}
			return v, nil
		})
		st := newMemStore[string, string]()
		f := pipeline.Cache("l", st, &pipeline.CacheOptions[string]{TTL: time.Minute, RefreshAhead: 30 * time.Second, Clock: clock})(src)
		v, err := f.Fetch(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, "a1", v)
		clockMu.Lock()
		now = now.Add(45 * time.Second)
		clockMu.Unlock()
		v, err = f.Fetch(ctx, "a") // due: serves a1, refreshes in the background
		require.NoError(t, err)
		require.Equal(t, "a1", v)
		synctest.Wait() // the refresh read a1 from src and waits
		mu.Lock()
		val = "a2"
		mu.Unlock()
		require.NoError(t, f.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
		v, err = f.Fetch(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, "a2", v)
		close(gate)
		synctest.Wait()
		e, ok, _ := st.GetEntry(ctx, "a")
		require.True(t, ok)
		require.Equal(t, "a2", e.Value, "the refresh of the old value was not kept")
		require.NoError(t, f.(pipeline.Closer).Close())
	})
}

// Negative caching through a tree: an outer layer that remembers
// a not-found derived from an inner read that raced an invalidation of the
// inner key forgets it; and a single layer's negative entry does not
// outlive Invalidate.
func TestNegativeEntryVsInvalidate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		src := newSource()
		inStore := newMemStore[string, string]()
		in := pipeline.Cache("in", inStore, &pipeline.CacheOptions[string]{NegativeTTL: time.Hour})(src)
		outer := pipeline.Cache("outer", newMemStore[string, string](), &pipeline.CacheOptions[string]{NegativeTTL: time.Hour})(upperNoCase{in})
		read, release := make(chan struct{}), make(chan struct{})
		inStore.afterGet = func() {
			inStore.afterGet = nil
			close(read)
			<-release
		}
		first := make(chan error, 1)
		go func() { _, err := outer.Fetch(ctx, "a/x"); first <- err }()
		<-read // outer's fill read in's store (absent) and will get not found
		src.set("a", "a1")
		done := make(chan error, 1)
		go func() { done <- in.(pipeline.Invalidator[string]).Invalidate(ctx, "a") }()
		synctest.Wait()
		close(release)
		require.NoError(t, <-done)
		<-first
		v, err := outer.Fetch(ctx, "a/x")
		require.NoError(t, err)
		require.Equal(t, "a1", v)

		// A batch that fetched not-found before an invalidation.
		src2 := newSource()
		l := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{NegativeTTL: time.Hour})(src2)
		require.ErrorIs(t, pipeline.FetchMany(ctx, l, []string{"k"})[0].Err, pipeline.ErrNotFound)
		src2.set("k", "k1")
		require.NoError(t, l.(pipeline.Invalidator[string]).Invalidate(ctx, "k"))
		res := pipeline.FetchMany(ctx, l, []string{"k", "k"})
		require.NoError(t, res[0].Err)
		require.Equal(t, "k1", res[1].Value)
	})
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

// Was a bug, fixed: the window of TestFlightOpenedBeforeDeleteIsNotJoinedAfterInvalidate
// in a tree makes the stale value permanent: an outer fill that starts after
// the inner Invalidate returned registers (too late for that invalidation),
// joins the inner flight that rechecked before the Delete, and keeps the
// old value in the outer store for good.
//
//	raw.Invalidate(a): bump; flights.drop; [X: flight, recheck -> a1]; Delete; dropDependents (none yet); return
//	top.Fetch(a/0): miss; raw.Fetch registers top:a/0, Get absent, joins X -> a1; top keeps A1
func TestTreeDropsValueOfFlightOpenedBeforeDelete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		gate := make(chan struct{})
		var calls atomic.Int64
		var mu sync.Mutex
		val := "a1"
		src := pipeline.FetcherFunc[string, string](func(context.Context, string) (string, error) {
			if calls.Add(1) == 1 {
				<-gate
			}
			mu.Lock()
			defer mu.Unlock()
			return val, nil
		})
		ms := newMemStore[string, string]()
		st := &deleteHookStore{memStore: ms}
		raw := pipeline.Cache("raw", st, nil)(src)
		top := pipeline.Cache("top", newMemStore[string, string](), nil)(upper{raw})

		xRelease, xRechecked, xGo := make(chan struct{}), make(chan struct{}), make(chan struct{})
		var reads atomic.Int64
		ms.afterGet = func() {
			switch reads.Add(1) {
			case 2:
				<-xRelease
			case 3:
				close(xRechecked)
				<-xGo
			}
		}
		w := make(chan string, 1)
		go func() { v, _ := raw.Fetch(ctx, "a"); w <- v }()
		synctest.Wait()
		x := make(chan string, 1)
		go func() { v, _ := raw.Fetch(ctx, "a"); x <- v }()
		synctest.Wait()
		close(gate)
		require.Equal(t, "a1", <-w)

		mu.Lock()
		val = "a2"
		mu.Unlock()
		st.beforeDelete = func() {
			st.beforeDelete = nil
			close(xRelease)
			<-xRechecked
		}
		require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))

		y := make(chan string, 1)
		go func() { v, _ := top.Fetch(ctx, "a/0"); y <- v }()
		synctest.Wait()
		close(xGo)
		<-x
		<-y
		v, err := top.Fetch(ctx, "a/0") // long after: nothing is racing any more
		require.NoError(t, err)
		require.Equal(t, "A2", v, "the outer layer keeps the invalidated value for good")
	})
}

// Was a bug (minor), fixed: an unhashable key is an error at a cache layer, but
// FetchMany through any layer that is not a BatchFetcher (Log, Inspect, a
// user layer) hashes the keys first, in fanOut's distinct, and panics in
// the caller instead of giving that key ErrInvalidKey and fetching the
// others.
func TestFetchManyThroughNonBatchLayerUnhashableKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := pipeline.FetcherFunc[any, string](func(_ context.Context, k any) (string, error) { return fmt.Sprint(k), nil })
	inner := pipeline.Cache("in", newMemStore[any, string](), nil)(src)
	logged := middleware.Inspect[any, string](func(context.Context, any, []pipeline.Event[any], error) {})(inner)
	_, err := logged.Fetch(ctx, []int{1})
	require.ErrorIs(t, err, pipeline.ErrInvalidKey, "a single fetch gets the error")
	var res []pipeline.Result[string]
	require.NotPanics(t, func() { res = pipeline.FetchMany(ctx, logged, []any{"a", []int{1}}) })
	require.NoError(t, res[0].Err)
	require.ErrorIs(t, res[1].Err, pipeline.ErrInvalidKey)
}
