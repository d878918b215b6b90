package pipeline_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

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

func review2Ctx(cancellable bool) (context.Context, context.CancelFunc) {
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
func TestReview2JoinersGetOwnKeysResults(t *testing.T) {
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
					ctx, cancel := review2Ctx(cancellable)
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

// A detached batch whose caller gives up: the caller gets ctx.Err() for the
// keys still in flight and keeps what landed (a hit, a joined flight that
// landed while the caller waited for another); the batch goes on and lands
// in its own memory while the caller reuses its out, and joiners get the
// values.
func TestReview2DetachedCutKeepsLandedAndLeavesOutAlone(t *testing.T) {
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
func TestReview2DetachedDirectScratchReuse(t *testing.T) {
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

// A panic below fails every key the batch fetches, and the keys that
// others joined: a single fetch and another batch get the *PanicError; the
// keys the batch answered from the store on its recheck keep their values.
func TestReview2PanicReachesJoiners(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				bulk := &gatedBulk{hold: map[string]bool{"a": true}, gate: make(chan struct{}), panic: "kaboom"}
				f := pipeline.Cache("l", newMemStore[string, string](), nil)(pipeline.BulkFunc[string, string](bulk.fetch))
				ctx, cancel := review2Ctx(cancellable)
				defer cancel()
				first := make(chan []pipeline.Result[string], 1)
				go func() { first <- pipeline.FetchMany(ctx, f, []string{"a", "b", "a"}) }()
				synctest.Wait()
				single := make(chan error, 1)
				go func() { _, err := f.Fetch(context.Background(), "b"); single <- err }()
				other := make(chan []pipeline.Result[string], 1)
				go func() { other <- pipeline.FetchMany(context.Background(), f, []string{"a", "b"}) }()
				synctest.Wait()
				close(bulk.gate)
				var pe *pipeline.PanicError
				for i, r := range <-first {
					require.ErrorAs(t, r.Err, &pe, i)
				}
				require.ErrorAs(t, <-single, &pe)
				for i, r := range <-other {
					require.ErrorAs(t, r.Err, &pe, i)
				}
				synctest.Wait()
				bulk.mu.Lock()
				bulk.panic = nil
				bulk.mu.Unlock()
				res := pipeline.FetchMany(ctx, f, []string{"a", "b"})
				require.Equal(t, "va", res[0].Value)
				require.Equal(t, "vb", res[1].Value)
				require.NoError(t, f.(pipeline.Closer).Close())
			})
		})
	}
}

// Stale-if-error on the direct path (every key of the batch is a miss, and
// some hold expired entries that the caller's out carries down): each key
// gets its own stale value or the error, joiners too, and once below works
// again the fresh values.
func TestReview2StaleIfErrorDirectPath(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		for _, batchStore := range []bool{false, true} {
			t.Run(fmt.Sprintf("cancellable=%v/batchStore=%v", cancellable, batchStore), func(t *testing.T) {
				t.Parallel()
				clk := newClock()
				ms := newMemStore[string, string]()
				var store pipeline.Store[string, string] = ms
				if !batchStore {
					store = keyStore[string, string]{ms}
				}
				bulk := &gatedBulk{err: errBoom}
				f := pipeline.Cache("l", store, &pipeline.CacheOptions[string]{
					TTL: time.Minute, StaleIfError: time.Hour, Clock: clk.Now,
				})(pipeline.BulkFunc[string, string](bulk.fetch))
				expired := clk.Now().Add(-time.Second)
				for _, k := range []string{"a", "c"} {
					require.NoError(t, ms.SetEntry(t.Context(), k, pipeline.Entry[string]{Value: "old-" + k, Expires: expired}))
				}
				ctx, cancel := review2Ctx(cancellable)
				defer cancel()
				keys := []string{"a", "b", "c"}
				res := pipeline.FetchMany(ctx, f, keys)
				require.NoError(t, res[0].Err)
				require.Equal(t, "old-a", res[0].Value)
				require.ErrorIs(t, res[1].Err, errBoom)
				require.Empty(t, res[1].Value)
				require.NoError(t, res[2].Err)
				require.Equal(t, "old-c", res[2].Value)

				bulk.mu.Lock()
				bulk.err = nil
				bulk.mu.Unlock()
				res = pipeline.FetchMany(ctx, f, keys)
				for i, k := range keys {
					require.NoError(t, res[i].Err)
					require.Equal(t, "v"+k, res[i].Value)
					require.True(t, res[i].Expires.After(clk.Now()), "a fresh lifetime")
				}
				// The expired entries did not leak down as results: below
				// was asked for every key.
				require.Equal(t, [][]string{keys, keys}, bulk.list())
			})
		}
	}
}

// Stale-if-error over two cache layers on the direct path: the outer
// layer's expired entries travel down in out, and the inner layer (whose
// own entries are expired too) must answer each key from its own store.
func TestReview2StaleIfErrorDirectTwoLayers(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			innerStore, outerStore := newMemStore[string, string](), newMemStore[string, string]()
			bulk := &gatedBulk{err: errBoom}
			opts := &pipeline.CacheOptions[string]{TTL: time.Minute, StaleIfError: time.Hour, Clock: clk.Now}
			inner := pipeline.Cache("inner", innerStore, opts)(pipeline.BulkFunc[string, string](bulk.fetch))
			outer := pipeline.Cache("outer", outerStore, opts)(inner)
			expired := clk.Now().Add(-time.Second)
			require.NoError(t, outerStore.SetEntry(t.Context(), "a", pipeline.Entry[string]{Value: "outer-a", Expires: expired}))
			require.NoError(t, innerStore.SetEntry(t.Context(), "b", pipeline.Entry[string]{Value: "inner-b", Expires: expired}))
			ctx, cancel := review2Ctx(cancellable)
			defer cancel()
			res := pipeline.FetchMany(ctx, outer, []string{"a", "b", "c"})
			require.NoError(t, res[0].Err)
			require.Equal(t, "outer-a", res[0].Value, "the outer stale value; the inner layer has none and fails")
			require.NoError(t, res[1].Err)
			require.Equal(t, "inner-b", res[1].Value)
			require.ErrorIs(t, res[2].Err, errBoom)
		})
	}
}

// NaN keys never equal themselves: each occurrence is a key of its own,
// fetched and answered on its own; a repeat of an ordinary key next to them
// still gets its first occurrence's value.
func TestReview2NaNKeysInBatch(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var asked [][]float64
			bulk := pipeline.BulkFunc[float64, string](func(_ context.Context, keys []float64) (map[float64]string, error) {
				mu.Lock()
				asked = append(asked, append([]float64(nil), keys...))
				mu.Unlock()
				m := map[float64]string{}
				for _, k := range keys {
					if !math.IsNaN(k) {
						m[k] = fmt.Sprint("v", k)
					}
				}
				return m, nil
			})
			f := pipeline.Cache("l", newMemStore[float64, string](), nil)(bulk)
			ctx, cancel := review2Ctx(cancellable)
			defer cancel()
			nan := math.NaN()
			keys := []float64{nan, 1, nan, 2, 1}
			res := pipeline.FetchMany(ctx, f, keys)
			require.ErrorIs(t, res[0].Err, pipeline.ErrInvalidKey)
			require.ErrorIs(t, res[2].Err, pipeline.ErrInvalidKey)
			require.Equal(t, "v1", res[1].Value)
			require.Equal(t, "v2", res[3].Value)
			require.Equal(t, "v1", res[4].Value)
			mu.Lock()
			require.Len(t, asked, 1)
			require.Equal(t, []float64{1, 2}, asked[0], "a NaN is never asked below; 1 and 2 once")
			mu.Unlock()
			// All NaN: nothing goes below.
			res = pipeline.FetchMany(ctx, f, []float64{nan, nan})
			require.ErrorIs(t, res[0].Err, pipeline.ErrInvalidKey)
			require.ErrorIs(t, res[1].Err, pipeline.ErrInvalidKey)
			mu.Lock()
			require.Len(t, asked, 1)
			mu.Unlock()
		})
	}
}

// Negative-cached keys, repeated, among keys the batch fetches, joins and
// rechecks: each occurrence of a remembered key gets the remembered error,
// and the others their values.
func TestReview2NegativeAndRepeatsMixed(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				bulk := &gatedBulk{hold: map[string]bool{"g": true}, gate: make(chan struct{})}
				ms := newMemStore[string, string]()
				f := pipeline.Cache("l", ms, &pipeline.CacheOptions[string]{NegativeTTL: time.Hour})(pipeline.BulkFunc[string, string](bulk.fetch))
				bg := context.Background()
				require.ErrorIs(t, pipeline.FetchMany(bg, f, []string{"x1"})[0].Err, pipeline.ErrNotFound)
				go pipeline.FetchMany(bg, f, []string{"g"})
				synctest.Wait() // g is in flight
				ctx, cancel := review2Ctx(cancellable)
				defer cancel()
				keys := []string{"x1", "g", "m", "x1", "g", "m", "x2", "x2"}
				resc := make(chan []pipeline.Result[string], 1)
				go func() { resc <- pipeline.FetchMany(ctx, f, keys) }()
				synctest.Wait()
				close(bulk.gate)
				res := <-resc
				for i, k := range keys {
					if k[0] == 'x' {
						require.ErrorIs(t, res[i].Err, pipeline.ErrNotFound, i)
						require.Empty(t, res[i].Value, i)
						continue
					}
					require.NoError(t, res[i].Err, i)
					require.Equal(t, "v"+k, res[i].Value, i)
				}
				synctest.Wait()
				require.ElementsMatch(t, [][]string{{"x1"}, {"g"}, {"m", "x2"}}, bulk.list())
				require.NoError(t, f.(pipeline.Closer).Close())
			})
		})
	}
}

// A batch that looked in the store before another batch landed rechecks
// inside its flights: keys that landed meanwhile come from the store, with
// repeats, and only the others go down (the gathered path); the recheck
// finds an expired entry too, which serves stale when below fails.
func TestReview2RecheckAfterLanding(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			ms := newMemStore[string, string]()
			bulk := &gatedBulk{}
			f := pipeline.Cache("l", ms, &pipeline.CacheOptions[string]{
				TTL: time.Minute, StaleIfError: time.Hour, Clock: clk.Now,
			})(pipeline.BulkFunc[string, string](bulk.fetch))
			ctx, cancel := review2Ctx(cancellable)
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

// An invalidation while a batch fetches a key: a fetch that starts after
// Invalidate returned must not get the batch's (old) value, whether it is
// a single fetch or a batch, and the batch's old value is not kept.
func TestReview2InvalidateClosesLazyFlights(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				version := 1
				gate := make(chan struct{})
				var held bool
				bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
					mu.Lock()
					v := version
					wait := !held
					held = true
					mu.Unlock()
					if wait {
						<-gate
					}
					m := map[string]string{}
					for _, k := range keys {
						m[k] = fmt.Sprint(k, v)
					}
					return m, nil
				})
				ms := newMemStore[string, string]()
				f := pipeline.Cache("l", ms, nil)(bulk)
				ctx, cancel := review2Ctx(cancellable)
				defer cancel()
				first := make(chan []pipeline.Result[string], 1)
				go func() { first <- pipeline.FetchMany(ctx, f, []string{"a", "b"}) }()
				synctest.Wait() // read version 1, held
				// A joiner before the invalidation makes the lazy flight of a.
				early := make(chan string, 1)
				go func() { v, _ := f.Fetch(context.Background(), "a"); early <- v }()
				synctest.Wait()
				mu.Lock()
				version = 2
				mu.Unlock()
				require.NoError(t, f.(pipeline.Invalidator[string]).Invalidate(context.Background(), "a"))
				v, err := f.Fetch(context.Background(), "a")
				require.NoError(t, err)
				require.Equal(t, "a2", v)
				// b was not invalidated: it may still join the first batch,
				// which waits at the gate.
				res := pipeline.FetchMany(context.Background(), f, []string{"a", "a"})
				require.Equal(t, "a2", res[1].Value)
				close(gate)
				<-first
				<-early
				synctest.Wait()
				v, err = f.Fetch(context.Background(), "a")
				require.NoError(t, err)
				require.Equal(t, "a2", v, "the batch's old value was not kept")
				require.NoError(t, f.(pipeline.Closer).Close())
			})
		})
	}
}

// Two cache layers in a tree (the outer one over a key mapper, so that it
// marks its batches): a batch of misses goes down as it is (the direct
// path); the caller then reuses its keys; invalidating an inner key still
// drops the outer key derived from it.
func TestReview2DirectPathMarkerSurvivesCallerKeys(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			src := newSource("a", "A1", "b", "B1")
			inner := pipeline.Cache("inner", newMemStore[string, string](), nil)(src)
			outerStore := newMemStore[string, string]()
			outer := pipeline.Cache("outer", outerStore, nil)(&describedPass{inner.(pipeline.BatchFetcher[string, string])})
			ctx, cancel := review2Ctx(cancellable)
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

// Overlapping batches (synchronous and detached, some cancelled at once),
// single fetches and invalidations race over one layer: every value that
// comes back belongs to its key, and a cancelled key carries ctx.Err().
func TestReview2OverlapStressValuesMatchKeys(t *testing.T) {
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
