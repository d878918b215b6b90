package pipeline_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

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

// Was a bug, fixed: through a batching layer that does not keep a batch in
// order (or that fetches key by key), the inner layer records the outer
// batch's marker under each inner key, and every refill of the same outer
// keys (once their outer TTL ran out, say) recorded a new marker next to the
// old ones. The record grew by the batch's size at every refill until it
// reached DependentsSize, and from then on each refill evicted records and
// dropped outer values that nothing had invalidated: refetches with no
// Invalidate at all.
//
//	outer.FetchMany([a/x b/x]) -> in records a -> {m1}, b -> {m1}
//	outer entries expire; outer.FetchMany again -> a -> {m1 m2}, b -> {m1 m2}
//	... the 6th refill passes DependentsSize 10 -> evicts, m1..m5 drop a/x, b/x
//
// Fix: a marker for the same outer layer and the same keys replaces an
// older one in a key's record: dropping the new one drops every outer value
// the old one protected.
func TestRefilledBatchMarkerReplacesOld(t *testing.T) {
	for _, topo := range []string{"reversed", "perkey"} {
		t.Run(topo, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clk := newClock()
			src := newSource("a", "a1", "b", "b1")
			in := pipeline.Cache("in", newMemStore[string, string](), &pipeline.CacheOptions[string]{DependentsBytes: 1000})(src)
			var mid pipeline.Fetcher[string, string] = reversedBatch{upperNoCase{in}}
			if topo == "perkey" {
				mid = perKeyBatch{upperNoCase{in}}
			}
			var inv atomic.Int64
			outer := pipeline.Cache("outer", newMemStore[string, string](), &pipeline.CacheOptions[string]{
				TTL: time.Minute, Clock: clk.Now, Observer: countInvalidated(&inv),
			})(mid)
			for range 20 {
				for i, r := range pipeline.FetchMany(ctx, outer, []string{"a/x", "b/x"}) {
					require.NoError(t, r.Err)
					require.Equal(t, []string{"a1", "b1"}[i], r.Value)
				}
				clk.advance(2 * time.Minute) // the outer values expire; the inner ones never do
			}
			require.Zero(t, inv.Load(), "outer values dropped with nothing invalidated")

			// The record still protects the latest values: invalidating an
			// inner key drops its outer key, through the newest marker.
			for i, r := range pipeline.FetchMany(ctx, outer, []string{"a/x", "b/x"}) {
				require.Equal(t, []string{"a1", "b1"}[i], r.Value)
			}
			src.set("a", "a2")
			require.NoError(t, in.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
			v, err := outer.Fetch(ctx, "a/x")
			require.NoError(t, err)
			require.Equal(t, "a2", v)
		})
	}
}
