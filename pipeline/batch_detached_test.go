package pipeline_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// A detached batch whose caller gives up: the caller gets ctx.Err() for the
// keys still in flight and keeps what landed (a hit, a joined flight that
// landed while the caller waited for another); the batch goes on and lands
// in its own memory while the caller reuses its out, and joiners get the
// values.
func TestDetachedBatchCutKeepsLandedValuesAndLeavesOutAlone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		gates := map[string]chan struct{}{"a": make(chan struct{}), "j": make(chan struct{}), "b": make(chan struct{})}
		bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
			m := map[string]string{}
			for _, k := range keys {
				if g := gates[k]; g != nil {
					<-g
				}
				m[k] = "v" + k
			}
			return m, nil
		})
		ms := newMemStore[string, string]()
		require.NoError(t, ms.Set(t.Context(), "h", "H"))
		f := pipeline.Cache("l", ms, nil)(bulk)
		bf := f.(pipeline.BatchFetcher[string, string])
		bg := context.Background()
		pa := make(chan []pipeline.Result[string], 1)
		pj := make(chan []pipeline.Result[string], 1)
		go func() { pa <- pipeline.FetchMany(bg, f, []string{"a"}) }()
		go func() { pj <- pipeline.FetchMany(bg, f, []string{"j"}) }()
		synctest.Wait() // a and j are in flight, each led by a batch of its own

		ctx, cancel := context.WithCancel(bg)
		keys := []string{"h", "a", "j", "b", "a", "j", "h"}
		out := make([]pipeline.Result[string], len(keys))
		done := make(chan struct{})
		go func() { bf.FetchBatch(ctx, keys, out); close(done) }()
		synctest.Wait() // joins a and j, leads b; waits for a
		joiner := make(chan string, 1)
		go func() { v, _ := f.Fetch(bg, "b"); joiner <- v }()
		close(gates["j"])
		require.Equal(t, "vj", (<-pj)[0].Value)
		synctest.Wait()
		cancel()
		<-done
		require.Equal(t, "H", out[0].Value)
		require.Equal(t, "H", out[6].Value)
		require.ErrorIs(t, out[1].Err, context.Canceled)
		require.ErrorIs(t, out[4].Err, context.Canceled)
		require.NoError(t, out[2].Err, "j landed before the cancellation")
		require.Equal(t, "vj", out[2].Value)
		require.Equal(t, "vj", out[5].Value)
		require.ErrorIs(t, out[3].Err, context.Canceled)
		for i := range out {
			out[i] = pipeline.Result[string]{Entry: pipeline.Entry[string]{Value: "scribble"}}
			keys[i] = "scribble"
		}
		close(gates["a"])
		close(gates["b"])
		require.Equal(t, "va", (<-pa)[0].Value)
		require.Equal(t, "vb", <-joiner)
		synctest.Wait()
		for _, r := range out {
			require.Equal(t, "scribble", r.Value)
		}
		require.True(t, ms.has("b"))
		require.False(t, ms.has("scribble"))
		require.NoError(t, f.(pipeline.Closer).Close())
	})
}

// A detached batch that fetches all its keys (the direct path) and whose
// caller is cancelled: later batches of the same layer reuse the scratch
// while the first one still runs, and still get their own values.
func TestDetachedBatchScratchReusedByLaterBatches(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bulk := &gatedBulk{hold: map[string]bool{"a": true}, gate: make(chan struct{})}
		ms := newMemStore[string, string]()
		f := pipeline.Cache("l", ms, nil)(pipeline.BulkFunc[string, string](bulk.fetch))
		ctx, cancel := context.WithCancel(context.Background())
		first := make(chan []pipeline.Result[string], 1)
		go func() { first <- pipeline.FetchMany(ctx, f, []string{"a", "b", "c"}) }()
		synctest.Wait()
		cancel()
		for _, r := range <-first {
			require.ErrorIs(t, r.Err, context.Canceled)
		}
		j := make(chan string, 1)
		go func() { v, _ := f.Fetch(context.Background(), "c"); j <- v }()
		synctest.Wait()
		for n := range 4 {
			cctx, ccancel := context.WithCancel(context.Background())
			keys := []string{fmt.Sprint("p", n), fmt.Sprint("q", n), fmt.Sprint("r", n)}
			res := pipeline.FetchMany(cctx, f, keys)
			ccancel()
			for i, k := range keys {
				require.NoError(t, res[i].Err)
				require.Equal(t, "v"+k, res[i].Value)
			}
		}
		close(bulk.gate)
		require.Equal(t, "vc", <-j)
		synctest.Wait()
		for _, k := range []string{"a", "b", "c"} {
			require.True(t, ms.has(k), k)
		}
		for n := range 3 {
			res := pipeline.FetchMany(context.Background(), f, []string{"a", fmt.Sprint("s", n), "b"})
			require.Equal(t, "va", res[0].Value)
			require.Equal(t, fmt.Sprint("vs", n), res[1].Value)
			require.Equal(t, "vb", res[2].Value)
		}
		require.NoError(t, f.(pipeline.Closer).Close())
	})
}

// An observer that panics on Miss, before the batch has made its call,
// while a single fetch of one of its keys runs and a cancellable (detached)
// caller has a dup: the panic reaches the batch's caller as a *PanicError
// and the single fetch is not affected. Also
// with a detached batch that the caller abandons and that lands while a
// joiner and the next batches run (the last user gives the memory back).
func TestBatchObserverPanicAndAbandonedDetachedBatchLeaveOthersServed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bg := context.Background()
		var armed atomic.Bool
		inObs, goOn := make(chan struct{}), make(chan struct{})
		obs := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
			if e.Kind == pipeline.Miss && e.Key == "a" && armed.CompareAndSwap(true, false) {
				close(inObs)
				<-goOn
				panic("observer")
			}
		})
		gate := make(chan struct{})
		bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
			m := map[string]string{}
			for _, k := range keys {
				if k == "g" {
					<-gate
				}
				m[k] = "v" + k
			}
			return m, nil
		})
		f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{Observer: obs})(bulk)
		ctx, cancel := context.WithCancel(bg)
		defer cancel()

		armed.Store(true)
		results := make(chan []pipeline.Result[string], 1)
		go func() { results <- pipeline.FetchMany(ctx, f, []string{"a", "b", "a"}) }()
		<-inObs // Miss comes before the batch makes its call
		joined := make(chan error, 1)
		go func() { _, err := f.Fetch(bg, "b"); joined <- err }()
		synctest.Wait()
		close(goOn)
		var perr *pipeline.PanicError
		require.ErrorAs(t, (<-results)[0].Err, &perr, "the observer's panic reaches the caller as an error")
		require.NoError(t, <-joined, "the batch had made no call: b was fetched on its own")

		// Detached: the caller gives up, a joiner waits, next batches reuse scratch.
		dctx, dcancel := context.WithCancel(bg)
		first := make(chan []pipeline.Result[string], 1)
		go func() { first <- pipeline.FetchMany(dctx, f, []string{"g", "h", "g"}) }()
		synctest.Wait()
		j := make(chan string, 1)
		go func() { v, _ := f.Fetch(bg, "h"); j <- v }()
		synctest.Wait()
		dcancel()
		r := <-first
		require.ErrorIs(t, r[0].Err, context.Canceled)
		for range 3 {
			res := pipeline.FetchMany(ctx, f, []string{"x1", "x2", "x3"})
			require.Equal(t, "vx3", res[2].Value)
		}
		close(gate)
		require.Equal(t, "vh", <-j)
		synctest.Wait()
		for range 3 {
			res := pipeline.FetchMany(ctx, f, []string{"y1", "g", "y2"})
			require.Equal(t, "vg", res[1].Value)
		}
		require.NoError(t, f.(pipeline.Closer).Close())
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
