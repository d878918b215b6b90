package pipeline_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// bulkSource records every bulk call.
type bulkSource struct {
	mu    sync.Mutex
	calls [][]string
	gate  chan struct{}
	err   error
}

func (b *bulkSource) fetch(ctx context.Context, keys []string) (map[string]string, error) {
	b.mu.Lock()
	b.calls = append(b.calls, append([]string(nil), keys...))
	b.mu.Unlock()
	if b.gate != nil {
		select {
		case <-b.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		if k[0] != 'x' { // keys starting with x do not exist
			m[k] = "v" + k
		}
	}
	return m, nil
}

func (b *bulkSource) callList() [][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]string(nil), b.calls...)
}

func keysN(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	return keys
}

func TestBatchThroughStackOverBulkSource(t *testing.T) {
	t.Parallel()
	src := &bulkSource{}
	innerStore, outerStore := newMemStore[string, string](), newMemStore[string, string]()
	inner := pipeline.Cache("inner", innerStore, nil)(pipeline.BulkFunc[string, string](src.fetch))
	outer := pipeline.Cache("outer", outerStore, nil)(inner)

	keys := keysN(1000)
	var missing []string
	for i, k := range keys {
		if i%2 == 0 {
			require.NoError(t, outerStore.Set(t.Context(), k, "v"+k))
		} else {
			missing = append(missing, k)
		}
	}
	res := pipeline.FetchMany(t.Context(), outer, keys)
	require.Len(t, res, len(keys))
	for i, r := range res {
		require.NoError(t, r.Err, keys[i])
		require.Equal(t, "v"+keys[i], r.Value, "result in its position")
	}
	calls := src.callList()
	require.Len(t, calls, 1, "one bulk call")
	got := calls[0]
	sort.Strings(got)
	sort.Strings(missing)
	require.Equal(t, missing, got, "exactly the missing keys, none twice")
	for _, k := range missing {
		require.True(t, innerStore.has(k))
		require.True(t, outerStore.has(k))
	}
}

func TestBatchOverSingleSourceHonoursLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var running, peak, calls atomic.Int64
		src := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
			calls.Add(1)
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(time.Millisecond) // fake time inside the bubble
			running.Add(-1)
			return "v" + k, nil
		})
		const limit = 7
		f := pipeline.Cache("l", newMemStore[string, string](),
			&pipeline.CacheOptions[string]{BatchConcurrency: limit})(src)
		keys := keysN(200)
		res := pipeline.FetchMany(t.Context(), f, keys)
		for i, r := range res {
			require.NoError(t, r.Err)
			require.Equal(t, "v"+keys[i], r.Value)
		}
		require.EqualValues(t, 200, calls.Load())
		require.EqualValues(t, limit, peak.Load(), "at most the limit at once, and the limit is used")
	})
}

func TestBatchDuplicatesFetchedOnce(t *testing.T) {
	t.Parallel()
	src := &bulkSource{}
	f := pipeline.Cache("l", newMemStore[string, string](), nil)(pipeline.BulkFunc[string, string](src.fetch))
	res := pipeline.FetchMany(t.Context(), f, []string{"a", "b", "a", "xa", "a", "xa"})
	require.Equal(t, [][]string{{"a", "b", "xa"}}, src.callList())
	for _, i := range []int{0, 2, 4} {
		require.Equal(t, "va", res[i].Value)
	}
	require.Equal(t, "vb", res[1].Value)
	for _, i := range []int{3, 5} {
		require.ErrorIs(t, res[i].Err, pipeline.ErrNotFound)
	}

	// Without a cache layer, duplicates are fetched once too.
	src2 := &bulkSource{}
	res = pipeline.FetchMany[string, string](t.Context(), pipeline.BulkFunc[string, string](src2.fetch), []string{"a", "a"})
	require.Equal(t, [][]string{{"a"}}, src2.callList())
	require.Equal(t, "va", res[1].Value)
	var calls atomic.Int64
	single := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
		calls.Add(1)
		return k, nil
	})
	res = pipeline.FetchMany[string, string](t.Context(), single, []string{"a", "b", "a"})
	require.EqualValues(t, 2, calls.Load())
	require.Equal(t, "a", res[2].Value)
}

func TestBatchPerKeyErrors(t *testing.T) {
	t.Parallel()
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
		switch k[0] {
		case 'x':
			return "", fmt.Errorf("%s: %w", k, pipeline.ErrNotFound)
		case 'e':
			return "", errBoom
		}
		return "v" + k, nil
	})
	f := pipeline.Cache("l", newMemStore[string, string](), nil)(src)
	res := pipeline.FetchMany(t.Context(), f, []string{"a", "x1", "e1", "b"})
	require.Equal(t, "va", res[0].Value)
	require.ErrorIs(t, res[1].Err, pipeline.ErrNotFound)
	require.ErrorIs(t, res[2].Err, errBoom)
	require.NotErrorIs(t, res[2].Err, pipeline.ErrNotFound)
	require.Equal(t, "vb", res[3].Value)
}

func TestBatchBulkErrorFailsItsKeys(t *testing.T) {
	t.Parallel()
	src := &bulkSource{err: errBoom}
	store := newMemStore[string, string]()
	require.NoError(t, store.Set(t.Context(), "held", "H"))
	f := pipeline.Cache("l", store, nil)(pipeline.BulkFunc[string, string](src.fetch))
	res := pipeline.FetchMany(t.Context(), f, []string{"a", "held"})
	require.ErrorIs(t, res[0].Err, errBoom)
	require.NoError(t, res[1].Err, "one key's failure does not fail the others")
	require.Equal(t, "H", res[1].Value)
}

func TestBatchCoalescesWithSingleFetch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		fetched := map[string]int{}
		gate := make(chan struct{})
		src := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
			mu.Lock()
			fetched[k]++
			mu.Unlock()
			<-gate
			return "v" + k, nil
		})
		f := pipeline.Cache("l", newMemStore[string, string](), nil)(src)

		single := make(chan string)
		go func() {
			v, _ := f.Fetch(t.Context(), "b")
			single <- v
		}()
		synctest.Wait() // the single fetch of b is in flight
		var res []pipeline.Result[string]
		done := make(chan struct{})
		go func() {
			res = pipeline.FetchMany(t.Context(), f, []string{"a", "b", "c"})
			close(done)
		}()
		synctest.Wait()
		close(gate)
		require.Equal(t, "vb", <-single)
		<-done
		require.Equal(t, "va", res[0].Value)
		require.Equal(t, "vb", res[1].Value)
		require.Equal(t, "vc", res[2].Value)
		require.Equal(t, map[string]int{"a": 1, "b": 1, "c": 1}, fetched)

		// And the other way round: a single fetch joins a batch's flight.
		gate2 := make(chan struct{})
		bulk := &bulkSource{gate: gate2}
		g := pipeline.Cache("g", newMemStore[string, string](), nil)(pipeline.BulkFunc[string, string](bulk.fetch))
		go pipeline.FetchMany(t.Context(), g, []string{"p", "q"})
		synctest.Wait()
		got := make(chan string)
		go func() {
			v, _ := g.Fetch(t.Context(), "q")
			got <- v
		}()
		synctest.Wait()
		close(gate2)
		require.Equal(t, "vq", <-got)
		synctest.Wait()
		require.Equal(t, [][]string{{"p", "q"}}, bulk.callList())
	})
}

// A batch joins the keys another batch is fetching, a repeat of such a key
// in the batch waits for the same flight, and an invalidation closes the
// batches under way to later fetches, which then fetch for themselves.
func TestBatchCoalescesWithBatch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		bulk := &bulkSource{gate: gate}
		f := pipeline.Cache("l", newMemStore[string, string](), nil)(pipeline.BulkFunc[string, string](bulk.fetch))

		var first []pipeline.Result[string]
		go func() { first = pipeline.FetchMany(t.Context(), f, []string{"p", "q"}) }()
		synctest.Wait() // the first batch is fetching p and q
		var second []pipeline.Result[string]
		go func() { second = pipeline.FetchMany(t.Context(), f, []string{"q", "r", "q"}) }()
		synctest.Wait()
		close(gate)
		synctest.Wait()
		require.Equal(t, [][]string{{"p", "q"}, {"r"}}, bulk.callList(), "q is fetched once, by the first batch")
		for i, want := range []string{"vp", "vq"} {
			require.NoError(t, first[i].Err)
			require.Equal(t, want, first[i].Value)
		}
		for i, want := range []string{"vq", "vr", "vq"} {
			require.NoError(t, second[i].Err, i)
			require.Equal(t, want, second[i].Value, i)
		}

		gate2 := make(chan struct{})
		bulk2 := &bulkSource{gate: gate2}
		g := pipeline.Cache("g", newMemStore[string, string](), nil)(pipeline.BulkFunc[string, string](bulk2.fetch))
		go pipeline.FetchMany(t.Context(), g, []string{"s", "t"})
		synctest.Wait()
		require.NoError(t, g.(pipeline.Invalidator[string]).Invalidate(t.Context(), "s"))
		got := make(chan string)
		go func() {
			v, _ := g.Fetch(t.Context(), "s")
			got <- v
		}()
		synctest.Wait()
		close(gate2)
		require.Equal(t, "vs", <-got)
		synctest.Wait()
		require.Equal(t, [][]string{{"s", "t"}, {"s"}}, bulk2.callList(),
			"a fetch after an invalidation does not join a batch that began before it")
	})
}

func TestBatchCancellation(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bulk := &bulkSource{gate: make(chan struct{})}
		store := newMemStore[string, string]()
		require.NoError(t, store.Set(t.Context(), "held", "H"))
		f := pipeline.Cache("l", store, nil)(pipeline.BulkFunc[string, string](bulk.fetch))
		ctx, cancel := context.WithCancel(t.Context())
		var res []pipeline.Result[string]
		done := make(chan struct{})
		go func() {
			res = pipeline.FetchMany(ctx, f, []string{"a", "held", "b"})
			close(done)
		}()
		synctest.Wait()
		start := time.Now()
		cancel()
		<-done
		require.Zero(t, time.Since(start), "returns at once")
		require.ErrorIs(t, res[0].Err, context.Canceled)
		require.Equal(t, "H", res[1].Value)
		require.ErrorIs(t, res[2].Err, context.Canceled)
		close(bulk.gate)
		synctest.Wait() // the detached batch finishes: nothing leaks
		require.True(t, store.has("a"), "the fetched values are kept")
	})
}

func TestBatchCancellationOverSingleSource(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		src := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
			calls.Add(1)
			<-ctx.Done()
			return "", ctx.Err()
		})
		ctx, cancel := context.WithCancel(t.Context())
		var res []pipeline.Result[string]
		done := make(chan struct{})
		go func() {
			res = pipeline.FetchMany[string, string](ctx, src, keysN(100))
			close(done)
		}()
		synctest.Wait()
		cancel()
		<-done
		for _, r := range res {
			require.ErrorIs(t, r.Err, context.Canceled)
		}
		require.EqualValues(t, pipeline.DefaultBatchConcurrency, calls.Load(), "no key is started after cancellation")
	})
}

func TestBatchPanic(t *testing.T) {
	t.Parallel()
	src := pipeline.BulkFunc[string, string](func(context.Context, []string) (map[string]string, error) {
		panic("bulk kaboom")
	})
	f := pipeline.Cache("l", newMemStore[string, string](), nil)(src)
	res := pipeline.FetchMany(t.Context(), f, []string{"a", "b"})
	for _, r := range res {
		var pe *pipeline.PanicError
		require.ErrorAs(t, r.Err, &pe)
		require.Equal(t, "bulk kaboom", pe.Value)
	}
	// Not stuck.
	res = pipeline.FetchMany(context.Background(), f, []string{"a"})
	require.Error(t, res[0].Err)
}

func TestBatchEventsPerKey(t *testing.T) {
	t.Parallel()
	rec := &recorder[string]{}
	store := newMemStore[string, string]()
	require.NoError(t, store.Set(t.Context(), "a", "va"))
	f := pipeline.Cache("l", store, &pipeline.CacheOptions[string]{Observer: rec})(
		pipeline.BulkFunc[string, string]((&bulkSource{}).fetch))
	pipeline.FetchMany(context.Background(), f, []string{"a", "b", "xc"})
	require.Equal(t, []string{"hit l a", "miss l b", "miss l xc", "fill l b", "not found l xc"}, rec.list())
}

func TestBulkFuncSingleFetch(t *testing.T) {
	t.Parallel()
	src := &bulkSource{}
	f := pipeline.BulkFunc[string, string](src.fetch)
	v, err := f.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, "va", v)
	_, err = f.Fetch(t.Context(), "xa")
	require.ErrorIs(t, err, pipeline.ErrNotFound)
	src.err = errBoom
	_, err = f.Fetch(t.Context(), "a")
	require.ErrorIs(t, err, errBoom)
}

// storeKinds builds a cache layer's store both ways: a BatchStore, read and
// written once per batch, and the same store seen one key at a time.
var storeKinds = []struct {
	name string
	wrap func(*memStore[string, string]) pipeline.Store[string, string]
}{
	{"batch", func(s *memStore[string, string]) pipeline.Store[string, string] { return s }},
	{"per-key", func(s *memStore[string, string]) pipeline.Store[string, string] {
		return keyStore[string, string]{s}
	}},
}

func TestBatchStoreKinds(t *testing.T) {
	t.Parallel()
	for _, kind := range storeKinds {
		t.Run(kind.name+"/stack", func(t *testing.T) {
			t.Parallel()
			src := &bulkSource{}
			innerStore, outerStore := newMemStore[string, string](), newMemStore[string, string]()
			inner := pipeline.Cache("inner", kind.wrap(innerStore), nil)(pipeline.BulkFunc[string, string](src.fetch))
			outer := pipeline.Cache("outer", kind.wrap(outerStore), nil)(inner)
			keys := []string{"a", "b", "xc", "a", "d"}
			require.NoError(t, outerStore.Set(t.Context(), "b", "held"))

			res := pipeline.FetchMany(t.Context(), outer, keys)
			for i, want := range []string{"va", "held", "", "va", "vd"} {
				if want == "" {
					require.ErrorIs(t, res[i].Err, pipeline.ErrNotFound, keys[i])
					continue
				}
				require.NoError(t, res[i].Err, keys[i])
				require.Equal(t, want, res[i].Value, keys[i])
			}
			require.Equal(t, [][]string{{"a", "xc", "d"}}, src.callList())
			for _, k := range []string{"a", "d"} {
				require.True(t, innerStore.has(k))
				require.True(t, outerStore.has(k))
			}
			require.False(t, outerStore.has("xc"))

			// Everything held now: no more calls below.
			res = pipeline.FetchMany(t.Context(), outer, []string{"a", "d"})
			require.Equal(t, "va", res[0].Value)
			require.Equal(t, "vd", res[1].Value)
			require.Len(t, src.callList(), 1)
		})
		t.Run(kind.name+"/expiry", func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				store := newMemStore[string, string]()
				bulk := &bulkSource{}
				f := pipeline.Cache("l", kind.wrap(store), &pipeline.CacheOptions[string]{
					TTL: time.Minute, StaleIfError: time.Minute,
				})(pipeline.BulkFunc[string, string](bulk.fetch))
				res := pipeline.FetchMany(t.Context(), f, []string{"a", "b"})
				require.NoError(t, res[0].Err)

				time.Sleep(30 * time.Second) // fresh: hits
				res = pipeline.FetchMany(t.Context(), f, []string{"a", "b"})
				require.Equal(t, "va", res[0].Value)
				require.Len(t, bulk.callList(), 1)

				time.Sleep(time.Minute) // expired: fetched again
				require.NoError(t, store.SetEntry(t.Context(), "b", pipeline.Entry[string]{Value: "old-b", Expires: time.Now().Add(-time.Second)}))
				bulk.err = errBoom // below fails: the expired values are served
				res = pipeline.FetchMany(t.Context(), f, []string{"a", "b"})
				require.Len(t, bulk.callList(), 2)
				require.NoError(t, res[0].Err)
				require.Equal(t, "va", res[0].Value)
				require.NoError(t, res[1].Err)
				require.Equal(t, "old-b", res[1].Value)
			})
		})
		t.Run(kind.name+"/store-errors", func(t *testing.T) {
			t.Parallel()
			store := newMemStore[string, string]()
			store.getErr, store.setErr = errBoom, errBoom
			rec := &recorder[string]{}
			f := pipeline.Cache("l", kind.wrap(store), &pipeline.CacheOptions[string]{Observer: rec})(
				pipeline.BulkFunc[string, string]((&bulkSource{}).fetch))
			res := pipeline.FetchMany(t.Context(), f, []string{"a", "b"})
			for i, want := range []string{"va", "vb"} {
				require.NoError(t, res[i].Err, "a failing store is a miss, a failing write loses nothing")
				require.Equal(t, want, res[i].Value)
			}
			require.Equal(t, 2, rec.count(pipeline.Error), "a read error per key, and no write after a failed read")
			require.Zero(t, rec.count(pipeline.Fill), "nothing kept")
		})
	}
}

func TestBatchStoreOneCallEach(t *testing.T) {
	t.Parallel()
	innerStore, outerStore := newMemStore[string, string](), newMemStore[string, string]()
	inner := pipeline.Cache("inner", innerStore, nil)(pipeline.BulkFunc[string, string]((&bulkSource{}).fetch))
	outer := pipeline.Cache("outer", outerStore, nil)(inner)
	keys := keysN(1000)
	for _, k := range keys[:500] {
		require.NoError(t, outerStore.Set(t.Context(), k, "v"+k))
	}
	outerStore.sets.Store(0)

	res := pipeline.FetchMany(t.Context(), outer, keys)
	for i, r := range res {
		require.NoError(t, r.Err)
		require.Equal(t, "v"+keys[i], r.Value)
	}
	for name, s := range map[string]*memStore[string, string]{"inner": innerStore, "outer": outerStore} {
		require.EqualValues(t, 1, s.batchGets.Load(), name+": one read")
		require.EqualValues(t, 1, s.batchSets.Load(), name+": one write")
		require.Zero(t, s.gets.Load(), name+": no read per key")
		require.Zero(t, s.sets.Load(), name+": no write per key")
	}
}

// Repeated keys among a batch's misses, some with expired entries kept for
// stale-if-error: each distinct key goes down once, in the order of its first
// occurrence, and every occurrence gets its key's answer, the stale value
// where there is one. Uncancellable, the results come straight back into
// the caller's slice; cancellable, the batch runs detached and they are
// copied.
func TestBatchRepeatsWithStaleIfError(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			clk := testkit.NewClock()
			store := newMemStore[string, string]()
			bulk := &bulkSource{err: errBoom}
			f := pipeline.Cache("l", store, &pipeline.CacheOptions[string]{
				TTL: time.Minute, StaleIfError: time.Hour, Clock: clk.Now,
			})(pipeline.BulkFunc[string, string](bulk.fetch))
			expired := clk.Now().Add(-time.Second)
			for _, k := range []string{"a", "c"} {
				require.NoError(t, store.SetEntry(t.Context(), k, pipeline.Entry[string]{Value: "old-" + k, Expires: expired}))
			}
			require.NoError(t, store.SetEntry(t.Context(), "h", pipeline.Entry[string]{Value: "held", Expires: clk.Now().Add(time.Minute)}))
			ctx := context.Background()
			if cancellable {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
			}
			keys := []string{"a", "h", "b", "a", "c", "b", "c"}
			res := pipeline.FetchMany(ctx, f, keys)
			require.Equal(t, [][]string{{"a", "b", "c"}}, bulk.callList(), "each distinct miss once, in order")
			want := map[string]string{"a": "old-a", "c": "old-c", "h": "held"}
			for i, k := range keys {
				if k == "b" {
					require.ErrorIs(t, res[i].Err, errBoom, "position %d", i)
					continue
				}
				require.NoError(t, res[i].Err, "position %d", i)
				require.Equal(t, want[k], res[i].Value, "position %d", i)
			}

			// Below works again: every key is fetched once more, and the
			// repeats get the new values.
			bulk.err = nil
			res = pipeline.FetchMany(ctx, f, keys)
			require.Equal(t, []string{"a", "b", "c"}, bulk.callList()[1])
			for i, k := range keys {
				require.NoError(t, res[i].Err)
				if k != "h" {
					require.Equal(t, "v"+k, res[i].Value, "position %d", i)
				}
			}
		})
	}
}

// Close while a detached batch is under way cancels it and waits; the
// batch's caller gets the cancellation; nothing stays in flight.
func TestCloseDuringBatchCancelsItAndWaits(t *testing.T) {
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
