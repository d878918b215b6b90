package pipeline_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// Dependents recorded by an inner layer's FetchBatch (hits and fills) line
// up with the outer keys even when the outer batch held some keys itself:
// they are the keys passed down, not the positions of the outer batch.
func TestTreeBatchRecordsDependentsOfKeysPassedDown(t *testing.T) {
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

// Two cache layers in a tree (the outer one over a key mapper, so that it
// marks its batches): a batch of misses goes down as it is (the direct
// path); the caller then reuses its keys; invalidating an inner key still
// drops the outer key derived from it.
func TestTreeBatchMarkerSurvivesCallerReusingKeys(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			src := newSource("a", "A1", "b", "B1")
			inner := pipeline.Cache("inner", newMemStore[string, string](), nil)(src)
			outerStore := newMemStore[string, string]()
			outer := pipeline.Cache("outer", outerStore, nil)(&describedPass{inner.(pipeline.BatchFetcher[string, string])})
			ctx, cancel := batchCtx(cancellable)
			defer cancel()
			keys := []string{"a", "b"}
			res := pipeline.FetchMany(ctx, outer, keys)
			require.Equal(t, "A1", res[0].Value)
			keys[0], keys[1] = "zz", "zz"
			src.set("a", "A2")
			require.NoError(t, inner.(pipeline.Invalidator[string]).Invalidate(context.Background(), "a"))
			require.False(t, outerStore.has("a"), "the outer value derived from inner a is dropped")
			v, err := outer.Fetch(context.Background(), "a")
			require.NoError(t, err)
			require.Equal(t, "A2", v)
		})
	}
}

// describedPass is a Describer that passes batches through in order.
type describedPass struct {
	next pipeline.BatchFetcher[string, string]
}

func (d *describedPass) Fetch(ctx context.Context, k string) (string, error) {
	return d.next.Fetch(ctx, k)
}

func (d *describedPass) FetchBatch(ctx context.Context, keys []string, out []pipeline.Result[string]) {
	d.next.FetchBatch(ctx, keys, out)
}

func (d *describedPass) Describe() pipeline.Description {
	return pipeline.Description{Kind: "pass", Next: []any{d.next}}
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

// A batch that reaches an inner layer key by key (through a layer that
// fetches each key of its batch on its own) makes the whole outer batch a
// dependent of each inner key; invalidating an inner key drops the outer
// keys of that batch even over a store without a Clear method (a plain
// Store, which is all the Store interface asks for):
//
//	outer batch [a/x] -> perKeyBatch -> in.Fetch: records the outer batch
//	in.Invalidate(a): drops the outer batch's keys, one by one
//	outer.Fetch(a/x) -> a2
func TestKeyByKeyBatchDependentDropsOverStoreWithoutClear(t *testing.T) {
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

// A batch through a describing mapper that cannot batch is fanned out, each
// key with its own record: the drop is per key and works over a store
// without Clear.
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

// A batch dependent reaches through the layers above it: a cache layer
// directly over the one whose batch went down key by key loses its value
// too when the inner key is invalidated, over stores without Clear:
//
//	top batch [a/x] -> outer batch -> perKeyBatch -> in.Fetch: records outer's batch
//	in.Invalidate(a): the batch drops outer's a/x, and top's a/x with it
//	top.Fetch(a/x) -> a2
func TestWholeBatchDependentDropsThroughLayersAbove(t *testing.T) {
	for _, tc := range []struct {
		name string
		over func(outer pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] // builds top over outer
		key  string                                                                        // top's key, derived from in's a
	}{
		{
			name: "identity",
			over: func(outer pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
				return pipeline.Cache("top", newMemStore[string, string](), nil)(outer)
			},
			key: "a/x",
		},
		{
			// a describing mapper that passes the batch down whole: outer
			// records top's keys one by one, then clears them with itself
			name: "recorded",
			over: func(outer pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
				strip := func(k string) string { b, _, _ := strings.Cut(k, "/"); return b }
				return pipeline.Cache("top", newMemStore[string, string](), nil)(middleware.MapKey[string](strip)(outer))
			},
			key: "a/y", // -> outer a -> in a
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			src := newSource("a", "a1")
			in := pipeline.Cache("in", newMemStore[string, string](), nil)(src)
			outer := pipeline.Cache("outer", newMemStore[string, string](), nil)(perKeyBatch{upperNoCase{in}})
			top, key := tc.over(outer), tc.key
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

// countInvalidated returns an observer that counts Invalidated events.
func countInvalidated(n *atomic.Int64) pipeline.Observer[string] {
	return pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
		if e.Kind == pipeline.Invalidated {
			n.Add(1)
		}
	})
}

// A batch dependent recorded under every inner key of its batch drops its
// outer keys once: invalidating the batch's n inner keys one by one costs n
// drops, not n²:
//
//	outer batch [k0/x .. k199/x] -> reversedBatch -> in.FetchBatch: every ki -> batch b
//	in.Invalidate(k0): b drops all 200 outer keys
//	in.Invalidate(k1): b has dropped already -> nothing to do
func TestBatchMarkerDropsOnce(t *testing.T) {
	mids := append(reorderingMids(), midLayer{
		name: "in-order",
		over: func(in pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
			return upperNoCase{in} // not a BatchFetcher: the cache layer fans out, key by key marked
		},
	})
	for _, tc := range mids {
		t.Run(tc.name, func(t *testing.T) {
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
			mid := tc.over(in)
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

// Through a batching layer that does not keep a batch in order (or that
// fetches key by key), every refill of the same outer keys replaces the
// batch recorded under each inner key instead of adding to it: the record
// does not grow with refills, and no outer value is dropped that nothing
// invalidated.
//
//	outer.FetchMany([a/x b/x]) -> in records a -> {m1}, b -> {m1}
//	outer entries expire; outer.FetchMany again -> a -> {m2}, b -> {m2}
//	... however many refills: the record stays within DependentsBytes, no outer value is dropped
func TestRefilledBatchMarkerReplacesOld(t *testing.T) {
	for _, tc := range reorderingMids() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clk := testkit.NewClock()
			src := newSource("a", "a1", "b", "b1")
			in := pipeline.Cache("in", newMemStore[string, string](), &pipeline.CacheOptions[string]{DependentsBytes: 1000})(src)
			mid := tc.over(in)
			var inv atomic.Int64
			outer := pipeline.Cache("outer", newMemStore[string, string](), &pipeline.CacheOptions[string]{
				TTL: time.Minute, Clock: clk.Now, Observer: countInvalidated(&inv),
			})(mid)
			for range 20 {
				for i, r := range pipeline.FetchMany(ctx, outer, []string{"a/x", "b/x"}) {
					require.NoError(t, r.Err)
					require.Equal(t, []string{"a1", "b1"}[i], r.Value)
				}
				clk.Advance(2 * time.Minute) // the outer values expire; the inner ones never do
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

// A batch record that refills of the same outer keys replaced is freed:
// the records do not pile up in memory, outside DependentsBytes, with every
// refill.
func TestRefilledBatchMarkerFreesTheRecordsItReplaced(t *testing.T) {
	for _, tc := range reorderingMids() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clk := testkit.NewClock()
			in, outer := markerTopo(tc, newSource("a", "a1", "b", "b1"), newMemStore[string, string](), clk)
			refill := func() {
				for _, r := range pipeline.FetchMany(ctx, outer, []string{"a/x", "b/x"}) {
					require.NoError(t, r.Err)
				}
				clk.Advance(2 * time.Minute) // the outer values expire; the inner ones never do
			}
			refill()
			alive := pipeline.WatchBatchRecord(in, "a")
			require.NotNil(t, alive, "the batch is recorded whole")
			for range 5 {
				refill()
			}
			runtime.GC()
			require.False(t, alive(), "the first record, replaced four refills ago, is still reachable")
			runtime.KeepAlive(in)
		})
	}
}

// slowDeleteStore is a memStore whose Delete of one key can be held, after
// the delete, as a slow store (a network round trip) would hold its caller
// before the layer goes on to the next key of a batch marker.
type slowDeleteStore struct {
	*memStore[string, string]
	hold    string        // the key whose delete is held, once
	held    chan struct{} // closed when the held delete is reached
	release chan struct{} // the held delete returns once this is closed
	armed   atomic.Bool   // the next delete of hold is held; only that one
}

func newSlowDeleteStore(hold string) *slowDeleteStore {
	return &slowDeleteStore{
		memStore: newMemStore[string, string](),
		hold:     hold,
		held:     make(chan struct{}),
		release:  make(chan struct{}),
	}
}

func (s *slowDeleteStore) Delete(ctx context.Context, key string) error {
	err := s.memStore.Delete(ctx, key)
	if key == s.hold && s.armed.CompareAndSwap(true, false) {
		close(s.held)
		<-s.release
	}
	return err
}

// midLayer is a layer between two cache layers in the batch marker tests:
// over wraps the inner cache layer.
type midLayer struct {
	name string
	over func(in pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string]
}

// reorderingMids returns the batching layers between that do not keep a
// batch in order (reversed) or that fetch it key by key (perkey), so that
// the inner layer records the outer batch under each inner key.
func reorderingMids() []midLayer {
	return []midLayer{
		{name: "reversed", over: func(in pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
			return reversedBatch{upperNoCase{in}}
		}},
		{name: "perkey", over: func(in pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
			return perKeyBatch{upperNoCase{in}}
		}},
	}
}

// markerTopo builds in <- mid <- outer, where mid is one of
// reorderingMids, so that in records outer's batch marker under each inner
// key. With clk, outer's values expire after a minute by it.
func markerTopo(mid midLayer, src *source, outerStore pipeline.Store[string, string], clk *testkit.Clock) (in, outer pipeline.Fetcher[string, string]) {
	in = pipeline.Cache("in", newMemStore[string, string](), nil)(src)
	opts := &pipeline.CacheOptions[string]{}
	if clk != nil {
		opts.TTL, opts.Clock = time.Minute, clk.Now
	}
	outer = pipeline.Cache("outer", outerStore, opts)(mid.over(in))
	return in, outer
}

// Two concurrent invalidations of two inner keys of one refilled batch both
// return only once the outer values derived from their keys are dropped:
//
//	outer.FetchMany([b/x a/x]) -> m1 under in's a and b
//	outer values expire; outer.FetchMany again -> m2 replaces m1: a {m2}, b {m2}
//	G1: in.Invalidate(b): drops b's record {m2}: m2 drops outer b/x ...
//	    (its store delete is slow: G1 is held there)
//	G2: in.Invalidate(a): finds m2 dropping -> waits for it
//	G2: outer.Fetch(a/x) -> a2
//
// See TestConcurrentInvalidationsOfBatchBothWaitForTheDrop for the same race
// on a batch filled once.
func TestConcurrentInvalidationsOfRefilledBatchBothWaitForTheDrop(t *testing.T) {
	for _, tc := range reorderingMids() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clk := testkit.NewClock()
			src := newSource("a", "a1", "b", "b1")
			os := newSlowDeleteStore("b/x")
			in, outer := markerTopo(tc, src, os, clk)
			for range 2 { // fill, then refill once the outer values expired
				for i, r := range pipeline.FetchMany(ctx, outer, []string{"b/x", "a/x"}) {
					require.NoError(t, r.Err)
					require.Equal(t, []string{"b1", "a1"}[i], r.Value)
				}
				clk.Advance(2 * time.Minute)
			}
			// The refill's values are fresh now (TTL from the refill on).
			clk.Advance(-2 * time.Minute)

			concurrentInvalidations(t, src, os, in, outer)
		})
	}
}

// The race of TestConcurrentInvalidationsOfRefilledBatchBothWaitForTheDrop
// on a batch filled once: the batch is the only dependent under both inner
// keys; the Invalidate that finds it already dropping waits for the other
// one to drop the outer keys before it returns.
//
//	outer.FetchMany([b/x a/x]) -> m under in's a and b
//	G1: in.Invalidate(b): m drops outer b/x (held in its delete)
//	G2: in.Invalidate(a): m is dropping -> waits
//	G2: outer.Fetch(a/x) -> a2
func TestConcurrentInvalidationsOfBatchBothWaitForTheDrop(t *testing.T) {
	for _, tc := range reorderingMids() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			src := newSource("a", "a1", "b", "b1")
			os := newSlowDeleteStore("b/x")
			in, outer := markerTopo(tc, src, os, nil)
			for i, r := range pipeline.FetchMany(ctx, outer, []string{"b/x", "a/x"}) {
				require.NoError(t, r.Err)
				require.Equal(t, []string{"b1", "a1"}[i], r.Value)
			}
			concurrentInvalidations(t, src, os, in, outer)
		})
	}
}

// concurrentInvalidations runs the race of the two tests above, once outer
// holds b/x and a/x from a batch recorded under in's b and a:
//
//	G1: in.Invalidate(b), held in the outer store's delete of b/x (the
//	    batch's first key), before the drop of a/x
//	G2: in.Invalidate(a), then outer.Fetch(a/x)
//
// G2's fetch must serve a2. A G2 that waits for G1's drop (as it must: the
// outer values G1 reached are still served) is let go once it has had time
// to return; the grace only limits how surely a G2 that does not wait is
// caught (it returns at once), never what the test asserts.
func concurrentInvalidations(t *testing.T, src *source, os *slowDeleteStore, in, outer pipeline.Fetcher[string, string]) {
	t.Helper()
	ctx := t.Context()
	src.set("a", "a2")
	src.set("b", "b2")
	os.armed.Store(true)
	g1 := make(chan error, 1)
	go func() { g1 <- in.(pipeline.Invalidator[string]).Invalidate(ctx, "b") }()
	<-os.held // G1 is dropping the batch: b/x deleted, a/x not yet

	type result struct {
		released bool // G1 had been let go when G2's Invalidate returned
		invErr   error
		v        string
		err      error
	}
	var released atomic.Bool
	g2 := make(chan result, 1)
	go func() {
		var r result
		r.invErr = in.(pipeline.Invalidator[string]).Invalidate(ctx, "a")
		r.released = released.Load()
		r.v, r.err = outer.Fetch(ctx, "a/x")
		g2 <- r
	}()
	var r result
	select {
	case r = <-g2:
		released.Store(true)
		close(os.release)
	case <-time.After(500 * time.Millisecond):
		released.Store(true)
		close(os.release)
		r = <-g2
	}
	require.NoError(t, <-g1)
	require.NoError(t, r.invErr)
	require.NoError(t, r.err)
	require.Equal(t, "a2", r.v, "outer served a/x derived from the old a after in.Invalidate(a) returned (G1 still dropping: %v)", !r.released)
}

// reversedBatch is a describing key mapper ("k/x" -> "k") that passes a
// batch down whole, as one batch of the same length, but in reverse order
// (as a layer that sorts or groups the keys it sends to a database would),
// and puts the results back in place.
type reversedBatch struct{ upperNoCase }

func (r reversedBatch) FetchBatch(ctx context.Context, keys []string, out []pipeline.Result[string]) {
	n := len(keys)
	inner := make([]string, n)
	for i, k := range keys {
		inner[n-1-i] = r.inner(k)
	}
	res := pipeline.FetchMany(ctx, r.next, inner)
	for i := range keys {
		out[i] = res[n-1-i]
	}
}

// A batching layer that passes a batch down in another order (sorted,
// grouped) does not misalign the dependents the inner layer records:
// invalidating a drops a/x, not b/x. A batching layer says it keeps the
// order (as the stock ones do); through any other, the layers below depend
// on the whole batch.
//
//	outer.FetchMany([a/x b/x]) -> reversedBatch -> in.FetchBatch([b a])
//	in.Invalidate(a): drops in a, and outer a/x
//	outer.Fetch(a/x) after Invalidate returned -> a2
func TestBatchMarkerMisalignedByReorderingLayer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newSource("a", "a1", "b", "b1")
	in := pipeline.Cache("in", clearStore{newMemStore[string, string]()}, nil)(src)
	outer := pipeline.Cache("outer", clearStore{newMemStore[string, string]()}, nil)(reversedBatch{upperNoCase{in}})
	res := pipeline.FetchMany(ctx, outer, []string{"a/x", "b/x"})
	for i, want := range []string{"a1", "b1"} {
		if res[i].Err != nil || res[i].Value != want {
			t.Fatalf("batch[%d] = %+v, want %q", i, res[i], want)
		}
	}
	src.set("a", "a2")
	if err := in.(pipeline.Invalidator[string]).Invalidate(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	v, err := outer.Fetch(ctx, "a/x")
	if err != nil || v != "a2" {
		t.Fatalf("outer.Fetch(a/x) after in.Invalidate(a) returned = %q, %v; want a2", v, err)
	}
}

// Through a stock batching layer (MapKey), which keeps a batch in order,
// the inner layer still records one outer key per inner key: invalidating
// one inner key drops only its own outer key, not the whole batch.
func TestInOrderBatchRecordsPerKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newSource("a", "a1", "b", "b1")
	in := pipeline.Cache("in", newMemStore[string, string](), nil)(src)
	outerStore := newMemStore[string, string]()
	strip := func(k string) string { b, _, _ := strings.Cut(k, "/"); return b }
	outer := pipeline.Cache("outer", outerStore, nil)(middleware.MapKey[string](strip)(in))
	res := pipeline.FetchMany(ctx, outer, []string{"a/x", "b/x"})
	require.NoError(t, res[0].Err)
	require.NoError(t, res[1].Err)
	src.set("a", "a2")
	require.NoError(t, in.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
	require.False(t, outerStore.has("a/x"), "dropped with its inner key")
	require.True(t, outerStore.has("b/x"), "not dropped: b did not change")
	v, err := outer.Fetch(ctx, "a/x")
	require.NoError(t, err)
	require.Equal(t, "a2", v)
}
