package redis_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/multilayer-cache/multilayer/internal/paired"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

// benchTimeout is the per-call deadline in benchmarks: long enough that a
// busy machine makes a slow sample, not a failed one.
const benchTimeout = time.Second

// BenchmarkHit compares a hit through the Store (GetEntry: its deadline,
// its key, one GET, the envelope) and through a cache layer over it (the
// Redis layer: pipeline.Cache over the Store) with a raw go-redis GET of
// the same key, which returns the same bytes, envelope included, on the
// same client and server, in one run. The target is layer ≤ 1.15 × raw.
// Compare with benchstat -col /impl.
func BenchmarkHit(b *testing.B) {
	s, client, value := hitFixture(b)
	layer := hitLayer(b, s)
	b.Run("impl=layer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			layerHit(b, layer, value)
		}
	})
	b.Run("impl=store", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			storeHit(b, s, value)
		}
	})
	b.Run("impl=raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rawHit(b, client, value)
		}
	})
}

// BenchmarkHitParallel is BenchmarkHit with GOMAXPROCS readers at once, so
// that the client keeps several GETs in flight and the Store's own work
// counts for more of the time.
func BenchmarkHitParallel(b *testing.B) {
	s, client, value := hitFixture(b)
	b.Run("impl=store", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				storeHit(b, s, value)
			}
		})
	})
	b.Run("impl=raw", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rawHit(b, client, value)
			}
		})
	})
}

// BenchmarkHitPaired times the hits of BenchmarkHit in alternating slices
// of 64 reads (internal/paired) and reports the Store's and the Redis
// layer's time over the raw GET's as the metrics x-store and x-layer: on a
// shared machine whose speed drifts, these ratios are steadier than ones
// taken from sub-benchmarks run one after the other. Its ns/op means
// nothing.
func BenchmarkHitPaired(b *testing.B) {
	s, client, value := hitFixture(b)
	layer := hitLayer(b, s)
	paired.Run(b, 64,
		paired.Impl{Name: "raw", Run: func(n int) {
			for range n {
				rawHit(b, client, value)
			}
		}},
		paired.Impl{Name: "store", Run: func(n int) {
			for range n {
				storeHit(b, s, value)
			}
		}},
		paired.Impl{Name: "layer", Run: func(n int) {
			for range n {
				layerHit(b, layer, value)
			}
		}},
	)
}

// BenchmarkHitOffline is BenchmarkHit with the network cut out: a go-redis
// hook answers every GET from memory, so what is timed is the client-side
// work alone, the Store's (deadline, key, envelope) and go-redis's (command,
// hooks), without the round trip that dominates BenchmarkHit and its noise.
func BenchmarkHitOffline(b *testing.B) {
	env := redis.AppendEnvelope(nil, pipeline.Entry[[]byte]{Value: bytes.Repeat([]byte("v"), 100), Expires: time.Now().Add(time.Hour)})
	client := goredis.NewClient(redis.ClientOptions("127.0.0.1:1")) // never dialled
	b.Cleanup(func() { client.Close() })
	client.AddHook(offline{val: string(env)})
	s := newStore(b, client, "bench", &redis.Options{Timeout: benchTimeout, GenerationRefresh: time.Hour})
	value := env[11:]
	b.Run("impl=store", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			storeHit(b, s, value)
		}
	})
	b.Run("impl=raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rawHit(b, client, value)
		}
	})
}

// offline is a go-redis hook that answers every command from memory: a GET
// of the generation with "0", any other GET with val.
type offline struct{ val string }

func (offline) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (o offline) ProcessHook(goredis.ProcessHook) goredis.ProcessHook {
	return func(_ context.Context, cmd goredis.Cmder) error {
		if c, ok := cmd.(*goredis.StringCmd); ok {
			if c.Args()[1] == "bench:g" {
				c.SetVal("0")
			} else {
				c.SetVal(o.val)
			}
		}
		return nil
	}
}

func (offline) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

// hitKey is the key the hit benchmarks read, and hitRawKey its Redis key
// in generation 0.
const (
	hitKey    = "doc/1"
	hitRawKey = "bench:0:doc/1"
)

// hitFixture starts a server and stores a 100-byte value under hitKey.
func hitFixture(b *testing.B) (*redis.Store, *goredis.Client, []byte) {
	srv := startServer(b)
	client := newClient(b, srv.Addr)
	s := newStore(b, client, "bench", &redis.Options{Timeout: benchTimeout, GenerationRefresh: time.Hour})
	value := bytes.Repeat([]byte("v"), 100)
	if err := s.SetEntry(context.Background(), hitKey, pipeline.Entry[[]byte]{Value: value, Expires: time.Now().Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	return s, client, value
}

// hitLayer returns the Redis layer over s: a cache layer with default
// options over a source that must not be called.
func hitLayer(b *testing.B, s *redis.Store) pipeline.Fetcher[string, []byte] {
	source := pipeline.FetcherFunc[string, []byte](func(context.Context, string) ([]byte, error) {
		b.Error("a hit called the source")
		return nil, nil
	})
	layer := pipeline.Cache("redis", s, nil)(source)
	b.Cleanup(func() { pipeline.Close(layer) })
	return layer
}

// layerHit reads hitKey through the Redis layer.
func layerHit(b *testing.B, layer pipeline.Fetcher[string, []byte], value []byte) {
	v, err := layer.Fetch(context.Background(), hitKey)
	if err != nil || len(v) != len(value) {
		b.Error(err)
	}
}

// storeHit reads hitKey through the Store.
func storeHit(b *testing.B, s *redis.Store, value []byte) {
	e, ok, err := s.GetEntry(context.Background(), hitKey)
	if err != nil || !ok || len(e.Value) != len(value) {
		b.Error(ok, err)
	}
}

// rawHit reads hitRawKey with a plain GET: the envelope of 11 bytes and
// the value.
func rawHit(b *testing.B, client *goredis.Client, value []byte) {
	v, err := client.Get(context.Background(), hitRawKey).Bytes()
	if err != nil || len(v) != len(value)+11 {
		b.Error(err)
	}
}

// BenchmarkBatch100 reads and writes batches of 100 keys, and reports the
// round trips each took (a go-redis hook counts the commands and the
// pipelines sent; the connections are warm).
func BenchmarkBatch100(b *testing.B) {
	s, _, trips := countedStore(b, startServer(b), "bench", &redis.Options{Timeout: benchTimeout})
	ctx := context.Background()
	const n = 100
	keys := make([]string, n)
	entries := make([]pipeline.Entry[[]byte], n)
	for i := range keys {
		keys[i] = "doc/" + strconv.Itoa(i)
		entries[i] = pipeline.Entry[[]byte]{Value: bytes.Repeat([]byte("v"), 100), Expires: time.Now().Add(time.Hour)}
	}

	b.Run("SetBatch", func(b *testing.B) {
		b.ReportAllocs()
		trips.reset()
		for b.Loop() {
			if err := s.SetBatch(ctx, keys, entries); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(trips.total())/float64(b.N), "round-trips/op")
	})
	b.Run("GetBatch", func(b *testing.B) {
		b.ReportAllocs()
		out := make([]pipeline.Result[[]byte], n)
		trips.reset()
		for b.Loop() {
			s.GetBatch(ctx, keys, out)
			if out[n-1].Err != nil {
				b.Fatal(out[n-1].Err)
			}
		}
		b.ReportMetric(float64(trips.total())/float64(b.N), "round-trips/op")
	})
}

// BenchmarkSet compares a write through the Store (SetEntry: its deadline,
// its key, the envelope, and the write script that leaves a tombstone in
// place, by EVALSHA) with a raw go-redis SET PX of the same bytes under the
// same key: the cost of the write guard. Compare with benchstat -col /impl.
func BenchmarkSet(b *testing.B) {
	s, client, value := hitFixture(b)
	ctx := context.Background()
	e := pipeline.Entry[[]byte]{Value: value, Expires: time.Now().Add(time.Hour)}
	env := redis.AppendEnvelope(nil, e)
	b.Run("impl=store", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.SetEntry(ctx, hitKey, e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := client.Set(ctx, hitRawKey, env, time.Hour).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLayerBatch100Misses fetches batches of 100 keys that Redis does
// not hold through the Redis layer over a source that answers a batch in
// one call, and reports the round trips to Redis per batch: one for the
// reads (GetBatch) and one for the writes (SetBatch), as
// TestACacheLayerBatchOfAHundredMissesIsOneRoundTripForTheReadsAndOneForTheWrites
// asserts.
func BenchmarkLayerBatch100Misses(b *testing.B) {
	s, _, trips := countedStore(b, startServer(b), "bench", &redis.Options{Timeout: benchTimeout})
	layer := batchLayer(b, s)
	ctx := context.Background()
	const n = 100
	keys := make([]string, n)
	out := make([]pipeline.Result[[]byte], n)
	round := 0
	b.ReportAllocs()
	trips.reset()
	for b.Loop() {
		round++
		for i := range keys {
			keys[i] = "miss/" + strconv.Itoa(round) + "/" + strconv.Itoa(i)
		}
		layer.FetchBatch(ctx, keys, out)
		if out[n-1].Err != nil {
			b.Fatal(out[n-1].Err)
		}
	}
	b.ReportMetric(float64(trips.total())/float64(b.N), "round-trips/op")
}

// batchLayer returns the Redis layer over s, over a source that answers a
// batch in one call with 100-byte values.
func batchLayer(tb testing.TB, s *redis.Store) pipeline.BatchFetcher[string, []byte] {
	value := bytes.Repeat([]byte("v"), 100)
	source := pipeline.BulkFunc[string, []byte](func(_ context.Context, keys []string) (map[string][]byte, error) {
		m := make(map[string][]byte, len(keys))
		for _, k := range keys {
			m[k] = value
		}
		return m, nil
	})
	layer := pipeline.Cache("redis", s, &pipeline.CacheOptions[string]{TTL: time.Hour})(source)
	tb.Cleanup(func() { pipeline.Close(layer) })
	return layer.(pipeline.BatchFetcher[string, []byte])
}

// BenchmarkSetPaired times the writes of BenchmarkSet in alternating slices
// of 64 (internal/paired) and reports the Store's time over the raw SET's
// as the metric x-store: the cost of the write guard, steadier than the
// unpaired figures on a shared machine. Its ns/op means nothing.
func BenchmarkSetPaired(b *testing.B) {
	s, client, value := hitFixture(b)
	ctx := context.Background()
	e := pipeline.Entry[[]byte]{Value: value, Expires: time.Now().Add(time.Hour)}
	env := redis.AppendEnvelope(nil, e)
	paired.Run(b, 64,
		paired.Impl{Name: "raw", Run: func(n int) {
			for range n {
				if err := client.Set(ctx, hitRawKey, env, time.Hour).Err(); err != nil {
					b.Error(err)
				}
			}
		}},
		paired.Impl{Name: "store", Run: func(n int) {
			for range n {
				if err := s.SetEntry(ctx, hitKey, e); err != nil {
					b.Error(err)
				}
			}
		}},
	)
}
