package stores_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	arc "github.com/hashicorp/golang-lru/arc/v2"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/multilayer-cache/multilayer/internal/paired"
	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/internal/trace"
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

// BenchmarkLRU compares LRU with golang-lru's lru.Cache, its baseline, on
// the same keys: a Get that hits, a Set that replaces a key, and a Set of a
// new key that evicts the oldest. Compare with
//
//	benchstat -filter .name:LRU -col /impl
func BenchmarkLRU(b *testing.B) {
	ctx := context.Background()
	keys := testkit.Keys(2 * benchSize) // the first benchSize are held; cycling through all evicts
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
	keys := testkit.Keys(benchSize)
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
	keys := testkit.Keys(n)
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

// The hit benchmarks' stores hold hitKeys keys, well under their capacity
// hitCapacity, so that no policy evicts while warm.
const (
	hitKeys     = 1024
	hitCapacity = 2 * hitKeys
)

// hitImpl is one way to read a warm key: get reports whether key hit.
type hitImpl struct {
	store string // LRU, TTL, 2Q, ARC, Map, otter
	impl  string // the raw library, "stores", or "cache" (a cache layer over the store)
	get   func(key string) bool
}

// hitImpls returns, for every stock store of this package, its raw
// library (if it has one), the store, a cache layer over the store, and,
// for a bounded store, the store with eviction reports on ("notifying"),
// each warm with keys.
func hitImpls(b *testing.B, keys []string) []hitImpl {
	rawLRU, _ := lru.New[string, string](hitCapacity)
	raw2Q, _ := lru.New2Q[string, string](hitCapacity)
	rawARC, _ := arc.NewARC[string, string](hitCapacity)
	for _, k := range keys {
		rawLRU.Add(k, k)
		raw2Q.Add(k, k)
		raw2Q.Get(k)
		rawARC.Add(k, k)
		rawARC.Get(k)
	}
	impls := []hitImpl{
		{store: "LRU", impl: "golang-lru", get: func(k string) bool { _, ok := rawLRU.Get(k); return ok }},
		{store: "2Q", impl: "golang-lru", get: func(k string) bool { _, ok := raw2Q.Get(k); return ok }},
		{store: "ARC", impl: "golang-lru", get: func(k string) bool { _, ok := rawARC.Get(k); return ok }},
	}
	for _, sc := range []struct {
		name string
		new  func() pipeline.Store[string, string]
	}{
		{name: "LRU", new: func() pipeline.Store[string, string] { return mustLRU[string, string](b, hitCapacity) }},
		{name: "TTL", new: func() pipeline.Store[string, string] {
			return mustTTL[string, string](b, hitCapacity, time.Hour, nil)
		}},
		{name: "2Q", new: func() pipeline.Store[string, string] { return mustTwoQueue[string, string](b, hitCapacity) }},
		{name: "ARC", new: func() pipeline.Store[string, string] { return mustARC[string, string](b, hitCapacity) }},
		{name: "Map", new: func() pipeline.Store[string, string] { return stores.NewMap[string, string]() }},
	} {
		impls = append(impls,
			hitImpl{store: sc.name, impl: "stores", get: testkit.StoreHit(testkit.Warm(b, sc.new(), keys))},
			hitImpl{store: sc.name, impl: "cache", get: testkit.CacheHit(b, testkit.Warm(b, sc.new(), keys))},
		)
		if n, ok := sc.new().(pipeline.Notifier[string]); ok {
			// The store with eviction reports on, as a cache layer that
			// counts evictions would set them.
			var evicted atomic.Int64
			n.Notify(func(pipeline.StoreEvent[string]) { evicted.Add(1) })
			s := testkit.Warm(b, n.(pipeline.Store[string, string]), keys)
			impls = append(impls, hitImpl{store: sc.name, impl: "notifying", get: testkit.StoreHit(s)})
		}
	}
	return impls
}

// BenchmarkHit measures a hit on a warm key, serial and parallel (run it
// with -cpu 2 or more), for every stock store: golang-lru's Get (the raw
// library, where there is one), the store's Get, and a Fetch through a
// cache layer over the store. Each read goes through a func value, the
// same for every impl. Compare with
//
//	go test -run '^$' -bench 'Hit$' -cpu 2 -count 6 ./stores/ | tee hit.txt
//	benchstat -col /impl hit.txt
func BenchmarkHit(b *testing.B) {
	keys := testkit.Keys(hitKeys)
	for _, h := range hitImpls(b, keys) {
		name := "store=" + h.store + "/impl=" + h.impl
		b.Run("mode=serial/"+name, func(b *testing.B) { benchSerialHits(b, keys, h.get) })
		b.Run("mode=parallel/"+name, func(b *testing.B) { benchParallelHits(b, keys, h.get) })
	}
}

// benchSerialHits reads keys in turn, on one goroutine.
func benchSerialHits(b *testing.B, keys []string, get func(string) bool) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !get(keys[i%len(keys)]) {
			b.Fatal("miss")
		}
		i++
	}
}

// benchParallelHits reads keys in turn on GOMAXPROCS goroutines, each
// starting elsewhere in keys.
func benchParallelHits(b *testing.B, keys []string, get func(string) bool) {
	b.ReportAllocs()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(int64(len(keys)/8 + 1)))
		missed := false
		for pb.Next() {
			if !get(keys[i%len(keys)]) {
				missed = true
			}
			i++
		}
		if missed {
			b.Error("miss") // not Fatal: this is not the benchmark's goroutine
		}
	})
}

// BenchmarkHitRatio replays the standard Zipf trace (s = 1.01 over 100k
// keys, 1M reads, a write after each miss; see internal/trace) cold
// against each stock store of capacity 10k and its raw library, and
// reports the share of reads that hit (hit%) and the time per read
// (ns/read). An op is one whole replay. Map, unbounded, gives the ceiling:
// only first reads miss.
//
//	go test -run '^$' -bench HitRatio -count 6 ./stores/
func BenchmarkHitRatio(b *testing.B) {
	tr := trace.Standard()
	const size = trace.StandardCapacity
	ctx := context.Background()
	replayStore := func(b *testing.B, s pipeline.Store[uint64, int]) float64 {
		return trace.Replay(tr,
			func(k uint64) bool { _, ok, _ := s.Get(ctx, k); return ok },
			func(k uint64) { _ = s.Set(ctx, k, 1) })
	}
	for _, rc := range []struct {
		store, impl string
		replay      func(b *testing.B) float64
	}{
		{store: "LRU", impl: "golang-lru", replay: func(*testing.B) float64 {
			c, _ := lru.New[uint64, int](size)
			return trace.Replay(tr, func(k uint64) bool { _, ok := c.Get(k); return ok }, func(k uint64) { c.Add(k, 1) })
		}},
		{store: "2Q", impl: "golang-lru", replay: func(*testing.B) float64 {
			c, _ := lru.New2Q[uint64, int](size)
			return trace.Replay(tr, func(k uint64) bool { _, ok := c.Get(k); return ok }, func(k uint64) { c.Add(k, 1) })
		}},
		{store: "ARC", impl: "golang-lru", replay: func(*testing.B) float64 {
			c, _ := arc.NewARC[uint64, int](size)
			return trace.Replay(tr, func(k uint64) bool { _, ok := c.Get(k); return ok }, func(k uint64) { c.Add(k, 1) })
		}},
		{store: "LRU", impl: "stores", replay: func(b *testing.B) float64 { return replayStore(b, mustLRU[uint64, int](b, size)) }},
		{store: "TTL", impl: "stores", replay: func(b *testing.B) float64 {
			return replayStore(b, mustTTL[uint64, int](b, size, time.Hour, nil))
		}},
		{store: "2Q", impl: "stores", replay: func(b *testing.B) float64 { return replayStore(b, mustTwoQueue[uint64, int](b, size)) }},
		{store: "ARC", impl: "stores", replay: func(b *testing.B) float64 { return replayStore(b, mustARC[uint64, int](b, size)) }},
		{store: "Map", impl: "stores", replay: func(b *testing.B) float64 { return replayStore(b, stores.NewMap[uint64, int]()) }},
	} {
		b.Run("store="+rc.store+"/impl="+rc.impl, func(b *testing.B) {
			var ratio float64
			for b.Loop() {
				ratio = rc.replay(b)
			}
			b.ReportMetric(ratio, "hit%")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(tr)), "ns/read")
		})
	}
}

// BenchmarkMemory fills each stock store of capacity 100,000, and its raw
// library, with 200,000 distinct 8-byte keys and values, so that it is
// full and its policy remembers the keys it evicted (2Q and ARC keep up to
// half and all of their capacity in keys) and reports the heap it takes
// per entry held (B/entry). Map, unbounded, gets 100,000 keys.
//
//	go test -run '^$' -bench Memory -count 3 ./stores/
func BenchmarkMemory(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	fill := func(s pipeline.Store[uint64, uint64], keys uint64) any {
		for i := range keys {
			_ = s.Set(ctx, i, i)
		}
		return s
	}
	for _, mc := range []struct {
		store, impl string
		build       func(b *testing.B) any
	}{
		{store: "LRU", impl: "golang-lru", build: func(*testing.B) any {
			c, _ := lru.New[uint64, uint64](n)
			for i := range uint64(2 * n) {
				c.Add(i, i)
			}
			return c
		}},
		{store: "2Q", impl: "golang-lru", build: func(*testing.B) any {
			c, _ := lru.New2Q[uint64, uint64](n)
			for i := range uint64(2 * n) {
				c.Add(i, i)
			}
			return c
		}},
		{store: "ARC", impl: "golang-lru", build: func(*testing.B) any {
			c, _ := arc.NewARC[uint64, uint64](n)
			for i := range uint64(2 * n) {
				c.Add(i, i)
			}
			return c
		}},
		{store: "LRU", impl: "stores", build: func(b *testing.B) any { return fill(mustLRU[uint64, uint64](b, n), 2*n) }},
		{store: "TTL", impl: "stores", build: func(b *testing.B) any {
			return fill(mustTTL[uint64, uint64](b, n, time.Hour, nil), 2*n)
		}},
		{store: "2Q", impl: "stores", build: func(b *testing.B) any { return fill(mustTwoQueue[uint64, uint64](b, n), 2*n) }},
		{store: "ARC", impl: "stores", build: func(b *testing.B) any { return fill(mustARC[uint64, uint64](b, n), 2*n) }},
		{store: "Map", impl: "stores", build: func(*testing.B) any { return fill(stores.NewMap[uint64, uint64](), n) }},
	} {
		b.Run("store="+mc.store+"/impl="+mc.impl, func(b *testing.B) {
			var perEntry float64
			for b.Loop() {
				before := testkit.HeapInUse()
				s := mc.build(b)
				perEntry = float64(int64(testkit.HeapInUse())-int64(before)) / n
				runtime.KeepAlive(s)
			}
			b.ReportMetric(perEntry, "B/entry")
		})
	}
}

// BenchmarkHitPaired measures the ratios of BenchmarkHit with
// internal/paired, which times the impls in turn on the same machine state:
// for each store, its Get, its Get with eviction reports on (x-notifying,
// to compare with x-stores) and a Fetch through a cache layer over it, as a
// multiple of its raw library's Get (golang-lru's lru.Cache for TTL and
// Map, which have none), serial and parallel (run it with -cpu 2). The
// metrics read "x-<impl>"; ns/op means nothing.
//
//	go test -run '^$' -bench HitPaired -cpu 2 -count 6 ./stores/ | tee paired.txt
//	benchstat paired.txt
func BenchmarkHitPaired(b *testing.B) {
	keys := testkit.Keys(hitKeys)
	impls := hitImpls(b, keys)
	for _, h := range impls {
		if !h.get(keys[0]) || !h.get(keys[len(keys)-1]) {
			b.Fatalf("%s/%s is not warm", h.store, h.impl)
		}
	}
	raw := func(store string) hitImpl {
		var lruRaw hitImpl
		for _, h := range impls {
			if h.impl != "golang-lru" {
				continue
			}
			if h.store == store {
				return h
			}
			if h.store == "LRU" {
				lruRaw = h
			}
		}
		return lruRaw
	}
	for _, store := range []string{"LRU", "TTL", "2Q", "ARC", "Map"} {
		for _, mode := range []string{"serial", "parallel"} {
			b.Run("mode="+mode+"/store="+store, func(b *testing.B) {
				base := raw(store)
				list := []paired.Impl{{Name: base.store + "-" + base.impl, Run: paired.Reads(keys, base.get, mode == "parallel")}}
				for _, h := range impls {
					if h.store == store && h.impl != "golang-lru" {
						list = append(list, paired.Impl{Name: h.impl, Run: paired.Reads(keys, h.get, mode == "parallel")})
					}
				}
				paired.Run(b, 8192, list...)
			})
		}
	}
}
