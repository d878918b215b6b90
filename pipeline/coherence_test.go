package pipeline_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// verSource answers key -> "key:version"; bump moves a key's version.
type verSource struct {
	mu  sync.Mutex
	ver map[string]int
}

func (s *verSource) get(k string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return k + ":" + strconv.Itoa(s.ver[k])
}
func (s *verSource) bump(k string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ver[k]++
	return s.ver[k]
}
func (s *verSource) Fetch(_ context.Context, k string) (string, error) { return s.get(k), nil }
func (s *verSource) bulk(_ context.Context, keys []string) (map[string]string, error) {
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = s.get(k)
	}
	return m, nil
}

func verOf(v string) int {
	_, n, _ := strings.Cut(v, ":")
	i, _ := strconv.Atoi(n)
	return i
}

// Readers, single and batch, cancellable or not, race invalidations of a
// source that moves on, through each of stressTopologies: one layer, direct
// stacks of two and three layers (identity dependents, invalidated at the
// top, in the middle or at the bottom) and a tree that mixes identity and
// recorded dependents. No read that starts after an Invalidate returned may see a
// version older than the one the source had before it.
func TestNoStaleReadAfterInvalidate(t *testing.T) {
	for _, topo := range stressTopologies() {
		for _, bulk := range []bool{false, true} {
			for _, lru := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/bulk=%v/lru=%v", topo.name, bulk, lru), func(t *testing.T) {
					t.Parallel()
					stress(t, topo, bulk, lru)
				})
			}
		}
	}
}

// layerMaker makes a cache layer named name over next.
type layerMaker func(name string, next pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string]

// stressTopology is a case of TestNoStaleReadAfterInvalidate: build makes
// its layers with mk over below and returns the layer read from, the layer
// invalidated, and how a key invalidated maps to a key read.
type stressTopology struct {
	name  string
	build func(mk layerMaker, below pipeline.Fetcher[string, string]) (read, inv pipeline.Fetcher[string, string], mapk func(string) string)
	// invalidateMapped invalidates the mapped key (the key read) rather
	// than the key itself.
	invalidateMapped bool
}

func identityKey(k string) string { return k }

// stressTopologies returns one layer, direct stacks of two and three layers
// (identity dependents, invalidated at the top, in the middle or at the
// bottom) and a tree that mixes identity and recorded dependents.
func stressTopologies() []stressTopology {
	return []stressTopology{
		{name: "one", invalidateMapped: true, build: func(mk layerMaker, below pipeline.Fetcher[string, string]) (read, inv pipeline.Fetcher[string, string], mapk func(string) string) {
			read = mk("c", below)
			return read, read, identityKey
		}},
		{name: "direct-inner", build: func(mk layerMaker, below pipeline.Fetcher[string, string]) (read, inv pipeline.Fetcher[string, string], mapk func(string) string) {
			in := mk("in", below)
			return mk("top", in), in, identityKey
		}},
		{name: "direct-top", invalidateMapped: true, build: func(mk layerMaker, below pipeline.Fetcher[string, string]) (read, inv pipeline.Fetcher[string, string], mapk func(string) string) {
			in := mk("in", below)
			read = mk("top", in)
			return read, read, identityKey
		}},
		{name: "three-mid", build: func(mk layerMaker, below pipeline.Fetcher[string, string]) (read, inv pipeline.Fetcher[string, string], mapk func(string) string) {
			in := mk("in", below)
			mid := mk("mid", in)
			return mk("top", mid), mid, identityKey
		}},
		{name: "three-inner", build: func(mk layerMaker, below pipeline.Fetcher[string, string]) (read, inv pipeline.Fetcher[string, string], mapk func(string) string) {
			in := mk("in", below)
			mid := mk("mid", in)
			return mk("top", mid), in, identityKey
		}},
		{name: "tree", build: func(mk layerMaker, below pipeline.Fetcher[string, string]) (read, inv pipeline.Fetcher[string, string], mapk func(string) string) {
			in := mk("in", below)
			mid := mk("mid", in)               // identity over in
			read = mk("top", upperNoCase{mid}) // recorded over mid
			_ = mk("other", upperNoCase{in})   // recorded over in
			return read, in, func(k string) string { return k + "/x" }
		}},
	}
}

func stress(t *testing.T, topo stressTopology, bulk, lru bool) {
	src := &verSource{ver: map[string]int{}}
	var below pipeline.Fetcher[string, string] = src
	if bulk {
		below = pipeline.BulkFunc[string, string](src.bulk)
	}
	mk := func(name string, next pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
		var st pipeline.Store[string, string]
		if lru {
			l, _ := stores.NewLRU[string, string](4)
			st = l
		} else {
			st = newMemStore[string, string]()
		}
		return pipeline.Cache(name, st, nil)(next)
	}
	read, inv, mapk := topo.build(mk, below)
	keys := []string{"a", "b", "c", "d", "e", "f"}
	var pub [6]atomic.Int64
	var bad atomic.Int64
	var firstBad atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 6 {
		wg.Go(func() {
			ctx := context.Background()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				cctx, cancel := ctx, context.CancelFunc(func() {})
				if (n+r)%2 == 0 {
					cctx, cancel = context.WithCancel(ctx)
				}
				if (n+r)%3 == 0 {
					i, j := n%6, (n+r)%6
					var want [2]int64
					want[0], want[1] = pub[i].Load(), pub[j].Load()
					res := pipeline.FetchMany(cctx, read, []string{mapk(keys[i]), mapk(keys[j]), mapk(keys[i])})
					for x, ix := range []int{0, 1, 0} {
						if res[x].Err != nil || int64(verOf(res[x].Value)) < want[ix] {
							bad.Add(1)
							firstBad.CompareAndSwap(nil, fmt.Sprintf("batch %v got %+v want >= %d", []int{i, j, i}, res[x], want[ix]))
						}
					}
				} else {
					i := (n * 7) % 6
					want := pub[i].Load()
					v, err := read.Fetch(cctx, mapk(keys[i]))
					if err != nil || int64(verOf(v)) < want {
						bad.Add(1)
						firstBad.CompareAndSwap(nil, fmt.Sprintf("single %s got %q %v want >= %d", keys[i], v, err, want))
					}
				}
				cancel()
			}
		})
	}
	ctx := context.Background()
	for n := range 3000 {
		i := n % 6
		v := src.bump(keys[i])
		k := keys[i]
		if topo.invalidateMapped {
			k = mapk(k)
		}
		if err := inv.(pipeline.Invalidator[string]).Invalidate(ctx, k); err != nil {
			t.Error(err)
		}
		pub[i].Store(int64(v))
	}
	close(stop)
	wg.Wait()
	for _, f := range []pipeline.Fetcher[string, string]{read, inv} {
		if c, ok := f.(pipeline.Closer); ok {
			c.Close()
		}
	}
	require.Zero(t, bad.Load(), "%v", firstBad.Load())
}

// upperNoCase maps "k/x" to "k", describing itself.
type upperNoCase struct {
	next pipeline.Fetcher[string, string]
}

func (u upperNoCase) inner(k string) string { b, _, _ := strings.Cut(k, "/"); return b }
func (u upperNoCase) Fetch(ctx context.Context, k string) (string, error) {
	return u.next.Fetch(ctx, u.inner(k))
}
func (u upperNoCase) Describe() pipeline.Description {
	return pipeline.Description{Kind: "map key", Next: []any{u.next}}
}
func (u upperNoCase) Invalidate(ctx context.Context, k string) error {
	err := pipeline.Invalidate(ctx, u.next, u.inner(k))
	return err
}

// A key whose dynamic type cannot be hashed (a slice in an any key) is an
// error for its caller alone: before the check, a batch holding one made a
// later Fetch of a good key panic under the layer's lock (the lookup of the
// good key built the batch's index), and the layer was dead afterwards.
func TestUnhashableKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	type pair struct {
		a string
		b any
	}
	store := newMemStore[any, string]()
	var calls atomic.Int64
	src := pipeline.BulkFunc[any, string](func(_ context.Context, keys []any) (map[any]string, error) {
		calls.Add(1)
		m := make(map[any]string, len(keys))
		for _, k := range keys {
			m[k] = fmt.Sprint(k)
		}
		return m, nil
	})
	f := pipeline.Cache("l", store, nil)(src)
	bad := []any{[]int{1}, map[string]int{}, pair{"x", []byte("y")}, func() {}}
	for _, k := range bad {
		_, err := f.Fetch(ctx, k)
		require.ErrorIs(t, err, pipeline.ErrInvalidKey, "%T", k)
		_, err = f.(pipeline.EntryFetcher[any, string]).FetchEntry(ctx, k)
		require.ErrorIs(t, err, pipeline.ErrInvalidKey, "%T", k)
		require.ErrorIs(t, f.(pipeline.Invalidator[any]).Invalidate(ctx, k), pipeline.ErrInvalidKey, "%T", k)
	}
	require.Zero(t, calls.Load(), "a bad key never reaches below")

	keys := []any{"a", []int{1}, pair{"p", 1}, "a", bad[2], 7}
	res := pipeline.FetchMany(ctx, f, keys)
	for i, want := range []string{"a", "", "{p 1}", "a", "", "7"} {
		if want == "" {
			require.ErrorIs(t, res[i].Err, pipeline.ErrInvalidKey, i)
			continue
		}
		require.NoError(t, res[i].Err, i)
		require.Equal(t, want, res[i].Value, i)
	}
	require.EqualValues(t, 1, calls.Load(), "the good keys go down as one batch")
	v, err := f.Fetch(ctx, "b")
	require.NoError(t, err, "the layer still works")
	require.Equal(t, "b", v)
	require.True(t, store.has(pair{"p", 1}))
}

// A plain comparable key type pays no check, and a key type that holds an
// interface with only hashable values works as usual.
func TestHashableInterfaceKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := pipeline.Cache("l", newMemStore[any, string](), nil)(pipeline.FetcherFunc[any, string](
		func(_ context.Context, k any) (string, error) { return fmt.Sprint(k), nil }))
	for _, k := range []any{"a", 1, 2.5, [2]int{1, 2}, struct{ x any }{"y"}} {
		v, err := f.Fetch(ctx, k)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(k), v)
	}
}

// An observer that panics on Invalidated does not keep the outer layers
// serving the invalidated value: the dependents are dropped all the same (the
// layer emitted the event before it dropped them, and a panic left them).
func TestObserverPanicOnInvalidatedStillDropsDependents(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newSource("a", "a1")
	panicky := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
		if e.Kind == pipeline.Invalidated {
			panic("observer")
		}
	})
	raw := pipeline.Cache("raw", newMemStore[string, string](), &pipeline.CacheOptions[string]{Observer: panicky})(src)
	top := pipeline.Cache("top", newMemStore[string, string](), nil)(raw)
	v, err := top.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a1", v)

	src.set("a", "a2")
	require.Panics(t, func() { _ = raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a") })
	v, err = top.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a2", v, "the outer layer still serves the value its inner layer dropped")
}

// A flight of an uncancellable single fetch is reused once it lands only if no one joined it. Here a
// batch and a cancelled single fetch join it; fetches of other keys that
// land right after may take spare flights, but never the joined one.
func TestJoinedFlightIsNotRecycled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
			if k == "a" {
				<-gate
			}
			return "v" + k, nil
		})
		f := pipeline.Cache("l", newMemStore[string, string](), nil)(src)
		bg := context.Background()
		// Fill the free list with flights no one joined.
		for _, k := range []string{"p", "q", "r"} {
			v, err := f.Fetch(bg, k)
			require.NoError(t, err)
			require.Equal(t, "v"+k, v)
		}
		single := make(chan string, 1)
		go func() { v, _ := f.Fetch(bg, "a"); single <- v }() // leads a, in a reused flight
		synctest.Wait()
		batch := make(chan []pipeline.Result[string], 1)
		go func() { batch <- pipeline.FetchMany(bg, f, []string{"a", "b", "a"}) }()
		cctx, cancel := context.WithCancel(bg)
		cancelled := make(chan error, 1)
		go func() { _, err := f.Fetch(cctx, "a"); cancelled <- err }()
		synctest.Wait()
		cancel()
		require.ErrorIs(t, <-cancelled, context.Canceled)
		close(gate)
		for _, k := range []string{"c", "d", "e", "g"} { // may take spare flights
			v, err := f.Fetch(bg, k)
			require.NoError(t, err)
			require.Equal(t, "v"+k, v)
		}
		require.Equal(t, "va", <-single)
		res := <-batch
		for i, want := range []string{"va", "vb", "va"} {
			require.NoError(t, res[i].Err, i)
			require.Equal(t, want, res[i].Value, i)
		}
	})
}

// A batch whose caller gives up runs on detached, with
// keys and flights of its own; the caller's pooled scratch goes straight to
// the next batch of the layer while the detached one still runs, and neither
// the detached batch nor the next one sees the other's memory.
func TestDetachedBatchAndScratchReuse(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		var mu sync.Mutex
		var calls [][]string
		bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
			mu.Lock()
			calls = append(calls, append([]string(nil), keys...))
			mu.Unlock()
			m := map[string]string{}
			for _, k := range keys {
				if k == "a" {
					<-gate
				}
				if k[0] != 'x' {
					m[k] = "v" + k
				}
			}
			return m, nil
		})
		store := newMemStore[string, string]()
		f := pipeline.Cache("l", store, &pipeline.CacheOptions[string]{NegativeTTL: time.Minute})(bulk)
		bg := context.Background()
		// x is remembered as not found.
		require.ErrorIs(t, pipeline.FetchMany(bg, f, []string{"x"})[0].Err, pipeline.ErrNotFound)

		keys := []string{"a", "b", "x", "a", "b"}
		ctx, cancel := context.WithCancel(bg)
		out := make(chan []pipeline.Result[string], 1)
		go func() { out <- pipeline.FetchMany(ctx, f, keys) }()
		synctest.Wait()
		cancel()
		res := <-out
		keys[0], keys[1] = "zz", "zz" // the caller may reuse its keys once it has them back
		require.ErrorIs(t, res[0].Err, context.Canceled)
		require.ErrorIs(t, res[1].Err, context.Canceled)
		require.ErrorIs(t, res[2].Err, pipeline.ErrNotFound, "remembered")
		require.ErrorIs(t, res[3].Err, context.Canceled)
		require.ErrorIs(t, res[4].Err, context.Canceled)

		// The next batch reuses the scratch; b and a join the detached batch.
		next := make(chan []pipeline.Result[string], 1)
		go func() { next <- pipeline.FetchMany(bg, f, []string{"c", "b", "c", "a", "x"}) }()
		synctest.Wait()
		close(gate)
		got := <-next
		for i, want := range []string{"vc", "vb", "vc", "va"} {
			require.NoError(t, got[i].Err, i)
			require.Equal(t, want, got[i].Value, i)
		}
		require.ErrorIs(t, got[4].Err, pipeline.ErrNotFound)
		synctest.Wait()
		require.True(t, store.has("a"))
		require.True(t, store.has("b"))
		require.False(t, store.has("zz"))
		mu.Lock()
		require.ElementsMatch(t, [][]string{{"x"}, {"a", "b"}, {"c"}}, calls)
		mu.Unlock()
		require.NoError(t, f.(pipeline.Closer).Close())
	})
}

// deleteHookStore runs beforeDelete before every Delete.
type deleteHookStore struct {
	*memStore[string, string]
	beforeDelete func()
}

func (s deleteHookStore) Delete(ctx context.Context, k string) error {
	if s.beforeDelete != nil {
		s.beforeDelete()
	}
	return s.memStore.Delete(ctx, k)
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

// A batch keeps its work in pooled scratch, and gives it back when both the
// batch and its caller are done with it. A single fetch that joined one of
// its keys reads the result after the batch has ended, while the next batch
// of the layer may already reuse the scratch: it must read a flight of its
// own, not pooled memory. Detached (a cancellable caller), the caller may
// return first, and the batch gives the memory back when it ends. (Under
// the race detector, a joiner reading pooled memory is caught here.)
func TestJoinedBatchFlightsAreNotPooled(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				gate := make(chan struct{})
				bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
					m := map[string]string{}
					for _, k := range keys {
						if k == "a" {
							<-gate
						}
						m[k] = "v" + k
					}
					return m, nil
				})
				f := pipeline.Cache("l", newMemStore[string, string](), nil)(bulk)
				bg := context.Background()
				ctx, cancel := context.WithCancel(bg)
				defer cancel()
				if !cancellable {
					ctx = bg
				}
				first := make(chan []pipeline.Result[string], 1)
				go func() { first <- pipeline.FetchMany(ctx, f, []string{"a", "b"}) }()
				synctest.Wait()
				joined := make(chan string, 1)
				go func() { v, _ := f.Fetch(bg, "a"); joined <- v }() // joins the batch's flight of a
				synctest.Wait()
				if cancellable {
					cancel() // the caller returns; the batch goes on
					require.ErrorIs(t, (<-first)[0].Err, context.Canceled)
				}
				close(gate)
				if !cancellable {
					require.Equal(t, "va", (<-first)[0].Value)
				}
				synctest.Wait() // the batch has ended
				for range 3 {   // reuse the scratch, with other values
					next := pipeline.FetchMany(ctx, f, []string{"x", "y"})
					if !cancellable {
						require.Equal(t, "vx", next[0].Value)
					}
				}
				require.Equal(t, "va", <-joined)
			})
		})
	}
}
