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

// Tree: the same race on the fill path of the inner layer: the inner fill
// that raced the invalidation is returned but kept neither by the inner
// layer nor, derived, by the outer one.
func TestTreeInnerFillRacingInvalidateIsNotKeptAbove(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var raw pipeline.Fetcher[string, string]
	src := racingSource(&raw) // the value changes and is invalidated while a1 is on its way up
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

// Invalidate on an outer layer leaves no outer value derived from the old
// inner value, even when a fetch of the outer key refills it from the inner
// layer's old value while the invalidation is on its way inward:
//
//	O.Invalidate(a/0): O drops a/0
//	    O.Fetch(a/0): O misses, I hits a1, O stores A1
//	  I.Invalidate(a): Delete(a), drops its dependents, O:a/0 included
//	O.Fetch(a/0) after Invalidate returned → A2
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

// Tree: the window of TestFlightOpenedBeforeDeleteIsNotJoinedAfterInvalidate
// does not make a stale value permanent: an outer fill that starts after the
// inner Invalidate returned, and that would join an inner flight that
// rechecked before the Delete, does not keep the old value in the outer
// store.
//
//	raw.Invalidate(a): [X: flight, recheck -> a1]; Delete; drops dependents (none yet); return
//	top.Fetch(a/0): miss; raw.Fetch records top:a/0, Get absent, must not join X
//	top.Fetch(a/0) -> A2
func TestTreeDropsValueOfFlightOpenedBeforeDelete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		gate := make(chan struct{})
		src, set := gatedSource(gate)
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

		set("a2")
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

func TestInvalidateTree(t *testing.T) {
	t.Parallel()
	src := newSource("a", "a1", "b", "b1")
	rawStore := newMemStore[string, string]()
	raw := pipeline.Cache("raw", rawStore, nil)(src)
	leftStore, rightStore := newMemStore[string, string](), newMemStore[string, string]()
	left := pipeline.Cache("left", leftStore, nil)(upper{raw})
	right := pipeline.Cache("right", rightStore, nil)(upper{raw})
	ctx := t.Context()

	for _, f := range []pipeline.Fetcher[string, string]{left, right} {
		for _, k := range []string{"a/0", "a/1", "b/0"} {
			_, err := f.Fetch(ctx, k)
			require.NoError(t, err)
		}
	}
	require.EqualValues(t, 2, src.calls.Load(), "the second branch is served by the shared layer")

	src.set("a", "a2")
	require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
	for _, s := range []*memStore[string, string]{leftStore, rightStore} {
		require.False(t, s.has("a/0"))
		require.False(t, s.has("a/1"))
		require.True(t, s.has("b/0"), "unrelated keys stay")
	}
	v, err := left.Fetch(ctx, "a/1")
	require.NoError(t, err)
	require.Equal(t, "A2", v)
	v, err = right.Fetch(ctx, "a/0")
	require.NoError(t, err)
	require.Equal(t, "A2", v)
	require.EqualValues(t, 3, src.calls.Load())

	// Invalidating at the top of one branch goes inward, and so reaches the
	// other branch too: both derived from the shared value.
	src.set("a", "a3")
	require.NoError(t, left.(pipeline.Invalidator[string]).Invalidate(ctx, "a/1"))
	v, err = right.Fetch(ctx, "a/0")
	require.NoError(t, err)
	require.Equal(t, "A3", v)

	// Batches record their dependents too.
	res := pipeline.FetchMany(ctx, right, []string{"a/5", "b/5"})
	require.NoError(t, res[0].Err)
	require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, "b"))
	require.False(t, rightStore.has("b/5"))
	require.True(t, rightStore.has("a/5"))
}

func TestDependentsBounded(t *testing.T) {
	t.Parallel()
	src := newSource()
	for i := range 50 {
		src.set(string(rune('a'+i)), "v")
	}
	raw := pipeline.Cache("raw", newMemStore[string, string](), &pipeline.CacheOptions[string]{DependentsBytes: 1000})(src)
	topStore := newMemStore[string, string]()
	top := pipeline.Cache("top", topStore, nil)(upper{raw})
	for i := range 50 {
		_, err := top.Fetch(t.Context(), string(rune('a'+i))+"/0")
		require.NoError(t, err)
	}
	topStore.mu.Lock()
	n := len(topStore.m)
	topStore.mu.Unlock()
	require.LessOrEqual(t, n, 11, "values whose dependency was forgotten are dropped")
	// Every value still in the top layer is still protected.
	for i := range 50 {
		k := string(rune('a' + i))
		require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(t.Context(), k))
		require.False(t, topStore.has(k+"/0"))
	}
}
