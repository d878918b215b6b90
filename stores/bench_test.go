package stores_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

var sink string

// BenchmarkGet measures a hit on a warm key: golang-lru's own Get as the
// baseline, then each store, then a fetch through one cache layer over an
// LRU (the library's hot path: its target is at most 1.3× the baseline).
func BenchmarkGet(b *testing.B) {
	const size = 1024
	keys := make([]string, size)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	ctx := context.Background()

	b.Run("store=golang-lru", func(b *testing.B) {
		c, err := lru.New[string, string](size)
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range keys {
			c.Add(k, k)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sink, _ = c.Get(keys[i%size])
			i++
		}
	})

	lruStore := mustLRU[string, string](b, size)
	ttlStore := mustTTL[string, string](b, size, time.Hour, nil)
	mapStore := stores.NewMap[string, string]()
	for _, s := range []pipeline.Store[string, string]{lruStore, ttlStore, mapStore} {
		for _, k := range keys {
			_ = s.Set(ctx, k, k)
		}
	}
	for _, bc := range []struct {
		name  string
		store pipeline.ExpiringStore[string, string]
	}{
		{name: "store=LRU", store: lruStore},
		{name: "store=TTL", store: ttlStore},
		{name: "store=Map", store: mapStore},
	} {
		b.Run(bc.name+"/Get", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sink, _, _ = bc.store.Get(ctx, keys[i%size])
				i++
			}
		})
		b.Run(bc.name+"/GetEntry", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				e, _, _ := bc.store.GetEntry(ctx, keys[i%size])
				sink = e.Value
				i++
			}
		})
	}

	b.Run("store=LRU/cache-layer-Fetch", func(b *testing.B) {
		src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return k, nil })
		f := pipeline.Cache("l", lruStore, nil)(src)
		b.Cleanup(func() { _ = f.(pipeline.Closer).Close() })
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sink, _ = f.Fetch(ctx, keys[i%size])
			i++
		}
	})
}
