package pipeline_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// A cache layer directly over another keeps no record of what it derived
// from it (see deps.go): its key k can only come from the inner key k.
// These tests hold the direct stack to the rules the recorded tree follows.

// direct returns a two-layer stack, top directly over raw, over src.
func direct(src pipeline.Fetcher[string, string]) (top, raw pipeline.Fetcher[string, string], topStore, rawStore *memStore[string, string]) {
	rawStore, topStore = newMemStore[string, string](), newMemStore[string, string]()
	raw = pipeline.Cache("raw", rawStore, nil)(src)
	top = pipeline.Cache("top", topStore, nil)(raw)
	return top, raw, topStore, rawStore
}

func TestDirectStackInvalidateInner(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newSource("a", "a1", "b", "b1", "c", "c1")
	top, raw, topStore, _ := direct(src)

	_, err := top.Fetch(ctx, "a")
	require.NoError(t, err)
	res := pipeline.FetchMany(ctx, top, []string{"b", "c"})
	require.NoError(t, res[0].Err)
	require.NoError(t, res[1].Err)

	src.set("a", "a2")
	src.set("b", "b2")
	for _, k := range []string{"a", "b"} {
		require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, k))
		require.False(t, topStore.has(k), "the outer value of %s goes with the inner one", k)
	}
	require.True(t, topStore.has("c"), "unrelated keys stay")

	for k, want := range map[string]string{"a": "a2", "b": "b2", "c": "c1"} {
		v, err := top.Fetch(ctx, k)
		require.NoError(t, err)
		require.Equal(t, want, v)
	}
}

func TestDirectStackInvalidateFromTheTop(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newSource("a", "a1")
	rec := &recorder[string]{}
	rawStore, topStore := newMemStore[string, string](), newMemStore[string, string]()
	raw := pipeline.Cache("raw", rawStore, &pipeline.CacheOptions[string]{Observer: rec})(src)
	top := pipeline.Cache("top", topStore, &pipeline.CacheOptions[string]{Observer: rec})(raw)

	_, err := top.Fetch(ctx, "a")
	require.NoError(t, err)
	src.set("a", "a2")
	rec.list() // forget the fill's events
	require.NoError(t, top.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
	require.Equal(t, []string{"invalidated raw a", "invalidated top a"}, rec.list(),
		"each layer drops the key once: inward first, then the top")
	require.False(t, rawStore.has("a"))
	require.False(t, topStore.has("a"))
	v, err := top.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a2", v)
}

// The same race on the inner layer's fill, for a single fetch and a batch.
func TestDirectStackInnerFillRacingInvalidate(t *testing.T) {
	t.Parallel()
	for _, batch := range []bool{false, true} {
		name := "single"
		if batch {
			name = "batch"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var raw pipeline.Fetcher[string, string]
			src := racingSource(&raw) // the value changes and is invalidated while a1 is on its way up
			rawStore, topStore := newMemStore[string, string](), newMemStore[string, string]()
			raw = pipeline.Cache("raw", rawStore, nil)(src)
			top := pipeline.Cache("top", topStore, nil)(raw)

			fetch := func() string {
				if batch {
					r := pipeline.FetchMany(ctx, top, []string{"a"})[0]
					require.NoError(t, r.Err)
					return r.Value
				}
				v, err := top.Fetch(ctx, "a")
				require.NoError(t, err)
				return v
			}
			require.Equal(t, "a1", fetch())
			require.False(t, rawStore.has("a"), "the inner layer does not keep the raced fill")
			require.False(t, topStore.has("a"), "nor does the outer one")
			require.Equal(t, "a2", fetch())
		})
	}
}

func TestDirectStackClearInner(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newSource("a", "a1")
	rawStore, topStore := clearStore{newMemStore[string, string]()}, clearStore{newMemStore[string, string]()}
	raw := pipeline.Cache("raw", rawStore, nil)(src)
	top := pipeline.Cache("top", topStore, nil)(raw)
	_, err := top.Fetch(ctx, "a")
	require.NoError(t, err)
	require.NoError(t, raw.(pipeline.Clearer).Clear(ctx))
	require.False(t, topStore.has("a"), "clearing the inner layer clears the one over it")
}

// Three layers, each directly over the next: invalidating the innermost
// reaches the top; a hit on the middle one records nothing.
func TestDirectStackThreeLevels(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newSource("a", "a1")
	stores := []*memStore[string, string]{newMemStore[string, string](), newMemStore[string, string](), newMemStore[string, string]()}
	l0 := pipeline.Cache("l0", stores[0], nil)(src)
	l1 := pipeline.Cache("l1", stores[1], nil)(l0)
	l2 := pipeline.Cache("l2", stores[2], nil)(l1)

	_, err := l2.Fetch(ctx, "a")
	require.NoError(t, err)
	for i, s := range stores {
		require.True(t, s.has("a"), "level %d filled", i)
	}
	src.set("a", "a2")
	require.NoError(t, l0.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
	for i, s := range stores {
		require.False(t, s.has("a"), "level %d dropped", i)
	}
	v, err := l2.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a2", v)
	require.EqualValues(t, 2, src.calls.Load())
}

// A layer above a direct stack marks its fills for the upper layer of the
// stack; the lower one, which records dependents for another branch, must
// not see that marker as its own. If it did, a batch whose keys the upper
// layer partly held would be recorded against the whole top layer, and an
// invalidation of one inner key would empty it.
func TestDirectStackHidesMarkerFromAbove(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newSource("a", "a1", "b", "b1")
	inner := pipeline.Cache("inner", clearStore{newMemStore[string, string]()}, nil)(src)
	upperStore, topStore := clearStore{newMemStore[string, string]()}, clearStore{newMemStore[string, string]()}
	upperLayer := pipeline.Cache("upper", upperStore, nil)(inner)
	// A key mapper that keeps batches whole, so that the top layer's batch
	// marker goes down with them.
	strip := func(k string) string { b, _, _ := strings.Cut(k, "/"); return b }
	top := pipeline.Cache("top", topStore, nil)(middleware.MapKey[string](strip)(upperLayer))
	other := pipeline.Cache("other", newMemStore[string, string](), nil)(upper{inner}) // inner records dependents
	_, err := other.Fetch(ctx, "a/9")
	require.NoError(t, err)

	_, err = upperLayer.Fetch(ctx, "a") // the upper layer holds a: the batch below will lack it
	require.NoError(t, err)
	res := pipeline.FetchMany(ctx, top, []string{"a/0", "b/0"})
	require.NoError(t, res[0].Err)
	require.NoError(t, res[1].Err)

	require.NoError(t, inner.(pipeline.Invalidator[string]).Invalidate(ctx, "b"))
	require.False(t, topStore.has("b/0"), "derived from b, through the upper layer")
	require.False(t, upperStore.has("b"))
	require.True(t, topStore.has("a/0"), "not derived from b: the top layer was not emptied")
	require.True(t, upperStore.has("a"))
}
