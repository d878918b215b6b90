package pipeline_test

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/paired"
	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// rwStore is a plain, fast Store for benchmarks: a map under an RWMutex.
type rwStore[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

func newRWStore[K comparable, V any]() *rwStore[K, V] { return &rwStore[K, V]{m: make(map[K]V)} }

func (s *rwStore[K, V]) Get(_ context.Context, k K) (V, bool, error) {
	s.mu.RLock()
	v, ok := s.m[k]
	s.mu.RUnlock()
	return v, ok, nil
}

func (s *rwStore[K, V]) Set(_ context.Context, k K, v V) error {
	s.mu.Lock()
	s.m[k] = v
	s.mu.Unlock()
	return nil
}

func (s *rwStore[K, V]) Clear(context.Context) error {
	s.mu.Lock()
	clear(s.m)
	s.mu.Unlock()
	return nil
}

func (s *rwStore[K, V]) Delete(_ context.Context, k K) error {
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
	return nil
}

var (
	sink     string
	sinkVals []string
	sinkErrs []error
)

// BenchmarkCoalesceHit measures a hit with coalescing on (the default) and
// off: coalescing must cost nothing on a hit.
func BenchmarkCoalesceHit(b *testing.B) {
	for _, bc := range []struct {
		name string
		off  bool
	}{{"coalesce=on", false}, {"coalesce=off", true}} {
		b.Run(bc.name, func(b *testing.B) {
			store := newRWStore[string, string]()
			f := pipeline.Cache("l", store, &pipeline.CacheOptions[string]{NoCoalesce: bc.off})(newSource("k", "v"))
			ctx := context.Background()
			_, _ = f.Fetch(ctx, "k")
			b.ReportAllocs()
			for b.Loop() {
				sink, _ = f.Fetch(ctx, "k")
			}
		})
	}
}

// BenchmarkStampede fetches a fresh key from 1000 goroutines at once per
// iteration and reports the source calls it took: coalescing makes it 1.
// mode=baseline is the same 1000 goroutines calling a function that
// returns at once: the library's allocations per stampede are a mode's
// allocs/op minus the baseline's. mode=layer-cancellable gives every
// caller a context that can be cancelled, as an HTTP request's can.
func BenchmarkStampede(b *testing.B) {
	const callers = 1000
	b.Run("mode=baseline", func(b *testing.B) {
		b.ReportAllocs()
		f := func(_ context.Context, k string) (string, error) { return k, nil }
		for b.Loop() {
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() { _, _ = f(context.Background(), "k") })
			}
			wg.Wait()
		}
	})
	for _, cancellable := range []bool{false, true} {
		name := "mode=layer"
		if cancellable {
			name += "-cancellable"
		}
		b.Run(name, func(b *testing.B) { stampede(b, callers, cancellable) })
	}
}

func stampede(b *testing.B, callers int, cancellable bool) {
	var calls atomic.Int64
	gate := make(chan struct{})
	src := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
		calls.Add(1)
		<-gate
		return k, nil
	})
	var waiting atomic.Int64
	obs := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
		if e.Kind == pipeline.SharedWait {
			waiting.Add(1)
		}
	})
	f := pipeline.Cache("l", newRWStore[string, string](), &pipeline.CacheOptions[string]{Observer: obs})(src)
	defer pipeline.Close(f)
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if cancellable {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		key := strconv.Itoa(n)
		n++
		gate = make(chan struct{})
		waiting.Store(0)
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() { _, _ = f.Fetch(ctx, key) })
		}
		// Release the source once every caller is in (or the flight has
		// already been joined by all of those that missed).
		for waiting.Load() < int64(callers-1) {
			time.Sleep(10 * time.Microsecond)
		}
		close(gate)
		wg.Wait()
	}
	b.ReportMetric(float64(calls.Load())/float64(n), "source-calls/1000-misses")
}

// spin busy-waits for d, a more exact stand-in for a remote call than
// time.Sleep, whose timer rounds short sleeps up.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

// BenchmarkBatch compares a 1000-key batch through a two-layer LRU stack with
// 1000 single fetches of the same keys: all hits, and all misses over a bulk
// source that takes 20µs a call.
func BenchmarkBatch(b *testing.B) {
	const size = 1000
	ctx := context.Background()
	var bulkCalls atomic.Int64
	bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
		bulkCalls.Add(1)
		spin(20 * time.Microsecond)
		m := make(map[string]string, len(keys))
		for _, k := range keys {
			m[k] = k
		}
		return m, nil
	})
	stack := func() pipeline.Fetcher[string, string] {
		// The stock in-memory store, which reads and writes a batch under
		// one lock.
		innerStore, _ := stores.NewLRU[string, string](2 * size)
		outerStore, _ := stores.NewLRU[string, string](2 * size)
		inner := pipeline.Cache("inner", innerStore, benchOpts)(bulk)
		return pipeline.Cache("outer", outerStore, benchOpts)(inner)
	}
	keys := func(prefix string) []string {
		ks := make([]string, size)
		for i := range ks {
			ks[i] = prefix + strconv.Itoa(i)
		}
		return ks
	}
	// single keeps what it fetched, as a caller must: a value and an error
	// per key, like the batch's results.
	single := func(f pipeline.Fetcher[string, string], ks []string) {
		vals, errs := make([]string, len(ks)), make([]error, len(ks))
		for i, k := range ks {
			vals[i], errs[i] = f.Fetch(ctx, k)
		}
		sinkVals, sinkErrs = vals, errs
	}
	// misses runs fetch of 1000 keys through f, cleared before each pass.
	misses := func(b *testing.B, f pipeline.Fetcher[string, string], fetch func(pipeline.Fetcher[string, string], []string)) {
		ks := keys("k")
		fetch(f, ks) // warm: the layers reach the size a bounded cache keeps
		bulkCalls.Store(0)
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			_ = f.(pipeline.Clearer).Clear(ctx)
			b.StartTimer()
			fetch(f, ks)
			n++
		}
		b.ReportMetric(float64(bulkCalls.Load())/float64(n), "source-calls/op")
	}
	// reuse is batch into a result slice the caller keeps between batches.
	var out []pipeline.Result[string]
	reuse := func(f pipeline.Fetcher[string, string], ks []string) {
		if len(out) != len(ks) {
			out = make([]pipeline.Result[string], len(ks))
		}
		pipeline.Batches(f, 0).FetchBatch(ctx, ks, out)
	}
	// discard is single without keeping results: the floor.
	discard := func(f pipeline.Fetcher[string, string], ks []string) {
		for _, k := range ks {
			sink, _ = f.Fetch(ctx, k)
		}
	}
	batch := func(f pipeline.Fetcher[string, string], ks []string) {
		pipeline.FetchMany(ctx, f, ks)
	}
	// batch-cancellable is batch under a ctx that can end, as a request's
	// can: the batch below runs detached, with keys and flights of its own.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cancellable := func(f pipeline.Fetcher[string, string], ks []string) {
		pipeline.FetchMany(cctx, f, ks)
	}
	for _, mode := range []struct {
		name string
		run  func(pipeline.Fetcher[string, string], []string)
	}{{"mode=single", single}, {"mode=batch", batch}, {"mode=single-discard", discard}, {"mode=batch-reuse", reuse}, {"mode=batch-cancellable", cancellable}} {
		b.Run("hits/"+mode.name, func(b *testing.B) {
			f := stack()
			ks := keys("k")
			batch(f, ks)
			b.ReportAllocs()
			for b.Loop() {
				mode.run(f, ks)
			}
		})
		b.Run("misses/"+mode.name, func(b *testing.B) { misses(b, stack(), mode.run) })
	}
	// misses-map is misses over the plain map store, whose writes cost a
	// map assignment where the LRU's also allocate and link an entry: what
	// a batch of misses costs when the stores are cheap.
	for _, mode := range []struct {
		name string
		run  func(pipeline.Fetcher[string, string], []string)
	}{{"mode=single", single}, {"mode=batch", batch}} {
		b.Run("misses-map/"+mode.name, func(b *testing.B) {
			inner := pipeline.Cache("inner", stores.NewMap[string, string](), benchOpts)(bulk)
			misses(b, pipeline.Cache("outer", stores.NewMap[string, string](), benchOpts)(inner), mode.run)
		})
	}
	// stores-only is the floor of a batch of misses: what the two stores and
	// the source's map cost by themselves, without the 20µs and without the
	// layers. A batch cannot be faster than this.
	b.Run("misses/mode=stores-only", func(b *testing.B) {
		ks := keys("k")
		inner, _ := stores.NewLRU[string, string](2 * size)
		outer, _ := stores.NewLRU[string, string](2 * size)
		out := make([]pipeline.Result[string], size)
		entries := make([]pipeline.Entry[string], size)
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			_, _ = inner.Clear(ctx), outer.Clear(ctx)
			b.StartTimer()
			outer.GetBatch(ctx, ks, out)
			inner.GetBatch(ctx, ks, out)
			m := make(map[string]string, len(ks))
			for _, k := range ks {
				m[k] = k
			}
			for i, k := range ks {
				entries[i] = pipeline.Entry[string]{Value: m[k]}
			}
			_, _ = inner.SetBatch(ctx, ks, entries), outer.SetBatch(ctx, ks, entries)
		}
	})
}

var benchOpts *pipeline.CacheOptions[string] // defaults

// BenchmarkBatchPaired times the batches of BenchmarkBatch and the single
// fetches they are held against in alternating slices (see package paired),
// so that both see the same machine; its metric x-batch is the batch's time
// relative to the single fetches' (for misses, 0.02 reads "50 times
// faster"). hits: 1000 keys held by the top of two LRU layers. misses: 1000
// keys that neither layer holds, over a bulk source that takes 20µs a call;
// each pass takes the next of four key sets, which two passes have evicted
// from the layers, so that the layers are full and evict as they fill.
func BenchmarkBatchPaired(b *testing.B) {
	ctx := context.Background()
	const size = 1000
	keySet := func(prefix string) []string {
		keys := make([]string, size)
		for i := range keys {
			keys[i] = prefix + strconv.Itoa(i)
		}
		return keys
	}
	stack := func(src pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
		innerStore, _ := stores.NewLRU[string, string](2 * size)
		outerStore, _ := stores.NewLRU[string, string](2 * size)
		return pipeline.Cache("outer", outerStore, nil)(pipeline.Cache("inner", innerStore, nil)(src))
	}
	// single keeps what it fetched, as a caller must: a value and an error
	// per key, like the batch's results.
	single := func(f pipeline.Fetcher[string, string], keys []string) {
		vals, errs := make([]string, len(keys)), make([]error, len(keys))
		for i, k := range keys {
			vals[i], errs[i] = f.Fetch(ctx, k)
		}
		sinkVals, sinkErrs = vals, errs
	}
	batch := func(f pipeline.Fetcher[string, string], keys []string) {
		sinkResults = pipeline.FetchMany(ctx, f, keys)
	}

	b.Run("hits", func(b *testing.B) {
		f := stack(pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return k, nil }))
		keys := keySet("k")
		batch(f, keys)
		paired.Run(b, 8,
			paired.Impl{Name: "single", Run: func(n int) {
				for range n {
					single(f, keys)
				}
			}},
			paired.Impl{Name: "batch", Run: func(n int) {
				for range n {
					batch(f, keys)
				}
			}},
		)
	})
	b.Run("misses", func(b *testing.B) {
		bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
			spin(20 * time.Microsecond)
			m := make(map[string]string, len(keys))
			for _, k := range keys {
				m[k] = k
			}
			return m, nil
		})
		sets := [][]string{keySet("a"), keySet("b"), keySet("c"), keySet("d")}
		impl := func(name string, run func(pipeline.Fetcher[string, string], []string)) paired.Impl {
			f := stack(bulk)
			next := 0
			for range sets { // warm: full layers
				run(f, sets[next])
				next = (next + 1) % len(sets)
			}
			return paired.Impl{Name: name, Run: func(n int) {
				for range n {
					run(f, sets[next])
					next = (next + 1) % len(sets)
				}
			}}
		}
		paired.Run(b, 1, impl("single", single), impl("batch", batch))
	})
}

var sinkResults []pipeline.Result[string]

// BenchmarkDependentsMemory measures what a record of the dependency index
// costs on the heap (heap-B/record) against what the index estimates for
// it (est-B/record), which its bound counts: an outer layer keyed by
// uint64 over a key mapper over an inner layer keyed by short strings, 200k
// outer fills, compared with the same fills made under a context that
// carries no fill marker, so that nothing is recorded. An op is both runs.
//
//	go test -run '^$' -bench DependentsMemory -count 3 ./pipeline/
func BenchmarkDependentsMemory(b *testing.B) {
	const n = 200_000
	var heap, est int64
	for b.Loop() {
		bare, _ := dependentsHeap(b, n, false)
		full, index := dependentsHeap(b, n, true)
		heap, est = (full-bare)/n, int64(index)/n
	}
	b.ReportMetric(float64(heap), "heap-B/record")
	b.ReportMetric(float64(est), "est-B/record")
}

// dependentsHeap makes n outer fills over a filled inner layer, recording
// dependents if record is set, and returns the heap they took and the
// inner index's estimate of its size.
func dependentsHeap(b *testing.B, n int, record bool) (heap int64, index int) {
	ctx := context.Background()
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return "v", nil })
	inner := pipeline.Cache("inner", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{DependentsBytes: 1 << 30})(src)
	for i := range n {
		if _, err := inner.Fetch(ctx, "k"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
	mapped := pipeline.FetcherFunc[uint64, string](func(ctx context.Context, k uint64) (string, error) {
		if !record {
			ctx = context.Background() // no fill marker: nothing is recorded
		}
		return inner.Fetch(ctx, "k"+strconv.FormatUint(k, 10))
	})
	outer := pipeline.Cache("outer", stores.NewMap[uint64, string](), nil)(mapped)
	before := int64(testkit.HeapInUse())
	for i := range n {
		if _, err := outer.Fetch(ctx, uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
	heap = int64(testkit.HeapInUse()) - before
	runtime.KeepAlive(outer)
	return heap, pipeline.DependentsBytes(inner)
}

// benchCtxKey keys the values of a request-like context in benchmarks.
type benchCtxKey int

// BenchmarkHitWhileFilling measures a hit on a warm LRU layer while another
// layer's fill is under way somewhere in the process (below=filling: a
// source blocked until the benchmark ends) or not (below=idle), under
// context.Background and under a request-like context (a cancel and six
// values, as an HTTP server and its middleware leave). While any fill is
// under way, every hit looks in its ctx for a fill marker (see deps.go),
// which walks the whole context chain when there is none.
//
//	go test -run '^$' -bench HitWhileFilling -count 6 ./pipeline/ > fill.txt
//	benchstat -col /below fill.txt
func BenchmarkHitWhileFilling(b *testing.B) {
	keys := testkit.Keys(1024)
	request, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 6 {
		request = context.WithValue(request, benchCtxKey(i), i)
	}
	for _, cc := range []struct {
		name string
		ctx  context.Context
	}{{"background", context.Background()}, {"request", request}} {
		for _, filling := range []bool{false, true} {
			below := map[bool]string{false: "idle", true: "filling"}[filling]
			b.Run("ctx="+cc.name+"/below="+below, func(b *testing.B) {
				s, err := stores.NewLRU[string, string](2 * len(keys))
				if err != nil {
					b.Fatal(err)
				}
				src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return k, nil })
				f := pipeline.Cache("l", testkit.Warm(b, s, keys), nil)(src)
				b.Cleanup(func() { _ = f.(pipeline.Closer).Close() })
				if filling {
					fillUnderWay(b)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					sink, _ = f.Fetch(cc.ctx, keys[i%len(keys)])
					i++
				}
			})
		}
	}
}

// fillUnderWay starts a fill of another layer whose source blocks until b
// ends, and waits until it is under way.
func fillUnderWay(b *testing.B) {
	s, err := stores.NewLRU[string, string](10)
	if err != nil {
		b.Fatal(err)
	}
	started, stop := make(chan struct{}), make(chan struct{})
	slow := pipeline.Cache("slow", s, nil)(pipeline.FetcherFunc[string, string](func(context.Context, string) (string, error) {
		close(started)
		<-stop
		return "", nil
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = slow.Fetch(context.Background(), "k")
	}()
	<-started
	b.Cleanup(func() {
		close(stop)
		<-done
		_ = slow.(pipeline.Closer).Close()
	})
}
