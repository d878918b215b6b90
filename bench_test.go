package multilayer_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

var (
	sinkBytes []byte
	sinkDoc   doc
)

// A benchImpl is one implementation a benchmark compares: run does n
// operations.
type benchImpl struct {
	name string
	run  func(n int)
}

// hitImpls returns the implementations BenchmarkHit compares: impl=raw is
// lru.Cache.Get; impl=layer is a fetch through one LRU cache layer;
// impl=stack is a fetch through LRU over key mapper over parser over LRU
// that hits at the top; the last two with no observer and with a metrics
// observer on every cache layer.
func hitImpls() []benchImpl {
	ctx := context.Background()
	c, _ := lru.New[string, []byte](1024)
	c.Add("a", []byte("x"))
	impls := []benchImpl{{"impl=raw/observer=none", func(n int) {
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
			benchImpl{"impl=layer/observer=" + obs, func(n int) {
				for range n {
					sinkBytes, _ = layer.Fetch(ctx, "a")
				}
			}},
			benchImpl{"impl=stack/observer=" + obs, func(n int) {
				for range n {
					sinkDoc, _ = stack.Fetch(ctx, "a")
				}
			}})
	}
	return impls
}

// missImpls returns the implementations BenchmarkMiss compares: a
// fetch-and-fill through one LRU layer from a trivial source (impl=layer)
// and the hand-written equivalent, Get, load, Add (impl=hand). Every
// operation misses: keys cycle through twice the store's size.
func missImpls() []benchImpl {
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
	return []benchImpl{
		{"impl=hand", func(n int) {
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
		{"impl=layer", func(n int) {
			for range n {
				sinkBytes, _ = f.Fetch(ctx, keys[li%len(keys)])
				li++
			}
		}},
	}
}

// BenchmarkHit compares a hit through the library with a raw golang-lru Get;
// see hitImpls. Compare with benchstat -col /impl.
func BenchmarkHit(b *testing.B) {
	for _, impl := range hitImpls() {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			impl.run(b.N) // in one call: nothing per operation but the operation
		})
	}
}

// BenchmarkMiss compares a miss through one layer with the hand-written
// equivalent; see missImpls. Compare with benchstat -col /impl.
func BenchmarkMiss(b *testing.B) {
	for _, impl := range missImpls() {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			impl.run(b.N) // in one call: nothing per operation but the operation
		})
	}
}

// BenchmarkPaired measures the ratios BenchmarkHit and BenchmarkMiss are
// for, with each implementation timed in turn, a slice of operations at a
// time, so that all of them run on the same machine state: on a shared VM
// whose speed drifts by half from one second to the next, that is worth
// more than long runs of each. It reports the time of each implementation
// per operation relative to the first one's as "x-<name>" (1.30 reads
// "1.3×"); its ns/op means nothing.
func BenchmarkPaired(b *testing.B) {
	for _, set := range []struct {
		name  string
		slice int
		impls []benchImpl
	}{
		{"Hit", 4096, hitImpls()},
		{"Miss", 512, missImpls()},
	} {
		b.Run(set.name, func(b *testing.B) {
			total := make([]time.Duration, len(set.impls))
			for b.Loop() {
				for i, impl := range set.impls {
					start := time.Now()
					impl.run(set.slice)
					total[i] += time.Since(start)
				}
			}
			for i, impl := range set.impls[1:] {
				b.ReportMetric(float64(total[i+1])/float64(total[0]), "x-"+impl.name)
			}
		})
	}
}
