package pipeline_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"

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
