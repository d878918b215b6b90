package multilayer_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/multilayer-cache/multilayer/internal/paired"
	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

var (
	sinkBytes []byte
	sinkDoc   doc
)

// hitImpls returns the implementations BenchmarkHit compares: impl=raw is
// lru.Cache.Get; impl=layer is a fetch through one LRU cache layer;
// impl=stack is a fetch through LRU over key mapper over parser over LRU
// that hits at the top; the last two with no observer and with a metrics
// observer on every cache layer.
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
	return impls
}

// missImpls returns the implementations BenchmarkMiss compares: a
// fetch-and-fill through one LRU layer from a trivial source (impl=layer)
// and the hand-written equivalent, Get, load, Add (impl=hand). Every
// operation misses: keys cycle through twice the store's size.
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
