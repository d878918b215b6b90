package redis_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/redistest"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

// leaseBytes is what a lease leaves in a key.
const leaseBytes = "\xb7\x01\x04"

// countingSource is a source shared by instances: it counts its calls and
// answers after a latency, with value, or with err for the first failFirst
// calls.
type countingSource struct {
	calls     atomic.Int64
	latency   time.Duration
	failFirst int64
}

var errSource = errors.New("source down")

func (s *countingSource) Fetch(_ context.Context, _ string) ([]byte, error) {
	n := s.calls.Add(1)
	time.Sleep(s.latency) // the source's latency, not a wait for an event
	if n <= s.failFirst {
		return nil, errSource
	}
	return []byte("v"), nil
}

// fleet returns n instances over srv, each with a client, a Store and a
// cache layer of its own, over src; the layers are closed when t ends.
// Each client's pool is filled first, so that a stampede's reads do not
// wait for dials, whose deadline (500ms) a loaded machine can miss: a read
// that fails is a miss whose fill writes nothing, and a lease holder that
// joins such a fill leaves the others waiting for LeaseWait.
func fleet(t *testing.T, srv *redistest.Server, n int, opts *redis.Options, src *countingSource) []pipeline.Fetcher[string, []byte] {
	t.Helper()
	layers := make([]pipeline.Fetcher[string, []byte], n)
	for i := range layers {
		client := newClient(t, srv.Addr)
		var wg sync.WaitGroup
		for range client.Options().PoolSize {
			wg.Go(func() { client.Ping(t.Context()) })
		}
		wg.Wait()
		s := newStore(t, client, "lease", opts)
		var mu sync.Mutex
		var errs []error
		obs := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
			if e.Kind == pipeline.Error || e.Kind == pipeline.BreakerOpened {
				mu.Lock()
				errs = append(errs, e.Err)
				mu.Unlock()
			}
		})
		t.Cleanup(func() {
			if t.Failed() {
				mu.Lock()
				t.Logf("instance %d: %d errors, first %v", i, len(errs), errs[:min(3, len(errs))])
				mu.Unlock()
			}
		})
		layers[i] = pipeline.Cache("redis", s, &pipeline.CacheOptions[string]{Observer: obs})(pipeline.FetcherFunc[string, []byte](src.Fetch))
		t.Cleanup(func() { pipeline.Close(layers[i]) })
	}
	return layers
}

// stampede makes perInstance concurrent fetches of key on every instance,
// all released at once, and returns their results.
func stampede(ctx context.Context, layers []pipeline.Fetcher[string, []byte], perInstance int, key string) []pipeline.Result[[]byte] {
	out := make([]pipeline.Result[[]byte], len(layers)*perInstance)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range out {
		layer := layers[i%len(layers)]
		wg.Go(func() {
			<-start
			out[i].Value, out[i].Err = layer.Fetch(ctx, key)
		})
	}
	close(start)
	wg.Wait()
	return out
}

func TestLeaseLetsOneInstanceOfTheFleetLoadAMissingKey(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	src := &countingSource{latency: 50 * time.Millisecond}
	layers := fleet(t, srv, 8, &redis.Options{Lease: 10 * time.Second}, src)

	for _, r := range stampede(t.Context(), layers, 100, "k") {
		require.NoError(t, r.Err)
		require.Equal(t, []byte("v"), r.Value)
	}
	require.EqualValues(t, 1, src.calls.Load(), "8 instances × 100 concurrent misses: one source call")
}

func TestWithRedisDownEachInstanceLoadsOnItsOwnDespiteTheLease(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	// The source's latency keeps each instance's flight open while its
	// other callers' Redis reads fail: a caller that arrives after the
	// flight landed would read the store again, fail, and load again.
	src := &countingSource{latency: time.Second}
	layers := fleet(t, srv, 8, &redis.Options{Lease: 10 * time.Second, Timeout: time.Second}, src)
	srv.Kill(t)

	for _, r := range stampede(t.Context(), layers, 100, "k") {
		require.NoError(t, r.Err, "Redis down fails no read")
		require.Equal(t, []byte("v"), r.Value)
	}
	require.LessOrEqual(t, src.calls.Load(), int64(8), "at most one source call per instance")
	require.GreaterOrEqual(t, src.calls.Load(), int64(1))
}

func TestTheOthersLoadWhenTheLeaseHoldersLoadFails(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	src := &countingSource{latency: 50 * time.Millisecond, failFirst: 1}
	layers := fleet(t, srv, 8, &redis.Options{Lease: time.Second, LeaseWait: time.Minute}, src)

	failed := 0
	for _, r := range stampede(t.Context(), layers, 20, "k") {
		if r.Err != nil {
			require.ErrorIs(t, r.Err, errSource, "only the holder's callers see its failure")
			failed++
			continue
		}
		require.Equal(t, []byte("v"), r.Value)
	}
	require.GreaterOrEqual(t, failed, 1)
	require.EqualValues(t, 2, src.calls.Load(), "the failed load, then one more once its lease ended")
}

func TestWaitersLoadThemselvesAfterLeaseWaitWhenTheHolderDied(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	src := &countingSource{latency: 10 * time.Millisecond}
	layers := fleet(t, srv, 8, &redis.Options{Lease: time.Hour, LeaseWait: 200 * time.Millisecond}, src)
	ctx := t.Context()
	require.NoError(t, client.Set(ctx, "lease:0:k", leaseBytes, time.Hour).Err(), "a holder that died: its lease outlives the test")

	for _, r := range stampede(ctx, layers, 10, "k") {
		require.NoError(t, r.Err)
		require.Equal(t, []byte("v"), r.Value)
	}
	require.GreaterOrEqual(t, src.calls.Load(), int64(1))
	require.LessOrEqual(t, src.calls.Load(), int64(8), "at most one load per instance")
	raw, err := client.Get(ctx, "lease:0:k").Result()
	require.NoError(t, err)
	require.NotEqual(t, leaseBytes, raw, "a waiter's write replaced the dead lease")
}

func TestAWaitForALeaseEndsWithItsContext(t *testing.T) {
	t.Parallel()
	s, client, trips := countedStore(t, startServer(t), "lease", &redis.Options{Lease: time.Hour})
	require.NoError(t, client.Set(t.Context(), "lease:0:k", leaseBytes, time.Hour).Err())

	trips.reset()
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan error, 1)
	go func() {
		_, _, err := s.Get(ctx, "k")
		got <- err
	}()
	require.Eventually(t, func() bool { return trips.commands.Load() >= 3 }, waitFor, time.Millisecond,
		"the Get reads the key, finds the lease, and polls")
	cancel()
	require.ErrorIs(t, <-got, context.Canceled, "LeaseWait is an hour: only ctx ends the wait")
	require.Equal(t, redis.Closed, s.Breaker(), "the caller's cancellation says nothing of the server")
}

func TestALeaseHoldersWriteIsRefusedAfterAnInvalidation(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	a, b := twoInstances(t, srv, "lease", &redis.Options{Lease: time.Hour})
	ctx := t.Context()

	requireMiss(t, a, "k", "a misses and takes the lease")
	requireRaw(t, client, "lease:0:k", leaseBytes)

	require.NoError(t, b.Delete(ctx, "k"))
	require.NoError(t, a.Set(ctx, "k", []byte("old")))
	requireRaw(t, client, "lease:0:k", tombstoneBytes, "the holder's write came after the invalidation: refused")

	requireMiss(t, b, "k", "a tombstone is a miss, and no lease is taken over it")
	requireRaw(t, client, "lease:0:k", tombstoneBytes)
}

func TestALeaseHoldersWriteReplacesItsLease(t *testing.T) {
	t.Parallel()
	s, _, trips := countedStore(t, startServer(t), "lease", &redis.Options{Lease: time.Hour}) // warm takes the lease of "warm"
	ctx := t.Context()

	trips.reset()
	requireMiss(t, s, "k")
	require.EqualValues(t, 2, trips.total(), "a miss with the lease on: GET, then SET NX PX")
	require.NoError(t, s.Set(ctx, "k", []byte("v")))
	requireHit(t, s, "k", []byte("v"))
}

func TestWithoutTheLeaseAMissLeavesTheKeyEmpty(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	s := newStore(t, client, "nolease", nil)
	requireMiss(t, s, "k")
	requireAbsent(t, client, "nolease:0:k")
}

func TestGetBatchTakesNoLeaseAndWaitsForNone(t *testing.T) {
	t.Parallel()
	s, client, trips := countedStore(t, startServer(t), "lease", &redis.Options{Lease: time.Hour})
	ctx := t.Context()
	require.NoError(t, client.Set(ctx, "lease:0:held", leaseBytes, time.Hour).Err())

	trips.reset()
	out := make([]pipeline.Result[[]byte], 2)
	s.GetBatch(ctx, []string{"held", "missing"}, out)
	require.EqualValues(t, 1, trips.total())
	require.ErrorIs(t, out[0].Err, pipeline.ErrNotFound, "another's lease: a miss at once")
	require.ErrorIs(t, out[1].Err, pipeline.ErrNotFound)
	requireAbsent(t, client, "lease:0:missing", "no lease taken")

	require.NoError(t, s.SetBatch(ctx, []string{"held", "missing"}, []pipeline.Entry[[]byte]{{Value: []byte("1")}, {Value: []byte("2")}}))
	s.GetBatch(ctx, []string{"held", "missing"}, out)
	require.NoError(t, out[0].Err, "a batch's write replaces a lease")
	require.NoError(t, out[1].Err)
}

func TestAGetThatFindsALeaseOfItsOwnStoreMissesAtOnce(t *testing.T) {
	t.Parallel()
	s, _, trips := countedStore(t, startServer(t), "lease", &redis.Options{Lease: time.Hour})
	requireMiss(t, s, "k", "takes the lease")

	trips.reset()
	requireMiss(t, s, "k", "the holder's own fill reads the store again: it must not wait for itself")
	require.EqualValues(t, 1, trips.total(), "one GET, no poll")
}

func TestWaitersGetTheValueTheHolderWrites(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	holder, waiter := twoInstances(t, srv, "lease", &redis.Options{Lease: time.Hour})
	ctx := t.Context()
	requireMiss(t, holder, "k", "takes the lease")

	const n = 20
	got := make(chan pipeline.Result[[]byte], n)
	for range n {
		go func() {
			var r pipeline.Result[[]byte]
			var ok bool
			r.Value, ok, r.Err = waiter.Get(ctx, "k")
			if r.Err == nil && !ok {
				r.Err = pipeline.ErrNotFound
			}
			got <- r
		}()
	}
	require.NoError(t, holder.Set(ctx, "k", []byte("v")))
	for range n {
		r := <-got
		require.NoError(t, r.Err)
		require.Equal(t, []byte("v"), r.Value)
	}
}
