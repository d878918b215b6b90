package otter_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	ot "github.com/maypok86/otter/v2"

	"github.com/multilayer-cache/multilayer/internal/clock"
	"github.com/multilayer-cache/multilayer/internal/paired"
	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/internal/trace"
	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
	"github.com/multilayer-cache/multilayer/stores/otter"
)

// The hit benchmarks' stores hold hitKeys keys, well under their capacity
// hitCapacity, so that no policy evicts while warm (otter may evict a
// little before its bound).
const (
	hitKeys     = 1024
	hitCapacity = 2 * hitKeys
)

// BenchmarkHit measures a hit on a warm key, serial and parallel (run it
// with -cpu 2 or more): raw otter's GetIfPresent, the store's Get, and a
// Fetch through a cache layer over the store; and, in the same run, the
// same for golang-lru's lru.Cache and stores.NewLRU, which the issue's
// targets compare otter with (stores' own BenchmarkHit measures the other
// stores); and a cache layer counted by a middleware.Metrics
// (impl=cache-metrics), whose counters must not make parallel hits
// contend. Each read goes through a func value, the same for every impl.
//
//	go test -run '^$' -bench 'Hit$' -cpu 2 -count 6 ./stores/otter/ | tee otter.txt
//	benchstat -col /impl otter.txt
func BenchmarkHit(b *testing.B) {
	keys := testkit.Keys(hitKeys)
	raw := ot.Must(&ot.Options[string, string]{MaximumSize: hitCapacity})
	rawLRU, _ := lru.New[string, string](hitCapacity)
	for _, k := range keys {
		raw.Set(k, k)
		rawLRU.Add(k, k)
	}
	raw.CleanUp()
	newOtter := func() pipeline.Store[string, string] {
		s, err := otter.New[string, string](hitCapacity, nil)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	metrics := &pipeline.CacheOptions[string]{Metrics: middleware.NewMetrics(nil)}
	newLRU := func() pipeline.Store[string, string] {
		s, err := stores.NewLRU[string, string](hitCapacity)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	for _, h := range []struct {
		store, impl string
		get         func(string) bool
	}{
		{store: "otter", impl: "raw", get: func(k string) bool { _, ok := raw.GetIfPresent(k); return ok }},
		{store: "otter", impl: "stores", get: testkit.StoreHit(testkit.Warm(b, newOtter(), keys))},
		{store: "otter", impl: "cache", get: testkit.CacheHit(b, testkit.Warm(b, newOtter(), keys))},
		{store: "otter", impl: "cache-metrics", get: testkit.CacheHitWith(b, testkit.Warm(b, newOtter(), keys), metrics)},
		{store: "LRU", impl: "raw", get: func(k string) bool { _, ok := rawLRU.Get(k); return ok }},
		{store: "LRU", impl: "stores", get: testkit.StoreHit(testkit.Warm(b, newLRU(), keys))},
		{store: "LRU", impl: "cache", get: testkit.CacheHit(b, testkit.Warm(b, newLRU(), keys))},
		{store: "LRU", impl: "cache-metrics", get: testkit.CacheHitWith(b, testkit.Warm(b, newLRU(), keys), metrics)},
	} {
		name := "store=" + h.store + "/impl=" + h.impl
		b.Run("mode=serial/"+name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if !h.get(keys[i%len(keys)]) {
					b.Fatal("miss")
				}
				i++
			}
		})
		b.Run("mode=parallel/"+name, func(b *testing.B) {
			b.ReportAllocs()
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(int64(len(keys)/8 + 1)))
				missed := false
				for pb.Next() {
					if !h.get(keys[i%len(keys)]) {
						missed = true
					}
					i++
				}
				if missed {
					b.Error("miss")
				}
			})
		})
	}
}

// coarseClock is the process's coarse clock as an otter.Clock, as the
// store gives it to otter.
type coarseClock struct{}

func (coarseClock) NowNano() int64                      { return clock.Nanos() }
func (coarseClock) Tick(time.Duration) <-chan time.Time { return nil }

// BenchmarkHitRatio replays the standard Zipf trace (see internal/trace)
// cold against raw otter and the store, of capacity 10k, and reports the
// share of reads that hit (hit%) and the time per read (ns/read). An op is
// one whole replay.
//
//	go test -run '^$' -bench HitRatio -count 6 ./stores/otter/
func BenchmarkHitRatio(b *testing.B) {
	tr := trace.Standard()
	ctx := context.Background()
	for _, rc := range []struct {
		impl   string
		replay func(b *testing.B) float64
	}{
		{impl: "raw", replay: func(*testing.B) float64 {
			c := ot.Must(&ot.Options[uint64, int]{MaximumSize: trace.StandardCapacity})
			return trace.Replay(tr, func(k uint64) bool { _, ok := c.GetIfPresent(k); return ok }, func(k uint64) { c.Set(k, 1) })
		}},
		{impl: "stores", replay: func(b *testing.B) float64 {
			s := mustNew[uint64, int](b, trace.StandardCapacity, nil)
			return trace.Replay(tr,
				func(k uint64) bool { _, ok, _ := s.Get(ctx, k); return ok },
				func(k uint64) { _ = s.Set(ctx, k, 1) })
		}},
	} {
		b.Run("store=otter/impl="+rc.impl, func(b *testing.B) {
			var ratio float64
			for b.Loop() {
				ratio = rc.replay(b)
			}
			b.ReportMetric(ratio, "hit%")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(tr)), "ns/read")
		})
	}
}

// BenchmarkMemory fills raw otter and the store, of capacity 100,000, with
// 200,000 distinct 8-byte keys and values, lets otter's maintenance evict,
// and reports the heap taken per entry held (B/entry), otter's frequency
// sketch included.
//
//	go test -run '^$' -bench Memory -count 3 ./stores/otter/
func BenchmarkMemory(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	for _, mc := range []struct {
		impl  string
		build func(b *testing.B) any
	}{
		{impl: "raw", build: func(*testing.B) any {
			c := ot.Must(&ot.Options[uint64, uint64]{MaximumSize: n})
			for i := range uint64(2 * n) {
				c.Set(i, i)
			}
			c.CleanUp()
			return c
		}},
		{impl: "stores", build: func(b *testing.B) any {
			s := mustNew[uint64, uint64](b, n, nil)
			for i := range uint64(2 * n) {
				_ = s.Set(ctx, i, i)
			}
			s.CleanUp()
			return s
		}},
	} {
		b.Run("store=otter/impl="+mc.impl, func(b *testing.B) {
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
// internal/paired, which times the impls in turn on the same machine state,
// serial and parallel (run it with -cpu 2). The first impl is the base:
// each metric "x-<impl>" is that impl's time per hit over the base's.
//
//   - against=otter: raw otter's GetIfPresent is the base, then raw otter
//     configured as the store configures it (an expiry calculator and the
//     coarse clock: the cost of per-entry expiry), the store's Get called
//     on the *Store (store-direct) and through a pipeline.Store, as a
//     cache layer calls it (stores-otter: the cost of an interface call),
//     and a Fetch through a cache layer over the store.
//
//   - against=lru-cache: a Fetch through a cache layer over stores.NewLRU
//     is the base; then a cache layer over the otter store, and raw
//     golang-lru and raw otter, whose ratio the layers' is to match.
//
//     go test -run '^$' -bench HitPaired -cpu 2 -count 6 ./stores/otter/ | tee paired.txt
//     benchstat paired.txt
func BenchmarkHitPaired(b *testing.B) {
	keys := testkit.Keys(hitKeys)
	raw := ot.Must(&ot.Options[string, string]{MaximumSize: hitCapacity})
	rawLRU, _ := lru.New[string, string](hitCapacity)
	for _, k := range keys {
		raw.Set(k, k)
		rawLRU.Add(k, k)
	}
	raw.CleanUp()
	// rawExpiry is otter as the store configures it: an expiry calculator
	// for writes, the process's coarse clock.
	rawExpiry := ot.Must(&ot.Options[string, string]{
		MaximumSize:      hitCapacity,
		ExpiryCalculator: ot.ExpiryWritingFunc(func(ot.Entry[string, string]) time.Duration { return time.Hour }),
		Clock:            coarseClock{},
	})
	for _, k := range keys {
		rawExpiry.Set(k, k)
	}
	rawExpiry.CleanUp()
	s, err := otter.New[string, string](hitCapacity, nil)
	if err != nil {
		b.Fatal(err)
	}
	l, err := stores.NewLRU[string, string](hitCapacity)
	if err != nil {
		b.Fatal(err)
	}
	testkit.Warm(b, s, keys)
	testkit.Warm(b, l, keys)
	ctx := context.Background()
	get := map[string]func(string) bool{
		"raw-otter":        func(k string) bool { _, ok := raw.GetIfPresent(k); return ok },
		"raw-otter-expiry": func(k string) bool { _, ok := rawExpiry.GetIfPresent(k); return ok },
		"raw-golang-lru":   func(k string) bool { _, ok := rawLRU.Get(k); return ok },
		"stores-otter":     testkit.StoreHit(s),
		"store-direct":     func(k string) bool { _, ok, _ := s.Get(ctx, k); return ok },
		"cache-otter":      testkit.CacheHit(b, s),
		"cache-lru":        testkit.CacheHit(b, l),
	}
	for name, g := range get {
		if !g(keys[0]) || !g(keys[len(keys)-1]) {
			b.Fatalf("%s is not warm", name)
		}
	}
	for _, against := range []struct {
		name  string
		impls []string
	}{
		{name: "otter", impls: []string{"raw-otter", "raw-otter-expiry", "store-direct", "stores-otter", "cache-otter"}},
		{name: "lru-cache", impls: []string{"cache-lru", "cache-otter", "raw-golang-lru", "raw-otter"}},
	} {
		for _, mode := range []string{"serial", "parallel"} {
			b.Run("against="+against.name+"/mode="+mode, func(b *testing.B) {
				var list []paired.Impl
				for _, name := range against.impls {
					list = append(list, paired.Impl{Name: name, Run: paired.Reads(keys, get[name], mode == "parallel")})
				}
				paired.Run(b, 8192, list...)
			})
		}
	}
}
