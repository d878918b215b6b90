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

var (
	sink      string
	sinkEntry pipeline.Entry[string]
	sinkDoc   benchDoc
)

// benchDoc is a value of 32 bytes, which golang-lru holds by value.
type benchDoc struct{ Key, Value string }

// benchSize is the capacity of the benchmarks' stores, and the number of
// keys they hold when warm.
const benchSize = 1024

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	return keys
}

// BenchmarkLRU compares LRU with golang-lru's lru.Cache, its baseline, on
// the same keys: a Get that hits, a Set that replaces a key, and a Set of a
// new key that evicts the oldest. Compare with
//
//	benchstat -filter .name:LRU -col /impl
func BenchmarkLRU(b *testing.B) {
	ctx := context.Background()
	keys := benchKeys(2 * benchSize) // the first benchSize are held; cycling through all evicts
	baseline := func(b *testing.B) *lru.Cache[string, string] {
		c, err := lru.New[string, string](benchSize)
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range keys[:benchSize] {
			c.Add(k, k)
		}
		return c
	}
	store := func(b *testing.B) *stores.LRU[string, string] {
		s := mustLRU[string, string](b, benchSize)
		for _, k := range keys[:benchSize] {
			_ = s.Set(ctx, k, k)
		}
		return s
	}

	b.Run("op=Get/impl=golang-lru", func(b *testing.B) {
		c := baseline(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sink, _ = c.Get(keys[i%benchSize])
			i++
		}
	})
	b.Run("op=Get/impl=stores", func(b *testing.B) {
		s := store(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sink, _, _ = s.Get(ctx, keys[i%benchSize])
			i++
		}
	})
	// A hit on a larger value must cost no more than golang-lru's either.
	b.Run("op=GetDoc/impl=golang-lru", func(b *testing.B) {
		c, err := lru.New[string, benchDoc](benchSize)
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range keys[:benchSize] {
			c.Add(k, benchDoc{k, k})
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sinkDoc, _ = c.Get(keys[i%benchSize])
			i++
		}
	})
	b.Run("op=GetDoc/impl=stores", func(b *testing.B) {
		s := mustLRU[string, benchDoc](b, benchSize)
		for _, k := range keys[:benchSize] {
			_ = s.Set(ctx, k, benchDoc{k, k})
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sinkDoc, _, _ = s.Get(ctx, keys[i%benchSize])
			i++
		}
	})
	b.Run("op=Set/impl=golang-lru", func(b *testing.B) {
		c := baseline(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.Add(keys[i%benchSize], "v")
			i++
		}
	})
	b.Run("op=Set/impl=stores", func(b *testing.B) {
		s := store(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = s.Set(ctx, keys[i%benchSize], "v")
			i++
		}
	})
	b.Run("op=SetNew/impl=golang-lru", func(b *testing.B) {
		c := baseline(b)
		b.ReportAllocs()
		i := benchSize
		for b.Loop() {
			c.Add(keys[i%len(keys)], "v")
			i++
		}
	})
	b.Run("op=SetNew/impl=stores", func(b *testing.B) {
		s := store(b)
		b.ReportAllocs()
		i := benchSize
		for b.Loop() {
			_ = s.Set(ctx, keys[i%len(keys)], "v")
			i++
		}
	})
}

// BenchmarkStores measures each store through pipeline.ExpiringStore, and a
// fetch that hits a cache layer over it (the library's hot path: its target
// is at most 1.3× golang-lru's Get in BenchmarkLRU). Compare with
//
//	benchstat -filter .name:Stores -col /store
func BenchmarkStores(b *testing.B) {
	ctx := context.Background()
	keys := benchKeys(benchSize)
	future := time.Now().Add(time.Hour)
	for _, sc := range []struct {
		name string
		new  func(b *testing.B) pipeline.ExpiringStore[string, string]
	}{
		{name: "LRU", new: func(b *testing.B) pipeline.ExpiringStore[string, string] {
			return mustLRU[string, string](b, benchSize)
		}},
		{name: "TTL", new: func(b *testing.B) pipeline.ExpiringStore[string, string] {
			return mustTTL[string, string](b, benchSize, time.Hour, nil)
		}},
		{name: "Map", new: func(*testing.B) pipeline.ExpiringStore[string, string] { return stores.NewMap[string, string]() }},
	} {
		warm := func(b *testing.B) pipeline.ExpiringStore[string, string] {
			s := sc.new(b)
			for _, k := range keys {
				_ = s.Set(ctx, k, k)
			}
			return s
		}
		b.Run("store="+sc.name+"/op=Get", func(b *testing.B) {
			s := warm(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sink, _, _ = s.Get(ctx, keys[i%benchSize])
				i++
			}
		})
		b.Run("store="+sc.name+"/op=GetEntry", func(b *testing.B) {
			s := warm(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sinkEntry, _, _ = s.GetEntry(ctx, keys[i%benchSize])
				i++
			}
		})
		b.Run("store="+sc.name+"/op=Set", func(b *testing.B) {
			s := warm(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_ = s.Set(ctx, keys[i%benchSize], "v")
				i++
			}
		})
		b.Run("store="+sc.name+"/op=SetEntry", func(b *testing.B) {
			s := warm(b)
			e := pipeline.Entry[string]{Value: "v", Expires: future}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_ = s.SetEntry(ctx, keys[i%benchSize], e)
				i++
			}
		})
		b.Run("store="+sc.name+"/op=cache-Fetch", func(b *testing.B) {
			src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return k, nil })
			f := pipeline.Cache("l", warm(b), nil)(src)
			b.Cleanup(func() { _ = f.(pipeline.Closer).Close() })
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sink, _ = f.Fetch(ctx, keys[i%benchSize])
				i++
			}
		})
	}
}

// BenchmarkBatch compares one GetBatch (SetBatch) of 1000 keys with 1000
// GetEntry (SetEntry) calls, on each BatchStore, and on Encoded over an LRU,
// whose batches allocate scratch space. Compare with
//
//	benchstat -filter .name:Batch -col /impl
func BenchmarkBatch(b *testing.B) {
	const n = 1000
	ctx := context.Background()
	keys := benchKeys(n)
	entries := make([]pipeline.Entry[string], n)
	for i := range entries {
		entries[i] = pipeline.Entry[string]{Value: keys[i]}
	}
	for _, sc := range []struct {
		name string
		new  func(b *testing.B) pipeline.BatchStore[string, string]
	}{
		{name: "LRU", new: func(b *testing.B) pipeline.BatchStore[string, string] { return mustLRU[string, string](b, benchSize) }},
		{name: "TTL", new: func(b *testing.B) pipeline.BatchStore[string, string] {
			return mustTTL[string, string](b, benchSize, time.Hour, nil)
		}},
		{name: "Map", new: func(*testing.B) pipeline.BatchStore[string, string] { return stores.NewMap[string, string]() }},
		{name: "EncodedLRU", new: func(b *testing.B) pipeline.BatchStore[string, string] {
			return stores.Encoded(mustLRU[string, []byte](b, benchSize), stringCodec{}).(pipeline.BatchStore[string, string])
		}},
	} {
		warm := func(b *testing.B) pipeline.BatchStore[string, string] {
			s := sc.new(b)
			if err := s.SetBatch(ctx, keys, entries); err != nil {
				b.Fatal(err)
			}
			return s
		}
		b.Run("store="+sc.name+"/op=Get/impl=batch", func(b *testing.B) {
			s := warm(b)
			out := make([]pipeline.Result[string], n)
			b.ReportAllocs()
			for b.Loop() {
				s.GetBatch(ctx, keys, out)
			}
		})
		b.Run("store="+sc.name+"/op=Get/impl=loop", func(b *testing.B) {
			s := warm(b)
			out := make([]pipeline.Result[string], n)
			b.ReportAllocs()
			for b.Loop() {
				for i, k := range keys {
					e, ok, err := s.GetEntry(ctx, k)
					switch {
					case err != nil:
						out[i] = pipeline.Result[string]{Err: err}
					case !ok:
						out[i] = pipeline.Result[string]{Err: pipeline.ErrNotFound}
					default:
						out[i] = pipeline.Result[string]{Entry: e}
					}
				}
			}
		})
		b.Run("store="+sc.name+"/op=Set/impl=batch", func(b *testing.B) {
			s := warm(b)
			b.ReportAllocs()
			for b.Loop() {
				_ = s.SetBatch(ctx, keys, entries)
			}
		})
		b.Run("store="+sc.name+"/op=Set/impl=loop", func(b *testing.B) {
			s := warm(b)
			b.ReportAllocs()
			for b.Loop() {
				for i, k := range keys {
					_ = s.SetEntry(ctx, k, entries[i])
				}
			}
		})
	}
}
