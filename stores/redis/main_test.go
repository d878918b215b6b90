package redis_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/redistest"
	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

func TestMain(m *testing.M) {
	goredis.SetLogger(quiet{}) // the dial errors of the fault tests are expected
	testkit.VerifyNoLeaks(m)
}

// quiet is a go-redis logger that drops everything.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// testTimeout is the per-call deadline of stores in tests that expect Redis
// to answer: long, so that a loaded machine running the race detector does
// not turn a slow answer into a failure.
const testTimeout = 5 * time.Second

// newClient returns a client for addr with the package's recommended
// options, and hooks; it is closed when t ends, so that its pool leaves no
// goroutine behind.
func newClient(t testing.TB, addr string, hooks ...goredis.Hook) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(redis.ClientOptions(addr))
	for _, h := range hooks {
		c.AddHook(h)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newStore returns a Store over client; opts may be nil, and a zero Timeout
// becomes testTimeout.
func newStore(t testing.TB, client goredis.UniversalClient, ns string, opts *redis.Options) *redis.Store {
	t.Helper()
	var o redis.Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout == 0 {
		o.Timeout = testTimeout
	}
	s, err := redis.New(client, ns, &o)
	require.NoError(t, err)
	return s
}

// twoInstances returns two Stores of namespace ns over srv, each with a
// client of its own, as two instances of a service have; opts may be nil.
func twoInstances(t testing.TB, srv *redistest.Server, ns string, opts *redis.Options) (a, b *redis.Store) {
	t.Helper()
	return newStore(t, newClient(t, srv.Addr), ns, opts), newStore(t, newClient(t, srv.Addr), ns, opts)
}

// events collects what a Store reports through Notify.
type events struct {
	mu  sync.Mutex
	got []pipeline.StoreEvent[string]
}

// listen makes e the store's listener and returns e.
func (e *events) listen(s *redis.Store) *events {
	s.Notify(func(ev pipeline.StoreEvent[string]) {
		e.mu.Lock()
		e.got = append(e.got, ev)
		e.mu.Unlock()
	})
	return e
}

// all returns a copy of the events so far.
func (e *events) all() []pipeline.StoreEvent[string] {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]pipeline.StoreEvent[string](nil), e.got...)
}

// kinds returns the kinds of the events so far.
func (e *events) kinds() []pipeline.EventKind {
	var ks []pipeline.EventKind
	for _, ev := range e.all() {
		ks = append(ks, ev.Kind)
	}
	return ks
}

// roundTrips is a go-redis hook that counts what reaches the network: one
// for each command sent alone and one for each pipeline (on a single
// server, a pipeline is one round trip).
type roundTrips struct {
	commands  atomic.Int64
	pipelines atomic.Int64
	inPipes   atomic.Int64 // commands sent in pipelines
}

func (r *roundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (r *roundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		r.commands.Add(1)
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		r.pipelines.Add(1)
		r.inPipes.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// reset zeroes the counts.
func (r *roundTrips) reset() {
	r.commands.Store(0)
	r.pipelines.Store(0)
	r.inPipes.Store(0)
}

// total returns the round trips counted.
func (r *roundTrips) total() int64 { return r.commands.Load() + r.pipelines.Load() }

// warm makes s read its generation and its client open a connection in
// both of its pools (commands and pipelines), so that a count of round trips
// that follows sees no connection handshake (HELLO, CLIENT SETINFO).
func warm(t testing.TB, s *redis.Store) {
	t.Helper()
	_, _, err := s.Get(t.Context(), "warm")
	require.NoError(t, err)
	out := make([]pipeline.Result[[]byte], 1)
	s.GetBatch(t.Context(), []string{"warm"}, out)
	require.ErrorIs(t, out[0].Err, pipeline.ErrNotFound)
}

// countedStore returns a Store over a client of srv whose round trips the
// returned roundTrips counts, with the client: the Store trusts its
// generation for an hour, so that no refresh adds to a count, and is
// warmed (see warm). opts may be nil; its GenerationRefresh is ignored.
func countedStore(t testing.TB, srv *redistest.Server, ns string, opts *redis.Options) (*redis.Store, *goredis.Client, *roundTrips) {
	t.Helper()
	var o redis.Options
	if opts != nil {
		o = *opts
	}
	o.GenerationRefresh = time.Hour
	trips := &roundTrips{}
	client := newClient(t, srv.Addr, trips)
	s := newStore(t, client, ns, &o)
	warm(t, s)
	return s, client, trips
}

// requireMiss requires that s.Get(key) is a miss without an error.
func requireMiss(t testing.TB, s *redis.Store, key string, msgAndArgs ...any) {
	t.Helper()
	_, ok, err := s.Get(t.Context(), key)
	require.NoError(t, err, msgAndArgs...)
	require.False(t, ok, msgAndArgs...)
}

// requireHit requires that s.Get(key) returns want.
func requireHit(t testing.TB, s *redis.Store, key string, want []byte, msgAndArgs ...any) {
	t.Helper()
	v, ok, err := s.Get(t.Context(), key)
	require.NoError(t, err, msgAndArgs...)
	require.True(t, ok, msgAndArgs...)
	require.Equal(t, want, v, msgAndArgs...)
}

// requireRaw requires that Redis holds want under the Redis key rk.
func requireRaw(t testing.TB, client goredis.UniversalClient, rk, want string, msgAndArgs ...any) {
	t.Helper()
	raw, err := client.Get(t.Context(), rk).Result()
	require.NoError(t, err)
	require.Equal(t, want, raw, msgAndArgs...)
}

// requireAbsent requires that Redis holds nothing under the Redis key rk.
func requireAbsent(t testing.TB, client goredis.UniversalClient, rk string, msgAndArgs ...any) {
	t.Helper()
	n, err := client.Exists(t.Context(), rk).Result()
	require.NoError(t, err)
	require.Zero(t, n, msgAndArgs...)
}

// startServer starts a Redis server of the test's own.
func startServer(t testing.TB) *redistest.Server {
	t.Helper()
	return redistest.Start(t, nil)
}
