package pipeline_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// A key repeated in a batch emits the same events with coalescing on (the
// default) and with NoCoalesce, so that miss counts and the hit ratio do
// not depend on the coalescing mode.
func TestBatchRepeatedKeyEventsSameWithOrWithoutCoalescing(t *testing.T) {
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

// A batch whose store read of a key missed just before a single flight of
// that key landed finds the value inside its own flight (recheck), and does
// not fetch it again; with no landing in between it reads the store once.
func TestBatchRechecksStoreInsideFlight(t *testing.T) {
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

// A batch that joins a single flight and repeats keys: every position gets
// its own key's result, each key is fetched once; cancelling the batch
// answers the open positions, repeats included, with ctx.Err() at once. (The
// flights a batch leads end together, so a, fetched, is still open while c
// is: by design.)
func TestBatchJoinedAndRepeatedPositionsGetOwnResults(t *testing.T) {
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

// gatedBulk is a bulk source that blocks on gate for the keys in hold, and
// records its calls.
type gatedBulk struct {
	mu    sync.Mutex
	calls [][]string
	hold  map[string]bool
	gate  chan struct{}
	panic any
	err   error
}

func (b *gatedBulk) fetch(ctx context.Context, keys []string) (map[string]string, error) {
	b.mu.Lock()
	b.calls = append(b.calls, append([]string(nil), keys...))
	p, err := b.panic, b.err
	b.mu.Unlock()
	for _, k := range keys {
		if b.hold[k] {
			<-b.gate
			break
		}
	}
	if p != nil {
		panic(p)
	}
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, k := range keys {
		if k[0] != 'x' {
			m[k] = "v" + k
		}
	}
	return m, nil
}

func (b *gatedBulk) list() [][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]string(nil), b.calls...)
}

func batchCtx(cancellable bool) (context.Context, context.CancelFunc) {
	if cancellable {
		return context.WithCancel(context.Background())
	}
	return context.Background(), func() {}
}

// Joiners of every kind (a single fetch, a batch with repeats that also
// leads keys of its own, a cancellable batch) get the values of a batch's
// own keys, in the synchronous and the detached batch alike, over a batch
// store and a key-by-key store. The first caller scribbles over its out and
// keys once it has them back; the joiners must not see that.
func TestBatchJoinersGetTheirOwnKeysResults(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		for _, batchStore := range []bool{false, true} {
			t.Run(fmt.Sprintf("cancellable=%v/batchStore=%v", cancellable, batchStore), func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					bulk := &gatedBulk{hold: map[string]bool{"a": true}, gate: make(chan struct{})}
					ms := newMemStore[string, string]()
					var store pipeline.Store[string, string] = ms
					if !batchStore {
						store = keyStore[string, string]{ms}
					}
					f := pipeline.Cache("l", store, nil)(pipeline.BulkFunc[string, string](bulk.fetch))
					bf := f.(pipeline.BatchFetcher[string, string])
					ctx, cancel := batchCtx(cancellable)
					defer cancel()

					keys := []string{"a", "b", "x1", "c"}
					out := make([]pipeline.Result[string], len(keys))
					done := make(chan struct{})
					go func() { bf.FetchBatch(ctx, keys, out); close(done) }()
					synctest.Wait()

					single := make(chan pipeline.Result[string], 1)
					go func() {
						v, err := f.Fetch(context.Background(), "c")
						single <- pipeline.Result[string]{Entry: pipeline.Entry[string]{Value: v}, Err: err}
					}()
					other := make(chan []pipeline.Result[string], 1)
					go func() {
						other <- pipeline.FetchMany(context.Background(), f, []string{"b", "d", "a", "b", "x1"})
					}()
					cctx, ccancel := context.WithCancel(context.Background())
					defer ccancel()
					third := make(chan []pipeline.Result[string], 1)
					go func() { third <- pipeline.FetchMany(cctx, f, []string{"c", "a", "e"}) }()
					synctest.Wait()

					close(bulk.gate)
					<-done
					for i, want := range []string{"va", "vb", "", "vc"} {
						if want == "" {
							require.ErrorIs(t, out[i].Err, pipeline.ErrNotFound, i)
							continue
						}
						require.NoError(t, out[i].Err, i)
						require.Equal(t, want, out[i].Value, i)
					}
					// The caller owns its memory again.
					for i := range out {
						out[i] = pipeline.Result[string]{Entry: pipeline.Entry[string]{Value: "scribble"}}
						keys[i] = "scribble"
					}
					r := <-single
					require.NoError(t, r.Err)
					require.Equal(t, "vc", r.Value)
					got := <-other
					for i, want := range []string{"vb", "vd", "va", "vb", ""} {
						if want == "" {
							require.ErrorIs(t, got[i].Err, pipeline.ErrNotFound, i)
							continue
						}
						require.NoError(t, got[i].Err, i)
						require.Equal(t, want, got[i].Value, i)
					}
					got = <-third
					for i, want := range []string{"vc", "va", "ve"} {
						require.NoError(t, got[i].Err, i)
						require.Equal(t, want, got[i].Value, i)
					}
					synctest.Wait()
					calls := bulk.list()
					require.Equal(t, []string{"a", "b", "x1", "c"}, calls[0])
					require.ElementsMatch(t, [][]string{{"a", "b", "x1", "c"}, {"d"}, {"e"}}, calls)
					require.False(t, ms.has("scribble"))
					require.NoError(t, f.(pipeline.Closer).Close())
				})
			})
		}
	}
}

// A batch that looked in the store before another batch landed rechecks
// inside its flights: keys that landed meanwhile come from the store, with
// repeats, and only the others go down (the gathered path); the recheck
// finds an expired entry too, which serves stale when below fails.
func TestBatchRechecksKeysLandedByAnotherBatch(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			clk := testkit.NewClock()
			ms := newMemStore[string, string]()
			bulk := &gatedBulk{}
			f := pipeline.Cache("l", ms, &pipeline.CacheOptions[string]{
				TTL: time.Minute, StaleIfError: time.Hour, Clock: clk.Now,
			})(pipeline.BulkFunc[string, string](bulk.fetch))
			ctx, cancel := batchCtx(cancellable)
			defer cancel()
			var fired bool
			ms.afterGet = func() {
				if fired {
					return
				}
				fired = true
				// Lands k between the batch's read and its flights, and
				// leaves an expired entry for e.
				done := make(chan struct{})
				go func() {
					defer close(done)
					_ = pipeline.FetchMany(context.Background(), f, []string{"k"})
				}()
				<-done
				require.NoError(t, ms.SetEntry(context.Background(), "e", pipeline.Entry[string]{Value: "old-e", Expires: clk.Now().Add(-time.Second)}))
				bulk.mu.Lock()
				bulk.err = errBoom
				bulk.mu.Unlock()
			}
			keys := []string{"e", "k", "q", "k", "e"}
			res := pipeline.FetchMany(ctx, f, keys)
			require.Equal(t, "vk", res[1].Value)
			require.Equal(t, "vk", res[3].Value)
			require.NoError(t, res[1].Err)
			require.Equal(t, "old-e", res[0].Value)
			require.NoError(t, res[0].Err)
			require.Equal(t, "old-e", res[4].Value)
			require.ErrorIs(t, res[2].Err, errBoom)
			require.Equal(t, [][]string{{"k"}, {"e", "q"}}, bulk.list())
		})
	}
}

// Overlapping batches (synchronous and detached, some cancelled at once),
// single fetches and invalidations race over one layer: every value that
// comes back belongs to its key, and a cancelled key carries ctx.Err().
func TestOverlappingBatchesValuesMatchTheirKeys(t *testing.T) {
	t.Parallel()
	bulk := pipeline.BulkFunc[string, string](func(ctx context.Context, keys []string) (map[string]string, error) {
		m := make(map[string]string, len(keys))
		for _, k := range keys {
			m[k] = "v" + k
		}
		return m, nil
	})
	for _, batchStore := range []bool{false, true} {
		ms := newMemStore[string, string]()
		var store pipeline.Store[string, string] = ms
		if !batchStore {
			store = keyStore[string, string]{ms}
		}
		f := pipeline.Cache("l", store, nil)(bulk)
		inv := f.(pipeline.Invalidator[string])
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Go(func() {
				for n := range 150 {
					keys := make([]string, 6)
					for i := range keys {
						keys[i] = fmt.Sprint("k", (g*7+n*3+i*5)%11)
					}
					ctx, cancel := context.WithCancel(context.Background())
					switch n % 4 {
					case 0:
						ctx = context.Background()
					case 3:
						cancel()
					}
					if n%5 == 0 {
						_ = inv.Invalidate(context.Background(), keys[0])
					}
					if n%7 == 0 {
						v, err := f.Fetch(context.Background(), keys[1])
						if err != nil || v != "v"+keys[1] {
							t.Errorf("single %s: %q %v", keys[1], v, err)
						}
					}
					res := pipeline.FetchMany(ctx, f, keys)
					cancel()
					for i, r := range res {
						if r.Err != nil {
							if n%4 != 3 {
								t.Errorf("%s: %v", keys[i], r.Err)
							}
							continue
						}
						if r.Value != "v"+keys[i] {
							t.Errorf("%s: got %q", keys[i], r.Value)
						}
					}
				}
			})
		}
		wg.Wait()
		require.NoError(t, f.(pipeline.Closer).Close())
	}
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

// With NoCoalesce, a batch whose caller can be cancelled returns its values
// as soon as they are fetched, not when its ctx ends.
func TestNoCoalesceBatchWithCancellableContextReturnsWhenFetched(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bulk := &bulkSource{}
		f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{NoCoalesce: true})(
			pipeline.BulkFunc[string, string](bulk.fetch))
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		start := time.Now()
		res := pipeline.FetchMany(ctx, f, []string{"a", "b"})
		require.Zero(t, time.Since(start), "the batch waited for its ctx to end")
		require.NoError(t, res[0].Err)
		require.Equal(t, "va", res[0].Value)
		require.NoError(t, res[1].Err)
		require.Equal(t, "vb", res[1].Value)
	})
}
