package multilayer_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

var (
	sinkBytes []byte
	sinkDoc   doc
)

// BenchmarkHit compares a hit through the library with a raw golang-lru Get:
// impl=raw is lru.Cache.Get; impl=layer is a fetch through one LRU cache
// layer; impl=stack is a fetch through LRU over key mapper over parser over
// LRU that hits at the top; each with no observer and with a metrics
// observer on every cache layer.
func BenchmarkHit(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=raw/observer=none", func(b *testing.B) {
		c, _ := lru.New[string, []byte](1024)
		c.Add("a", []byte("x"))
		b.ReportAllocs()
		for b.Loop() {
			sinkBytes, _ = c.Get("a")
		}
	})
	for _, obs := range []string{"none", "metrics"} {
		// observer returns the layer's options: no observer, or a metrics
		// observer counting every event.
		observer := func(layer string) *pipeline.CacheOptions[string] {
			if obs == "none" {
				return nil
			}
			return &pipeline.CacheOptions[string]{Observer: middleware.Observe[string](middleware.NewMetrics(nil), layer)}
		}
		b.Run("impl=layer/observer="+obs, func(b *testing.B) {
			raw, _ := stores.NewLRU[string, []byte](1024)
			f := pipeline.Cache("raw", raw, observer("raw"))(bucketSource())
			_, _ = f.Fetch(ctx, "a")
			b.ReportAllocs()
			for b.Loop() {
				sinkBytes, _ = f.Fetch(ctx, "a")
			}
		})
		b.Run("impl=stack/observer="+obs, func(b *testing.B) {
			raw, _ := stores.NewLRU[string, []byte](1024)
			docs, _ := stores.NewLRU[string, doc](1024)
			var docOpts *pipeline.CacheOptions[string]
			if o := observer("docs"); o != nil {
				docOpts = o
			}
			f := pipeline.Cache("docs", docs, docOpts)(
				middleware.MapKey[doc](func(k string) string { return k })(
					middleware.Parse[string](func(b []byte) (doc, error) {
						var d doc
						return d, json.Unmarshal(b, &d)
					})(pipeline.Cache("raw", raw, observer("raw"))(bucketSource()))))
			_, _ = f.Fetch(ctx, "a")
			b.ReportAllocs()
			for b.Loop() {
				sinkDoc, _ = f.Fetch(ctx, "a")
			}
		})
	}
}

// BenchmarkMiss compares a fetch-and-fill through one LRU layer from a
// trivial source with the hand-written equivalent: Get, load, Add. Every
// iteration misses: keys cycle through twice the store's size.
func BenchmarkMiss(b *testing.B) {
	const size = 1 << 12
	ctx := context.Background()
	keys := make([]string, 2*size)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	value := []byte("value")
	load := func(_ context.Context, k string) ([]byte, error) { return value, nil }
	b.Run("impl=hand", func(b *testing.B) {
		c, _ := lru.New[string, []byte](size)
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			k := keys[i%len(keys)]
			i++
			v, ok := c.Get(k)
			if !ok {
				v, _ = load(ctx, k)
				c.Add(k, v)
			}
			sinkBytes = v
		}
	})
	b.Run("impl=layer", func(b *testing.B) {
		s, _ := stores.NewLRU[string, []byte](size)
		f := pipeline.Cache("raw", s, nil)(pipeline.FetcherFunc[string, []byte](load))
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			sinkBytes, _ = f.Fetch(ctx, keys[i%len(keys)])
			i++
		}
	})
}
