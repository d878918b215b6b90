package redis_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

// versions is a source whose value for a key is "key@version": an update
// bumps the key's version.
type versions struct {
	mu    sync.Mutex
	v     map[string]int64
	calls atomic.Int64
	delay time.Duration // how long a fetch takes, after it read the version
}

func newVersions() *versions { return &versions{v: map[string]int64{}} }

// Fetch returns "key@version".
func (s *versions) Fetch(_ context.Context, key string) (string, error) {
	s.calls.Add(1)
	s.mu.Lock()
	v := fmt.Sprintf("%s@%d", key, s.v[key])
	s.mu.Unlock()
	if s.delay > 0 {
		time.Sleep(s.delay) // a source's latency, after it read the value
	}
	return v, nil
}

// bump makes a new version of key and returns it.
func (s *versions) bump(key string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.v[key]++
	return s.v[key]
}

// An instance is one instance of a service: a client of its own, a local
// layer (a TTL store), the bus, and a Redis layer over the shared source.
type instance struct {
	client *goredis.Client
	store  *redis.Store
	bus    *redis.Bus[string]
	local  *stores.TTL[string, string]
	stack  pipeline.Fetcher[string, string] // the outermost layer
}

// instanceOptions tune an instance; the zero value suits a server that
// answers.
type instanceOptions struct {
	channel      string                   // default "bus"
	storeTimeout time.Duration            // default testTimeout
	bus          redis.BusOptions[string] // Reload is set to the instance's store
}

// newInstance builds an instance over the server at addr and source; it
// is closed when t ends.
func newInstance(t testing.TB, addr string, source pipeline.Fetcher[string, string], o instanceOptions) *instance {
	t.Helper()
	if o.channel == "" {
		o.channel = "bus"
	}
	in := &instance{client: newClient(t, addr)}
	in.store = newStore(t, in.client, o.channel, &redis.Options{Timeout: o.storeTimeout, OpenFor: 50 * time.Millisecond})
	shared := pipeline.Cache("redis", stores.Encoded(in.store, stores.JSON[string]()), nil)(source)
	bo := o.bus
	bo.Reload = []redis.Reloader{in.store}
	bus, err := redis.NewBus(in.client, o.channel, redis.StringKeys[string](), &bo)
	require.NoError(t, err)
	in.bus = bus
	in.local, err = stores.NewTTL[string, string](1000, time.Hour, nil)
	require.NoError(t, err)
	in.stack = pipeline.Cache("local", in.local, nil)(redis.Coherent[string](bus)(shared))
	t.Cleanup(func() { require.NoError(t, pipeline.Close(in.stack)) })
	return in
}

// read fetches key through the instance's stack.
func (in *instance) read(t testing.TB, key string) string {
	t.Helper()
	v, err := in.stack.Fetch(t.Context(), key)
	require.NoError(t, err)
	return v
}

// waitHealthy waits until every instance's bus has heard its heartbeat.
func waitHealthy(t testing.TB, ins ...*instance) {
	t.Helper()
	for _, in := range ins {
		require.Eventually(t, in.bus.Healthy, waitFor, 5*time.Millisecond, "the bus comes up")
	}
}

// fastBeat is a heartbeat for tests: quick to notice a stall, and slow
// enough for a loaded machine running the race detector.
// Its publishes may take a second.
var fastBeat = redis.BusOptions[string]{Heartbeat: 50 * time.Millisecond, MissedHeartbeats: 4, Timeout: time.Second}

// percentiles returns the p50, p99 and maximum of ds, which it sorts.
func percentiles(ds []time.Duration) (p50, p99, maxd time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return at(0.50), at(0.99), ds[len(ds)-1]
}
