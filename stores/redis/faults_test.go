package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/redistest"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

// waitFor is how long a test waits for something that takes a few
// round trips and a probe: generous, for a loaded machine.
const waitFor = 20 * time.Second

func TestStalledServerMakesGetReturnAnErrorAtItsDeadline(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := newStore(t, newClient(t, srv.Addr), "stall", &redis.Options{Timeout: 100 * time.Millisecond})
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "k", []byte("v")))
	warm(t, s)

	resumed := srv.Stall(t, time.Second) // DEBUG SLEEP 1
	_, _, err := s.GetEntry(ctx, "k")
	require.Error(t, err, "a read of a stalled server ends in an error at the store's deadline")
	out := make([]pipeline.Result[[]byte], 2)
	s.GetBatch(ctx, []string{"k", "other"}, out)
	require.Error(t, out[0].Err)
	require.Error(t, out[1].Err)
	<-resumed

	require.Eventually(t, func() bool {
		v, ok, err := s.Get(ctx, "k")
		return err == nil && ok && string(v) == "v"
	}, waitFor, 10*time.Millisecond, "the store reads again once the server answers")
}

func TestStoppedServerOpensTheBreakerAndARestartClosesIt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		stop func(t testing.TB, srv *redistest.Server)
	}{
		{name: "killed", stop: func(t testing.TB, srv *redistest.Server) { srv.Kill(t) }},
		{name: "shut down", stop: func(t testing.TB, srv *redistest.Server) { srv.Shutdown(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			s := newStore(t, newClient(t, srv.Addr), "down", &redis.Options{
				Timeout: time.Second, FailureThreshold: 3, OpenFor: 20 * time.Millisecond,
			})
			ev := new(events).listen(s)
			ctx := t.Context()
			require.NoError(t, s.Set(ctx, "k", []byte("v")))
			require.Equal(t, redis.Closed, s.Breaker())

			tt.stop(t, srv)
			for range 3 {
				_, _, err := s.GetEntry(ctx, "k")
				require.Error(t, err)
			}
			require.Equal(t, redis.Open, s.Breaker(), "three failures in a row open the breaker")
			_, _, err := s.GetEntry(ctx, "k")
			require.ErrorIs(t, err, redis.ErrBreakerOpen, "an open breaker answers without calling Redis")
			require.ErrorIs(t, s.Set(ctx, "k", []byte("v")), redis.ErrBreakerOpen)
			require.Equal(t, []pipeline.EventKind{pipeline.BreakerOpened}, ev.kinds())
			require.Error(t, ev.all()[0].Err, "the event carries the error that opened the breaker")

			srv.Restart(t)
			require.Eventually(t, func() bool {
				_, _, err := s.GetEntry(ctx, "k")
				return err == nil
			}, waitFor, 10*time.Millisecond, "a probe finds the server back")
			require.Equal(t, redis.Closed, s.Breaker())
			require.Equal(t, pipeline.BreakerClosed, ev.kinds()[len(ev.kinds())-1])

			require.NoError(t, s.Set(ctx, "k", []byte("again")), "the restarted server is empty, and writable")
			requireHit(t, s, "k", []byte("again"))
		})
	}
}

func TestExplicitDeleteAndClearReturnTheirErrorsWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := newStore(t, newClient(t, srv.Addr), "explicit", &redis.Options{Timeout: time.Second, FailureThreshold: 1, OpenFor: time.Hour})
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "k", []byte("v")))
	srv.Kill(t)

	_, _, err := s.Get(ctx, "k")
	require.Error(t, err)
	require.Equal(t, redis.Open, s.Breaker())
	require.Error(t, s.Delete(ctx, "k"), "a Delete that did not reach Redis says so")
	require.Error(t, s.Clear(ctx), "a Clear that did not reach Redis says so")
	require.NotErrorIs(t, s.Delete(ctx, "k"), redis.ErrBreakerOpen, "a Delete tries Redis even while the breaker is open")

	srv.Restart(t)
	require.Eventually(t, func() bool { return s.Delete(ctx, "k") == nil }, waitFor, 10*time.Millisecond,
		"a Delete gets through to a server that is back, open breaker or not")
	require.NoError(t, s.Clear(ctx))
}

func TestACallerThatGivesUpDoesNotOpenTheBreaker(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := newStore(t, newClient(t, srv.Addr), "cancel", &redis.Options{FailureThreshold: 1})
	warm(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for range 3 {
		_, _, err := s.GetEntry(ctx, "k")
		require.ErrorIs(t, err, context.Canceled)
	}
	require.Equal(t, redis.Closed, s.Breaker(), "the caller's cancellation says nothing of the server")
}

func TestCacheLayerOverTheStoreServesEveryReadWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	raw := newStore(t, newClient(t, srv.Addr), "layer", &redis.Options{Timeout: 200 * time.Millisecond, FailureThreshold: 2, OpenFor: 10 * time.Millisecond})
	type doc struct{ N int }
	calls := 0
	source := pipeline.FetcherFunc[string, doc](func(_ context.Context, key string) (doc, error) {
		calls++
		return doc{N: len(key)}, nil
	})
	layer := pipeline.Cache("redis", stores.Encoded(raw, stores.JSON[doc]()), &pipeline.CacheOptions[string]{TTL: time.Minute, NoCoalesce: true})(source)
	ctx := t.Context()

	v, err := layer.Fetch(ctx, "abc")
	require.NoError(t, err)
	require.Equal(t, doc{3}, v)
	v, err = layer.Fetch(ctx, "abc")
	require.NoError(t, err)
	require.Equal(t, doc{3}, v)
	require.Equal(t, 1, calls, "the second read is a Redis hit")

	srv.Kill(t)
	for range 10 {
		v, err := layer.Fetch(ctx, "abc")
		require.NoError(t, err, "Redis trouble never fails a read")
		require.Equal(t, doc{3}, v)
	}
	require.Equal(t, 11, calls, "every read while Redis is down goes to the source")
	require.Equal(t, redis.Open, raw.Breaker())

	srv.Restart(t)
	require.Eventually(t, func() bool {
		_, err := layer.Fetch(ctx, "abc")
		return err == nil && raw.Breaker() == redis.Closed
	}, waitFor, 10*time.Millisecond)
	before := calls
	_, err = layer.Fetch(ctx, "abc") // filled by the fetch that closed the breaker, or by this one
	require.NoError(t, err)
	_, err = layer.Fetch(ctx, "abc")
	require.NoError(t, err)
	require.LessOrEqual(t, calls-before, 1, "the layer refills Redis once it is back")
}

func TestCacheLayerOverTheStoreServesReadsFromTheSourceWhileRedisStalls(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	raw := newStore(t, newClient(t, srv.Addr), "slow", &redis.Options{Timeout: 100 * time.Millisecond})
	source := pipeline.FetcherFunc[string, []byte](func(_ context.Context, key string) ([]byte, error) {
		return []byte("from source " + key), nil
	})
	layer := pipeline.Cache("redis", raw, &pipeline.CacheOptions[string]{NoCoalesce: true})(source)
	ctx := t.Context()
	warm(t, raw)

	resumed := srv.Stall(t, time.Second)
	v, err := layer.Fetch(ctx, "k")
	require.NoError(t, err, "a stalled Redis is a miss, not a failed read")
	require.Equal(t, []byte("from source k"), v)
	<-resumed
}
