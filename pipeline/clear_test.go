package pipeline_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

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

// Clear goes inward first, as Invalidate does: when the inner layer does not
// know this one as a dependent (a non-Describer in between), a fill that
// runs during Clear cannot keep an inner value not yet cleared, so after
// Clear returned the outer layer serves no value older than the source's.
// Invalidate through the same stack is checked too.
//
//	top.Clear: [racing top.Fetch -> a2] ; in cleared ; top cleared
//	top.Fetch after Clear returned -> a3
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

func TestClearTree(t *testing.T) {
	t.Parallel()
	src := newSource("a", "a1")
	rawStore, leftStore := clearStore{newMemStore[string, string]()}, clearStore{newMemStore[string, string]()}
	raw := pipeline.Cache("raw", rawStore, nil)(src)
	left := pipeline.Cache("left", leftStore, nil)(upper{raw})
	_, err := left.Fetch(t.Context(), "a/0")
	require.NoError(t, err)
	require.NoError(t, raw.(pipeline.Clearer).Clear(t.Context()))
	require.False(t, leftStore.has("a/0"), "clearing a shared layer clears its dependents")

	_, err = left.Fetch(t.Context(), "a/0")
	require.NoError(t, err)
	require.NoError(t, left.(pipeline.Clearer).Clear(t.Context()))
	require.False(t, rawStore.has("a"), "Clear goes inward")

	plain := pipeline.Cache("plain", newMemStore[string, string](), nil)(src)
	require.ErrorIs(t, plain.(pipeline.Clearer).Clear(t.Context()), errors.ErrUnsupported)
}
