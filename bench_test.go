package multilayer_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/multilayer-cache/multilayer/internal/paired"
	"github.com/multilayer-cache/multilayer/internal/trace"
	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

var (
	cancels   []context.CancelFunc // of contexts the benchmarks keep
	sinkBytes []byte
	sinkDoc   doc
)

// hitImpls returns the implementations BenchmarkHit compares: impl=raw is
// lru.Cache.Get; impl=layer is a fetch through one LRU cache layer;
// impl=stack is a fetch through LRU over key mapper over parser over LRU
// that hits at the top; the last two with no observer and with a metrics
// observer on every cache layer. Then the configurations with a lifetime,
// against impl=layer: impl=layer-ttlstore is the layer over stores.NewTTL,
// impl=layer-ttl the layer's TTL option over stores.NewLRU.
func hitImpls() []paired.Impl {
	ctx := context.Background()
	c, _ := lru.New[string, []byte](1024)
	c.Add("a", []byte("x"))
	impls := []paired.Impl{{Name: "impl=raw/observer=none", Run: func(n int) {
		for range n {
			sinkBytes, _ = c.Get("a")
		}
	}}}
	for _, obs := range []string{"none", "metrics"} {
		// observer returns a layer's options: no observer, or a metrics
		// observer counting every event.
		observer := func(layer string) *pipeline.CacheOptions[string] {
			if obs == "none" {
				return nil
			}
			return &pipeline.CacheOptions[string]{Observer: middleware.Observe[string](middleware.NewMetrics(nil), layer)}
		}
		raw, _ := stores.NewLRU[string, []byte](1024)
		layer := pipeline.Cache("raw", raw, observer("raw"))(bucketSource())
		_, _ = layer.Fetch(ctx, "a")

		raw2, _ := stores.NewLRU[string, []byte](1024)
		docs, _ := stores.NewLRU[string, doc](1024)
		stack := pipeline.Cache("docs", docs, observer("docs"))(
			middleware.MapKey[doc](func(k string) string { return k })(
				middleware.Parse[string](func(b []byte) (doc, error) {
					var d doc
					return d, json.Unmarshal(b, &d)
				})(pipeline.Cache("raw", raw2, observer("raw"))(bucketSource()))))
		_, _ = stack.Fetch(ctx, "a")

		impls = append(impls,
			paired.Impl{Name: "impl=layer/observer=" + obs, Run: func(n int) {
				for range n {
					sinkBytes, _ = layer.Fetch(ctx, "a")
				}
			}},
			paired.Impl{Name: "impl=stack/observer=" + obs, Run: func(n int) {
				for range n {
					sinkDoc, _ = stack.Fetch(ctx, "a")
				}
			}})
	}
	for _, l := range ttlLayers() {
		impls = append(impls, paired.Impl{Name: "impl=" + l.name + "/observer=none", Run: func(n int) {
			for range n {
				sinkBytes, _ = l.f.Fetch(ctx, "a")
			}
		}})
	}
	return impls
}

// namedFetcher is a layer under the name a benchmark gives it.
type namedFetcher struct {
	name string
	f    pipeline.Fetcher[string, []byte]
}

// ttlLayers returns one LRU layer with no lifetime, and the two ways users
// give one a lifetime, each holding "a".
func ttlLayers() []namedFetcher {
	plain, _ := stores.NewLRU[string, []byte](1024)
	ttlStore, _ := stores.NewTTL[string, []byte](1024, time.Hour, nil)
	lruStore, _ := stores.NewLRU[string, []byte](1024)
	layers := []namedFetcher{
		{"layer", pipeline.Cache("raw", plain, nil)(bucketSource())},
		{"layer-ttlstore", pipeline.Cache("raw", ttlStore, nil)(bucketSource())},
		{"layer-ttl", pipeline.Cache("raw", lruStore, &pipeline.CacheOptions[string]{TTL: time.Hour})(bucketSource())},
	}
	for _, l := range layers {
		_, _ = l.f.Fetch(context.Background(), "a")
	}
	return layers[1:]
}

// BenchmarkHitParallel is a hit from parallel readers, through one LRU
// layer with no lifetime and through the two ways of giving one. Compare
// with benchstat -col /impl; run with -cpu 2.
func BenchmarkHitParallel(b *testing.B) {
	plain, _ := stores.NewLRU[string, []byte](1024)
	base := pipeline.Cache("raw", plain, nil)(bucketSource())
	_, _ = base.Fetch(context.Background(), "a")
	for _, l := range append([]namedFetcher{{"layer", base}}, ttlLayers()...) {
		b.Run("impl="+l.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					_, _ = l.f.Fetch(ctx, "a")
				}
			})
		})
	}
}

// missImpls returns the implementations BenchmarkMiss compares: a
// fetch-and-fill through one LRU layer from a trivial source (impl=layer)
// and the hand-written equivalent, Get, load, Add (impl=hand); then the
// same layer under a context that can be cancelled, as every HTTP request's
// is (impl=layer-cancellable), and its floor: the hand-written miss that
// hands the load to a new goroutine under context.WithoutCancel, with no
// timer, and waits for it or for the context (impl=floor). Every operation
// misses: keys cycle through twice the store's size.
func missImpls() []paired.Impl {
	const size = 1 << 12
	ctx := context.Background()
	keys := make([]string, 2*size)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	value := []byte("value")
	load := func(_ context.Context, k string) ([]byte, error) { return value, nil }

	c, _ := lru.New[string, []byte](size)
	s, _ := stores.NewLRU[string, []byte](size)
	f := pipeline.Cache("raw", s, nil)(pipeline.FetcherFunc[string, []byte](load))
	var hi, li int
	cctx, cancel := context.WithCancel(ctx)
	cancels = append(cancels, cancel) // lives as long as the benchmark
	cf, _ := lru.New[string, []byte](size)
	cs, _ := stores.NewLRU[string, []byte](size)
	cl := pipeline.Cache("raw", cs, nil)(pipeline.FetcherFunc[string, []byte](load))
	var fi, ci int
	floor := func(k string) []byte {
		if v, ok := cf.Get(k); ok {
			return v
		}
		done := make(chan []byte, 1)
		go func() {
			v, _ := load(context.WithoutCancel(cctx), k)
			cf.Add(k, v)
			done <- v
		}()
		select {
		case v := <-done:
			return v
		case <-cctx.Done():
			return nil
		}
	}
	return []paired.Impl{
		{Name: "impl=hand", Run: func(n int) {
			for range n {
				k := keys[hi%len(keys)]
				hi++
				v, ok := c.Get(k)
				if !ok {
					v, _ = load(ctx, k)
					c.Add(k, v)
				}
				sinkBytes = v
			}
		}},
		{Name: "impl=layer", Run: func(n int) {
			for range n {
				sinkBytes, _ = f.Fetch(ctx, keys[li%len(keys)])
				li++
			}
		}},
		{Name: "impl=floor", Run: func(n int) {
			for range n {
				sinkBytes = floor(keys[fi%len(keys)])
				fi++
			}
		}},
		{Name: "impl=layer-cancellable", Run: func(n int) {
			for range n {
				sinkBytes, _ = cl.Fetch(cctx, keys[ci%len(keys)])
				ci++
			}
		}},
	}
}

// BenchmarkHit compares a hit through the library with a raw golang-lru Get;
// see hitImpls. Compare with benchstat -col /impl.
func BenchmarkHit(b *testing.B) {
	for _, impl := range hitImpls() {
		b.Run(impl.Name, func(b *testing.B) {
			b.ReportAllocs()
			impl.Run(b.N) // in one call: nothing per operation but the operation
		})
	}
}

// BenchmarkMiss compares a miss through one layer with the hand-written
// equivalent; see missImpls. Compare with benchstat -col /impl.
func BenchmarkMiss(b *testing.B) {
	for _, impl := range missImpls() {
		b.Run(impl.Name, func(b *testing.B) {
			b.ReportAllocs()
			impl.Run(b.N) // in one call: nothing per operation but the operation
		})
	}
}

// BenchmarkPaired measures the ratios BenchmarkHit and BenchmarkMiss are
// for, with the implementations timed in alternating slices (see package
// paired): on a shared VM that is worth more than long runs of each. Read
// the metrics x-<impl>: the time of impl per operation relative to the
// baseline's (raw golang-lru Get; hand-written Get, load, Add).
func BenchmarkPaired(b *testing.B) {
	b.Run("Hit", func(b *testing.B) { paired.Run(b, 4096, hitImpls()...) })
	b.Run("Miss", func(b *testing.B) { paired.Run(b, 512, missImpls()...) })
}

// BenchmarkDependentsBound measures what the bound of the dependency index
// (CacheOptions.DependentsBytes) costs an outer layer in hits. The stack is
// a uint64-keyed LRU layer of 200k entries over a key mapper over a
// string-keyed LRU layer of 400k, so every outer fill leaves a record of
// about 100 bytes in the inner index; a Zipf trace (s = 1.01 over 1M keys,
// 4M reads) runs through it once per op. It reports the outer layer's hit
// ratio (hit%) with the index bounded at 16 MiB (fewer records than outer
// entries), with the default bound (which grows with the outer layer's
// capacity) and with one the trace never fills.
//
//	go test -run '^$' -bench DependentsBound -count 3 .
func BenchmarkDependentsBound(b *testing.B) {
	tr := trace.Zipf(1, 1.01, 1_000_000, 4_000_000)
	for _, bound := range []struct {
		name  string
		bytes int
	}{{"16MiB", 16 << 20}, {"default", 0}, {"ample", 1 << 30}} {
		b.Run("bound="+bound.name, func(b *testing.B) {
			var ratio float64
			for b.Loop() {
				ratio = dependentsHitRatio(b, tr, bound.bytes)
			}
			b.ReportMetric(100*ratio, "hit%")
		})
	}
}

// dependentsHitRatio runs tr through the stack BenchmarkDependentsBound
// describes and returns the outer layer's hit ratio.
func dependentsHitRatio(b *testing.B, tr []uint64, bound int) float64 {
	src := pipeline.FetcherFunc[string, []byte](func(_ context.Context, k string) ([]byte, error) { return []byte(k), nil })
	innerStore, err := stores.NewLRU[string, []byte](400_000)
	if err != nil {
		b.Fatal(err)
	}
	outerStore, err := stores.NewLRU[uint64, string](200_000)
	if err != nil {
		b.Fatal(err)
	}
	inner := pipeline.Cache("inner", innerStore, &pipeline.CacheOptions[string]{DependentsBytes: bound})(src)
	mapped := pipeline.FetcherFunc[uint64, string](func(ctx context.Context, k uint64) (string, error) {
		v, err := inner.Fetch(ctx, "k"+strconv.FormatUint(k, 10))
		return string(v), err
	})
	m := middleware.NewMetrics(nil)
	outer := pipeline.Cache("outer", outerStore, &pipeline.CacheOptions[uint64]{Metrics: m})(mapped)
	ctx := context.Background()
	for _, k := range tr {
		if _, err := outer.Fetch(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
	s := m.Layer("outer").Stats()
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// BenchmarkMissOverParse is a miss in a cache layer of parsed values over
// Parse over a cache layer of raw ones that holds every key: the outer
// miss, the inner hit, the parse and the outer fill. The outer layer is
// registered with the inner one as if built right over it (Parse keeps
// keys), so the fill leaves no dependency record below.
//
//	go test -run '^$' -bench MissOverParse -benchmem -count 6 .
func BenchmarkMissOverParse(b *testing.B) {
	const size = 1 << 12
	keys := make([]string, 2*size) // twice the outer layer: every read misses there
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	src := pipeline.FetcherFunc[string, []byte](func(_ context.Context, k string) ([]byte, error) { return []byte(k), nil })
	innerStore, err := stores.NewLRU[string, []byte](len(keys))
	if err != nil {
		b.Fatal(err)
	}
	outerStore, err := stores.NewLRU[string, string](size)
	if err != nil {
		b.Fatal(err)
	}
	parse := middleware.Parse[string](func(raw []byte) (string, error) { return string(raw), nil })
	outer := pipeline.Cache("outer", outerStore, nil)(parse(pipeline.Cache("inner", innerStore, nil)(src)))
	ctx := context.Background()
	for _, k := range keys {
		if _, err := outer.Fetch(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _ = outer.Fetch(ctx, keys[i%len(keys)])
		i++
	}
}
