package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

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
func TestTreeInnerHitRacingInvalidateIsNotKeptAbove(t *testing.T) {
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
func TestTreeInnerFillRacingInvalidateIsNotKeptAbove(t *testing.T) {
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
func TestTreeInvalidateFromTopDropsOuterKeyRefilledMeanwhile(t *testing.T) {
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

// Concurrent invalidations, clears and fetches of one key through a two-level
// tree neither deadlock nor leave a flight behind: after the storm, with the
// source at its final value and one last invalidation, both levels serve it.
func TestTreeInvalidateStormNeitherDeadlocksNorLeavesFlights(t *testing.T) {
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
