package pipeline_test

// Review tests for the read-through cache layer (cache.go, cache_batch.go,
// cache_background.go, cache_deps.go): interleavings found in a review, each
// of which once broke a contract (the comment on each says how), and risky
// paths that had no test.

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

	"github.com/multilayer-cache/multilayer/pipeline"
)

// hookMapper maps "blob/version" keys to "blob" like upper does, and runs
// beforeInward (if set) inside Invalidate, after the outer layer dropped its
// key and before the invalidation reaches the inner layer.
type hookMapper struct {
	next         pipeline.Fetcher[string, string]
	beforeInward func()
}

func (m *hookMapper) inner(k string) string { b, _, _ := strings.Cut(k, "/"); return b }
func (m *hookMapper) Fetch(ctx context.Context, k string) (string, error) {
	v, err := m.next.Fetch(ctx, m.inner(k))
	return strings.ToUpper(v), err
}
func (m *hookMapper) Describe() pipeline.Description {
	return pipeline.Description{Kind: "map key", Next: []any{m.next}}
}
func (m *hookMapper) Invalidate(ctx context.Context, k string) error {
	if m.beforeInward != nil {
		m.beforeInward()
	}
	err := pipeline.Invalidate(ctx, m.next, m.inner(k))
	return err
}

// ---------------------------------------------------------------------------
// Confirmed bugs
// ---------------------------------------------------------------------------

// Regression 1 (fixed). batchMiss indexes olds (the expired entries kept for stale-if-error)
// by the position in work before the coalescing loop compacts work: a key
// repeated in the batch is removed from work as a dup, so every later key
// reads the old entry of the key before it. With keys [a, a, b], all expired,
// olds = [a_old, a_old, b_old] but work becomes [a, b]; runBatch takes
// olds[1] = a_old for b. When below fails, b is answered with a's stale value
// and a nil error.
//
// At fault: cache_batch.go:103-108 (olds[len(work)] before the compaction at
// :115-135) and :280 (olds[n] with n an index in the compacted work).
// Fix: keep the old entry in batchKey (batchKey.old) instead of a parallel
// slice, or compact olds together with work.
func TestReviewBatchDupShiftsStaleValues(t *testing.T) {
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

// Regression 2a (fixed). With NoCoalesce, batchMiss finds repeated keys with seen, but sets
// seen[k] = len(work) before the negative-cache check; a negatively cached
// key is then skipped without taking that work slot, so its later
// occurrences are resolved by the flight of the next missed key. With keys
// [x, y, x] and x remembered as not found, out[2] gets y's value with a nil
// error.
//
// At fault: cache_batch.go:90-101 (seen[k] set before the `continue` of the
// negative hit). Fix: check the negative cache before recording k in seen,
// and record negative hits in seen too (e.g. seen[k] = -1 → copy out[first]).
func TestReviewBatchNoCoalesceNegativeDupGetsOtherKey(t *testing.T) {
	t.Parallel()
	bulk := &bulkSource{}
	f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
		NoCoalesce: true, NegativeTTL: time.Minute,
	})(pipeline.BulkFunc[string, string](bulk.fetch))
	ctx := context.Background()
	_, err := f.Fetch(ctx, "x") // remembered as not found
	require.ErrorIs(t, err, pipeline.ErrNotFound)

	res := pipeline.FetchMany(ctx, f, []string{"x", "y", "x"})
	require.ErrorIs(t, res[0].Err, pipeline.ErrNotFound)
	require.NoError(t, res[1].Err)
	require.Equal(t, "vy", res[1].Value)
	require.ErrorIs(t, res[2].Err, pipeline.ErrNotFound, "x must not get y's value %q", res[2].Value)
}

// Regression 2b (fixed). Same cause as 2a: when no missed key follows, the repeated
// negatively cached key points at an unused flight slot whose done channel is
// nil; isClosed(nil) is false, so the result is {Err: ctx.Err()} = a zero
// value with a nil error, which the Fetcher contract forbids.
func TestReviewBatchNoCoalesceNegativeDupZeroValueNilError(t *testing.T) {
	t.Parallel()
	bulk := &bulkSource{}
	f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
		NoCoalesce: true, NegativeTTL: time.Minute,
	})(pipeline.BulkFunc[string, string](bulk.fetch))
	ctx := context.Background()
	_, err := f.Fetch(ctx, "x")
	require.ErrorIs(t, err, pipeline.ErrNotFound)

	res := pipeline.FetchMany(ctx, f, []string{"x", "x"})
	require.ErrorIs(t, res[0].Err, pipeline.ErrNotFound)
	require.ErrorIs(t, res[1].Err, pipeline.ErrNotFound)
}

// Regression 3 (fixed). A not-found result that raced an invalidation is remembered by the
// negative cache. finish/failed add the key to the negative cache without
// comparing the generation read before the fetch (put does compare it):
//
//	A: Fetch(k) misses, load reads gen, source answers "not found" (slow)
//	B: writes k at the source, Invalidate(k): gen++, neg.remove(k), Delete
//	A: failed → neg.add(k)
//	C: Fetch(k) after Invalidate returned → NegativeHit, ErrNotFound for
//	   NegativeTTL although the value exists.
//
// At fault: cache.go:508-511 (neg.add with no gen check); also reached from
// runBatch. Fix: pass gen to failed and add only if c.gen.Load() == gen,
// removing again if gen moved after the add (as put does).
func TestReviewNegativeFillRacingInvalidationIsKept(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		data := map[string]string{}
		gate := make(chan struct{})
		src := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
			mu.Lock()
			v, ok := data[k]
			mu.Unlock()
			<-gate // the answer is decided, the reply is slow
			if !ok {
				return "", fmt.Errorf("%s: %w", k, pipeline.ErrNotFound)
			}
			return v, nil
		})
		f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{NegativeTTL: time.Hour})(src)
		errc := make(chan error)
		go func() {
			_, err := f.Fetch(t.Context(), "k")
			errc <- err
		}()
		synctest.Wait()
		mu.Lock()
		data["k"] = "V"
		mu.Unlock()
		err := pipeline.Invalidate(t.Context(), f, "k")
		require.NoError(t, err)
		close(gate)
		require.ErrorIs(t, <-errc, pipeline.ErrNotFound, "the raced fetch itself may answer not found")

		v, err := f.Fetch(t.Context(), "k")
		require.NoError(t, err, "a fetch that starts after Invalidate returned must not be answered by the negative cache")
		require.Equal(t, "V", v)
	})
}

// Regression 4a (fixed). Tree: an inner layer records a dependent only after it has served
// the value, so an invalidation of the inner key that runs between the inner
// store read and the record finds no dependent to drop, and the outer layer
// then stores the value derived from the invalidated one:
//
//	O.Fetch(a/0): O misses, O.load reads O.gen
//	  I.Fetch(a): store.Get → "a1" (old)
//	    Invalidate(I, a): I.gen++, Delete(a), dropDependents(a): none yet
//	  I.hit → register: records a → O:a/0 (too late)
//	O.finish: O.gen unchanged → stores "A1"
//	O.Fetch(a/0) after Invalidate returned → "A1" (stale) until the next
//	invalidation of a.
//
// At fault: cache.go:280-283 / 331-340 (register after the store read) and
// cache.go:353-356 (register after the fill) with cache_deps.go:191 (record
// does not look at the generation). Fix: in register, read c.gen before the
// store read / fill and, if it moved by the time the dependent is recorded,
// call d.dropDerived(ctx) (which bumps the outer gen so the outer fill is not
// kept); or record the dependent before reading the store.
func TestReviewTreeInnerHitRacingInvalidateKeepsStaleOuter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newSource("a", "a1")
	rawStore := newMemStore[string, string]()
	raw := pipeline.Cache("raw", rawStore, nil)(src)
	topStore := newMemStore[string, string]()
	top := pipeline.Cache("top", topStore, nil)(upper{raw})

	_, err := raw.Fetch(ctx, "a") // raw holds a1, no dependent recorded
	require.NoError(t, err)
	src.set("a", "a2")

	var fired atomic.Bool
	rawStore.afterGet = func() { // between raw's store read and its record
		if fired.CompareAndSwap(false, true) {
			require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
		}
	}
	v, err := top.Fetch(ctx, "a/0")
	require.NoError(t, err)
	require.Equal(t, "A1", v, "the fetch that raced may return the old value")
	require.True(t, fired.Load())

	v, err = top.Fetch(ctx, "a/0")
	require.NoError(t, err)
	require.Equal(t, "A2", v, "a fetch that starts after Invalidate returned must not get the invalidated value")
}

// Regression 4b (fixed). The same race on the fill path of the inner layer: the inner fill
// is (rightly) not kept by the inner layer, but it is returned, recorded
// after the invalidation, and kept by the outer layer.
func TestReviewTreeInnerFillRacingInvalidateKeepsStaleOuter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var mu sync.Mutex
	val := "a1"
	var raw pipeline.Fetcher[string, string]
	var fired atomic.Bool
	src := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
		mu.Lock()
		v := val
		mu.Unlock()
		if fired.CompareAndSwap(false, true) {
			// The value changes and is invalidated while a1 is on its way up.
			mu.Lock()
			val = "a2"
			mu.Unlock()
			if err := raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a"); err != nil {
				return "", err
			}
		}
		return v, nil
	})
	rawStore := newMemStore[string, string]()
	raw = pipeline.Cache("raw", rawStore, nil)(src)
	topStore := newMemStore[string, string]()
	top := pipeline.Cache("top", topStore, nil)(upper{raw})

	v, err := top.Fetch(ctx, "a/0")
	require.NoError(t, err)
	require.Equal(t, "A1", v)
	require.False(t, rawStore.has("a"), "the inner layer does not keep the raced fill")

	v, err = top.Fetch(ctx, "a/0")
	require.NoError(t, err)
	require.Equal(t, "A2", v, "nor may the outer layer keep the value derived from it")
}

// Regression 5 (fixed). Invalidate on an outer layer drops the outer key first and only then
// goes inward, passing an originKey so that the inner layer does not drop
// the origin's key "again". But between the two steps a fetch of the outer
// key can refill it from the inner layer's still-old value (and record the
// dependency again); the inner drop then skips exactly that dependent:
//
//	O.Invalidate(a/0): O.drop(a/0)
//	    O.Fetch(a/0): O misses, I hits a1, records a → O:a/0, O stores A1
//	  I.Invalidate(a, origin O:a/0): Delete(a), dependents {O:a/0}: skipped
//	O.Fetch(a/0) after Invalidate returned → A1 (stale).
//
// At fault: cache_deps.go:234-238 (the origin skip). Fix: drop every
// dependent, origin included (the second drop is cheap and idempotent), or
// go inward first and drop the outer key last.
func TestReviewTreeOriginSkipKeepsRefilledOuter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newSource("a", "a1")
	raw := pipeline.Cache("raw", newMemStore[string, string](), nil)(src)
	m := &hookMapper{next: raw}
	top := pipeline.Cache("top", newMemStore[string, string](), nil)(m)

	v, err := top.Fetch(ctx, "a/0")
	require.NoError(t, err)
	require.Equal(t, "A1", v)
	src.set("a", "a2")

	var fired atomic.Bool
	m.beforeInward = func() { // after top dropped a/0, before raw drops a
		if fired.CompareAndSwap(false, true) {
			v, err := top.Fetch(ctx, "a/0") // a concurrent reader
			require.NoError(t, err)
			require.Equal(t, "A1", v)
		}
	}
	require.NoError(t, top.(pipeline.Invalidator[string]).Invalidate(ctx, "a/0"))
	require.True(t, fired.Load())

	v, err = top.Fetch(ctx, "a/0")
	require.NoError(t, err)
	require.Equal(t, "A2", v, "after Invalidate returned, the value derived from the old inner value must be gone")
}

// Regression 6 (fixed). In batchMiss the batch registers its own flights in c.flights and
// then, before starting runBatch (which alone can close them), emits
// SharedWait for the flights it joined. If the observer panics there, the
// panic leaves the batch's own flights in the map with a done channel that
// nobody will ever close: every later fetch of those keys joins a dead flight
// and hangs until its ctx ends (forever for a ctx that cannot be cancelled).
// The single-key path has no such gap (it emits SharedWait only as a waiter).
//
// At fault: cache_batch.go:138-142 (user code between registration at :132
// and runBatch at :148/:153). Fix: emit SharedWait before registering, or
// collect the keys and emit after runBatch was started, or guard with a
// deferred release of the own flights.
func TestReviewBatchObserverPanicLeavesFlightsStuck(t *testing.T) {
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

// Regression 7 (fixed). refresh registers a flight (done == nil) and only then asks
// background to start it; when the layer is closed, background refuses and
// refresh deletes the flight again, but never closes its done channel. A
// caller that missed the store in that window (its entry expired by its
// clock, or its Get failed) joined the flight, made done, and waits forever
// (or until its ctx ends):
//
//	A: hit, due → refresh: flights[k] = f, unlock
//	B: miss → flights[k] found → f.done = make(chan) → wait(f)
//	A: background() == false (closed) → delete(flights, k); f.done never closed
//
// At fault: cache_background.go:92-99 (the !started path). Fix: check closed
// before registering the flight, or, in the !started path, set f.err (e.g.
// context.Canceled / an ErrClosed) and close f.done if it is non-nil, under
// c.mu. The window has no hook, so this test is a stress test: it may need
// several runs to hit it.
func TestReviewRefreshAfterCloseAbandonsWaiter(t *testing.T) {
	t.Parallel()
	type forceMiss struct{}
	now := time.Now()
	store := newMemStore[string, string]()
	missing := &missOnCtx{memStore: store, key: forceMiss{}}
	src := newSource("k", "V")
	f := pipeline.Cache("l", missing, &pipeline.CacheOptions[string]{
		TTL: time.Minute, RefreshAhead: 2 * time.Minute, // every hit is due
		Clock: func() time.Time { return now },
	})(src)
	require.NoError(t, f.(pipeline.Closer).Close())
	_, err := f.Fetch(context.Background(), "k")
	require.NoError(t, err)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // A: due hits, each trying a refresh that background refuses
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = f.Fetch(context.Background(), "k")
		}
	})
	var hung atomic.Int64
	mctx := context.WithValue(context.Background(), forceMiss{}, true)
	for range 20000 {
		ctx, cancel := context.WithTimeout(mctx, 5*time.Second)
		_, err := f.Fetch(ctx, "k") // B: misses, joins any flight it finds
		cancel()
		if err != nil {
			hung.Add(1)
			break
		}
	}
	close(stop)
	wg.Wait()
	require.Zero(t, hung.Load(), "a waiter that joined an abandoned refresh flight hung")
}

// missOnCtx is a store that reports a miss when ctx carries key.
type missOnCtx struct {
	*memStore[string, string]
	key any
}

func (m *missOnCtx) GetEntry(ctx context.Context, k string) (pipeline.Entry[string], bool, error) {
	if ctx.Value(m.key) != nil {
		return pipeline.Entry[string]{}, false, nil
	}
	return m.memStore.GetEntry(ctx, k)
}

func (m *missOnCtx) Get(ctx context.Context, k string) (string, bool, error) {
	if ctx.Value(m.key) != nil {
		return "", false, nil
	}
	return m.memStore.Get(ctx, k)
}

// Regression 6b (fixed). Same class as BUG 6, on runBatch's own panic path: the recovered
// panic is reported (c.panicked → emit Error) inside the deferred function
// that also bumps landed, deletes the batch's flights and closes done. If the
// observer panics on that Error event, the rest of the defer never runs: the
// flights stay in the map with done open, and every later fetch of those keys
// hangs. The single-key path is immune (run's cleanup is a separate defer
// from load's recover).
//
// At fault: cache_batch.go:219-239 (panicked called before the cleanup in the
// same defer). Fix: do the cleanup in its own defer registered first (so it
// runs last), or report the panic after releasing the flights.
func TestReviewBatchPanicReportPanicsLeavesFlightsStuck(t *testing.T) {
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

// BUG 8 (minor, events). With coalescing on (the default), a key repeated in
// a batch emits one Miss per occurrence but one Fill; with NoCoalesce it
// emits one Miss. Miss counts (and so the hit ratio of the stats) depend on
// the coalescing mode and over-count misses. The first loop of batchMiss
// emits Miss before the coalescing loop finds the repeats.
//
// At fault: cache_batch.go:102 (Miss emitted before dups are known when
// coalescing). Fix: emit Miss after the coalescing loop for the keys the batch
// leads or joins (or SharedWait for repeats), as the NoCoalesce path does.
func TestReviewBatchRepeatedKeyEventsDependOnCoalescing(t *testing.T) {
	t.Parallel()
	events := func(noCoalesce bool) []string {
		rec := &recorder[string]{}
		f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
			Observer: rec, NoCoalesce: noCoalesce,
		})(pipeline.BulkFunc[string, string]((&bulkSource{}).fetch))
		pipeline.FetchMany(context.Background(), f, []string{"a", "a", "b"})
		return rec.list()
	}
	require.Equal(t, events(true), events(false))
}

// ---------------------------------------------------------------------------
// Risky paths that are correct today
// ---------------------------------------------------------------------------

// The landed optimisation in FetchBatch: a batch whose store read of a key
// missed just before a single flight of that key landed and left the map
// must find the value inside its own flight (recheck), not fetch it again;
// and with no landing in between it must not read the store twice.
func TestReviewBatchRechecksStoreInsideFlight(t *testing.T) {
	t.Parallel()
	bulk := &bulkSource{}
	store := newMemStore[string, string]()
	f := pipeline.Cache("l", store, nil)(pipeline.BulkFunc[string, string](bulk.fetch))
	ctx := context.Background()

	_ = pipeline.FetchMany(ctx, f, []string{"p"})
	require.EqualValues(t, 1, store.gets.Load()+store.batchGets.Load(), "no landing in between: no second store read")

	var fired atomic.Bool
	store.afterGet = func() {
		if fired.CompareAndSwap(false, true) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = f.Fetch(ctx, "k") // lands between the batch's read and its flight
			}()
			<-done
		}
	}
	res := pipeline.FetchMany(ctx, f, []string{"k", "q"})
	require.NoError(t, res[0].Err)
	require.Equal(t, "vk", res[0].Value)
	require.Equal(t, "vq", res[1].Value)
	require.Equal(t, [][]string{{"p"}, {"k"}, {"q"}}, bulk.callList(), "k is not fetched again by the batch")
}

// plainHits must be off when the layer has its own clock: the store's Get
// judges expiry by time.Now, the layer by Clock. With a clock an hour behind,
// an entry filled with TTL 1m is expired for Get but fresh for the layer.
func TestReviewOwnClockDisablesPlainHits(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
		calls.Add(1)
		return "v" + k, nil
	})
	clock := func() time.Time { return time.Now().Add(-time.Hour) }
	f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
		TTL: time.Minute, Clock: clock,
	})(src)
	ctx := context.Background()
	_, err := f.Fetch(ctx, "k")
	require.NoError(t, err)
	v, err := f.Fetch(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "vk", v)
	res := pipeline.FetchMany(ctx, f, []string{"k"})
	require.NoError(t, res[0].Err)
	require.EqualValues(t, 1, calls.Load(), "fresh by the layer's clock: hits")

	// And the plain fast path does refetch an entry expired by time.Now.
	plainStore := newMemStore[string, string]()
	require.NoError(t, plainStore.SetEntry(ctx, "k", pipeline.Entry[string]{Value: "old", Expires: time.Now().Add(-time.Second)}))
	g := pipeline.Cache("g", plainStore, &pipeline.CacheOptions[string]{TTL: time.Minute})(src)
	v, err = g.Fetch(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "vk", v)
	res = pipeline.FetchMany(ctx, g, []string{"k"})
	require.Equal(t, "vk", res[0].Value)
}

// A miss that finds a refresh-ahead flight of its key joins it (the refresh
// flight is registered with done == nil; the waiter makes the channel).
func TestReviewMissJoinsRefreshFlight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", "V")
		rec := &recorder[string]{}
		f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
			TTL: time.Minute, RefreshAhead: 10 * time.Second, Observer: rec,
		})(src)
		defer f.(pipeline.Closer).Close()
		ctx := t.Context()
		_, err := f.Fetch(ctx, "k")
		require.NoError(t, err)

		src.gate = make(chan struct{})
		time.Sleep(55 * time.Second)
		v, err := f.Fetch(ctx, "k") // due: served, refresh starts and blocks
		require.NoError(t, err)
		require.Equal(t, "V", v)
		synctest.Wait()
		require.EqualValues(t, 2, src.calls.Load())

		time.Sleep(10 * time.Second) // expired now
		rec.list()
		got := make(chan string)
		go func() {
			v, _ := f.Fetch(ctx, "k")
			got <- v
		}()
		synctest.Wait()
		require.Equal(t, []string{"miss l k", "shared wait l k"}, rec.list())
		src.set("k", "V2")
		close(src.gate)
		require.Equal(t, "V2", <-got)
		require.EqualValues(t, 2, src.calls.Load(), "the miss joined the refresh")
	})
}

// A refresh under way when its key is invalidated is not kept.
func TestReviewRefreshRacingInvalidationNotKept(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", "V")
		store := newMemStore[string, string]()
		f := pipeline.Cache("l", store, &pipeline.CacheOptions[string]{
			TTL: time.Minute, RefreshAhead: 10 * time.Second,
		})(src)
		defer f.(pipeline.Closer).Close()
		ctx := t.Context()
		_, err := f.Fetch(ctx, "k")
		require.NoError(t, err)
		src.gate = make(chan struct{})
		time.Sleep(55 * time.Second)
		_, err = f.Fetch(ctx, "k") // starts the refresh
		require.NoError(t, err)
		synctest.Wait()
		err = pipeline.Invalidate(ctx, f, "k")
		require.NoError(t, err)
		close(src.gate)
		synctest.Wait()
		require.False(t, store.has("k"), "the refresh raced the invalidation")
	})
}

// Close cancels a refresh under way and waits for it.
func TestReviewCloseCancelsRefresh(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", "V")
		f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
			TTL: time.Minute, RefreshAhead: 10 * time.Second, FetchTimeout: -1,
		})(src)
		ctx := t.Context()
		_, err := f.Fetch(ctx, "k")
		require.NoError(t, err)
		src.gate = make(chan struct{}) // never opens
		time.Sleep(55 * time.Second)
		_, err = f.Fetch(ctx, "k")
		require.NoError(t, err)
		synctest.Wait()
		start := time.Now()
		require.NoError(t, f.(pipeline.Closer).Close())
		require.Zero(t, time.Since(start))
		// After Close: a due hit starts no refresh, and misses still work.
		_, err = f.Fetch(ctx, "k")
		require.NoError(t, err)
		require.EqualValues(t, 2, src.calls.Load())
	})
}

// A batch that joins a single flight and repeats keys: every position gets
// its own key's result, each key is fetched once; cancelling the batch
// answers the open positions, repeats included, with ctx.Err() at once. (The
// flights a batch leads end together, so a, fetched, is still open while c
// is: by design.)
func TestReviewBatchJoinedAndRepeatedPositions(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		fetched := map[string]int{}
		gates := map[string]chan struct{}{"b": make(chan struct{}), "c": make(chan struct{})}
		src := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
			mu.Lock()
			fetched[k]++
			g := gates[k]
			mu.Unlock()
			if g != nil {
				<-g
			}
			return "v" + k, nil
		})
		f := pipeline.Cache("l", newMemStore[string, string](), nil)(src)
		single := make(chan string)
		go func() {
			v, _ := f.Fetch(t.Context(), "b")
			single <- v
		}()
		synctest.Wait()

		keys := []string{"b", "a", "b", "c", "a", "c"}
		ctx, cancel := context.WithCancel(t.Context())
		var res []pipeline.Result[string]
		done := make(chan struct{})
		go func() {
			res = pipeline.FetchMany(ctx, f, keys)
			close(done)
		}()
		synctest.Wait()
		close(gates["b"])
		require.Equal(t, "vb", <-single)
		synctest.Wait()
		cancel() // c still in flight
		<-done
		require.Equal(t, "vb", res[0].Value)
		require.Equal(t, "vb", res[2].Value)
		for _, i := range []int{1, 3, 4, 5} {
			require.ErrorIs(t, res[i].Err, context.Canceled, "position %d", i)
		}
		close(gates["c"])
		synctest.Wait()
		require.Equal(t, map[string]int{"a": 1, "b": 1, "c": 1}, fetched)
		v, err := f.Fetch(t.Context(), "c")
		require.NoError(t, err)
		require.Equal(t, "vc", v)
		mu.Lock()
		require.Equal(t, 1, fetched["c"], "the detached batch kept c")
		mu.Unlock()
	})
}

// Close while a detached batch is under way cancels it and waits; the
// batch's caller gets the cancellation; nothing stays in flight.
func TestReviewCloseDuringBatch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bulk := &bulkSource{gate: make(chan struct{})} // never opens
		f := pipeline.Cache("l", newMemStore[string, string](), nil)(pipeline.BulkFunc[string, string](bulk.fetch))
		var res []pipeline.Result[string]
		done := make(chan struct{})
		go func() {
			res = pipeline.FetchMany(t.Context(), f, []string{"a", "b"})
			close(done)
		}()
		synctest.Wait()
		require.NoError(t, f.(pipeline.Closer).Close())
		<-done
		for _, r := range res {
			require.ErrorIs(t, r.Err, context.Canceled)
		}
		bulk.gate = nil
		res = pipeline.FetchMany(t.Context(), f, []string{"a", "b"})
		require.Equal(t, "va", res[0].Value)
		require.Equal(t, "vb", res[1].Value)
	})
}

// A batch fill that raced an invalidation of one of its keys is returned;
// later callers of that key do not join the invalidated flight.
func TestReviewBatchFillRacingInvalidationNotKept(t *testing.T) {
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

// A panic in the store's Set inside a shared fetch reaches every waiter as a
// PanicError and leaves nothing stuck.
func TestReviewStorePanicInsideFlight(t *testing.T) {
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

// Dependents recorded by an inner layer's FetchBatch (hits through the plain
// fast path and fills) line up with the outer keys even when the outer batch
// held some keys itself, so the marker's positions are those of the keys
// passed down, not of the outer batch.
func TestReviewTreeBatchMarkerAlignment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bulk := &bulkSource{}
	rawStore := newMemStore[string, string]()
	raw := pipeline.Cache("raw", rawStore, nil)(pipeline.BulkFunc[string, string](bulk.fetch))
	topStore := newMemStore[string, string]()
	top := pipeline.Cache("top", topStore, nil)(raw)

	require.NoError(t, topStore.Set(ctx, "c", "held")) // hit at top, not passed down
	_, err := raw.Fetch(ctx, "a")                      // hit at raw
	require.NoError(t, err)
	res := pipeline.FetchMany(ctx, top, []string{"c", "a", "b"}) // b: fill at raw
	for i, want := range []string{"held", "va", "vb"} {
		require.NoError(t, res[i].Err)
		require.Equal(t, want, res[i].Value)
	}
	require.True(t, topStore.has("a"))
	require.True(t, topStore.has("b"))

	require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
	require.False(t, topStore.has("a"), "the hit at raw was recorded for top's a")
	require.True(t, topStore.has("b"))
	require.True(t, topStore.has("c"))
	require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, "b"))
	require.False(t, topStore.has("b"), "the fill at raw was recorded for top's b")
	require.True(t, topStore.has("c"))
}

// Concurrent invalidations, clears and fetches of one key through a two-level
// tree neither deadlock nor leave a flight behind: after the storm, with the
// source at its final value and one last invalidation, both levels serve it.
func TestReviewTreeInvalidateStormNoDeadlock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("a", "a0")
		raw := pipeline.Cache("raw", clearStore{newMemStore[string, string]()}, &pipeline.CacheOptions[string]{DependentsBytes: 400})(src)
		left := pipeline.Cache("left", clearStore{newMemStore[string, string]()}, nil)(upper{raw})
		right := pipeline.Cache("right", clearStore{newMemStore[string, string]()}, nil)(upper{raw})
		defer raw.(pipeline.Closer).Close()
		defer left.(pipeline.Closer).Close()
		defer right.(pipeline.Closer).Close()
		ctx := t.Context()
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 50 {
					k := fmt.Sprintf("a/%d", i%3)
					switch (g + i) % 5 {
					case 0:
						_ = raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a")
					case 1:
						_ = left.(pipeline.Invalidator[string]).Invalidate(ctx, k)
					case 2:
						_ = raw.(pipeline.Clearer).Clear(ctx)
					default:
						_, _ = left.Fetch(ctx, k)
						_ = pipeline.FetchMany(ctx, right, []string{k, "a/9", k})
					}
				}
			})
		}
		wg.Wait()
		src.set("a", "a1")
		require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
		for _, f := range []pipeline.Fetcher[string, string]{left, right} {
			for i := range 3 {
				v, err := f.Fetch(ctx, fmt.Sprintf("a/%d", i))
				require.NoError(t, err)
				require.Equal(t, "A1", v)
			}
		}
	})
}

// Regression 9 (fixed). Tree + negative caching: an outer layer with NegativeTTL remembers
// that an outer key was not found below, but no dependent is recorded for a
// not-found answer (register runs only when err == nil), so invalidating the
// inner key after the value was created does not reach the outer negative
// entry: the outer layer keeps answering ErrNotFound for NegativeTTL after
// Invalidate(inner) returned, while the inner layer serves the value.
//
// At fault: cache.go:354-356 (register only on success) and
// cache_batch.go:174-178 (registerBatch only for out[i].Err == nil), with
// drop (cache_deps.go:250-252) being the only place that forgets a negative
// entry. Fix: also register dependents when below answered ErrNotFound and
// the outer layer remembers it (c.neg != nil).
func TestReviewTreeOuterNegativeSurvivesInnerInvalidate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newSource()
	raw := pipeline.Cache("raw", newMemStore[string, string](), nil)(src)
	top := pipeline.Cache("top", newMemStore[string, string](), &pipeline.CacheOptions[string]{NegativeTTL: time.Hour})(upper{raw})

	_, err := top.Fetch(ctx, "a/0")
	require.ErrorIs(t, err, pipeline.ErrNotFound)
	src.set("a", "a1")
	require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
	v, err := raw.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a1", v)

	v, err = top.Fetch(ctx, "a/0")
	require.NoError(t, err, "the outer layer must not keep a not-found derived from the invalidated inner key")
	require.Equal(t, "A1", v)
}
