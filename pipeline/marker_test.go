package pipeline_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// countInvalidated returns an observer that counts Invalidated events.
func countInvalidated(n *atomic.Int64) pipeline.Observer[string] {
	return pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
		if e.Kind == pipeline.Invalidated {
			n.Add(1)
		}
	})
}

// Was a bug, fixed: a batch marker recorded as the dependent of every inner key of its
// batch stays recorded under all the other keys once one of them dropped
// it. Invalidating the batch's n inner keys one by one drops all n outer
// keys n times: n² drops (each one bumping the outer generation under
// fillMu, deleting from the store, emitting, walking dependents), where the
// per-key record of an in-order batch costs n.
//
//	outer batch [k0/x .. k199/x] -> reversedBatch -> in.FetchBatch: every ki -> marker b (200 entries)
//	in.Invalidate(k0): drops byKey[k0] = {b} -> b drops all 200 outer keys
//	in.Invalidate(k1): byKey[k1] still = {b} -> all 200 again ... 40000 drops
//
// Fix: drop a marker once (an atomic flag in batchMarker, checked in
// dropDerived): once it has dropped its keys and bumped the outer
// generation, the batch it marks keeps nothing, and later values of those
// keys were fetched under new markers.
func TestBatchMarkerDropsOnce(t *testing.T) {
	for _, topo := range []string{"reversed", "perkey", "in-order"} {
		t.Run(topo, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			const n = 200
			var kv []string
			outerKeys := make([]string, n)
			for i := range n {
				k := fmt.Sprintf("k%03d", i)
				kv = append(kv, k, k+"v")
				outerKeys[i] = k + "/x"
			}
			src := newSource(kv...)
			in := pipeline.Cache("in", newMemStore[string, string](), nil)(src)
			var mid pipeline.Fetcher[string, string]
			switch topo {
			case "reversed":
				mid = reversedBatch{upperNoCase{in}}
			case "perkey":
				mid = perKeyBatch{upperNoCase{in}}
			default:
				mid = upperNoCase{in} // not a BatchFetcher: the cache layer fans out, key by key marked
			}
			var inv atomic.Int64
			outer := pipeline.Cache("outer", newMemStore[string, string](), &pipeline.CacheOptions[string]{Observer: countInvalidated(&inv)})(mid)
			for _, r := range pipeline.FetchMany(ctx, outer, outerKeys) {
				require.NoError(t, r.Err)
			}
			for i := range n {
				require.NoError(t, in.(pipeline.Invalidator[string]).Invalidate(ctx, fmt.Sprintf("k%03d", i)))
			}
			require.LessOrEqual(t, inv.Load(), int64(2*n),
				"invalidating %d inner keys dropped outer keys %d times", n, inv.Load())
		})
	}
}
