package redis_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

func TestAGenerationRefreshRidesInTheRoundTripOfTheCallThatDoesIt(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	trips := &roundTrips{}
	clock := testkit.NewClock()
	s := newStore(t, newClient(t, srv.Addr, trips), "ride", &redis.Options{Clock: clock.Now, GenerationRefresh: time.Second})
	ctx := t.Context()
	warm(t, s)
	keys := []string{"a", "b", "c"}
	entries := []pipeline.Entry[[]byte]{{Value: []byte("a")}, {Value: []byte("b")}, {Value: []byte("c")}}

	tests := []struct {
		name string
		call func()
	}{
		{name: "GetEntry", call: func() { _, _, err := s.GetEntry(ctx, "a"); require.NoError(t, err) }},
		{name: "SetEntry", call: func() { require.NoError(t, s.SetEntry(ctx, "a", entries[0])) }},
		{name: "Delete", call: func() { require.NoError(t, s.Delete(ctx, "a")) }},
		{name: "GetBatch", call: func() { s.GetBatch(ctx, keys, make([]pipeline.Result[[]byte], len(keys))) }},
		{name: "SetBatch", call: func() { require.NoError(t, s.SetBatch(ctx, keys, entries)) }},
	}
	for _, tt := range tests { // in turn: they share the store and its clock
		clock.Advance(time.Second) // the generation is due for a refresh
		trips.reset()
		tt.call()
		require.EqualValues(t, 1, trips.total(), "%s: one round trip, refresh included", tt.name)
		require.EqualValues(t, 1, trips.pipelines.Load(), "%s: the generation rode in the call's pipeline", tt.name)
	}
}

func TestCallsAfterAClearElsewhereReachTheNewGenerationOnceTheirRefreshIsDue(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	clock := testkit.NewClock()
	opts := &redis.Options{Clock: clock.Now, GenerationRefresh: time.Second}
	here, there := newStore(t, client, "gen", opts), newStore(t, client, "gen", opts)
	ctx := t.Context()
	require.NoError(t, here.Set(ctx, "k", []byte("old")))
	warm(t, there)

	require.NoError(t, there.Clear(ctx)) // generation 1
	clock.Advance(time.Second)
	requireMiss(t, here, "k", "the read saw the generation move and read the new key")

	clock.Advance(time.Second)
	require.NoError(t, there.Clear(ctx)) // generation 2, unseen by here until its refresh is due
	clock.Advance(time.Second)
	require.NoError(t, here.Set(ctx, "k", []byte("new")))
	requireHit(t, there, "k", []byte("new"), "the write went to the new generation")
}

func TestDeleteReachesTheCurrentGenerationEvenBeforeARefreshIsDue(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	here := newStore(t, client, "gdel", &redis.Options{GenerationRefresh: time.Hour})
	there := newStore(t, client, "gdel", &redis.Options{GenerationRefresh: time.Hour})
	ctx := t.Context()
	warm(t, here) // generation 0, trusted for an hour

	require.NoError(t, there.Clear(ctx))
	require.NoError(t, there.Set(ctx, "k", []byte("v"))) // generation 1
	require.NoError(t, here.Delete(ctx, "k"))
	requireMiss(t, there, "k", "an invalidation is never lost to a stale generation")
}

// clearAfterGenerationRead is a go-redis hook that, once armed, makes a
// Store Clear right after the server answered the next read of the
// generation key: a Clear that lands while another call of the Store reads
// the generation.
type clearAfterGenerationRead struct {
	genKey string
	armed  atomic.Pointer[redis.Store]
	errs   chan error
}

func (h *clearAfterGenerationRead) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *clearAfterGenerationRead) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		if cmd.Name() == "get" && len(cmd.Args()) == 2 && cmd.Args()[1] == h.genKey {
			if s := h.armed.Swap(nil); s != nil {
				h.errs <- s.Clear(context.WithoutCancel(ctx))
			}
		}
		return err
	}
}

func (h *clearAfterGenerationRead) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

func TestReloadDoesNotUndoAClearThatLandedWhileItRead(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	hook := &clearAfterGenerationRead{genKey: "reload-race:g", errs: make(chan error, 1)}
	s := newStore(t, newClient(t, srv.Addr, hook), "reload-race", &redis.Options{GenerationRefresh: time.Hour})
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "k", []byte("old"))) // generation 0

	hook.armed.Store(s) // Reload reads 0, then the Clear moves the store to 1
	require.NoError(t, s.Reload(ctx))
	require.NoError(t, <-hook.errs)
	requireMiss(t, s, "k", "the store's own Clear is not undone by a Reload that read the generation before it")
}

func TestClearAfterTheServerLostTheGenerationHidesWhatWasWrittenBeforeIt(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	s := newStore(t, client, "lost", &redis.Options{GenerationRefresh: time.Hour})
	ctx := t.Context()
	require.NoError(t, s.Clear(ctx))
	require.NoError(t, s.Clear(ctx))               // generation 2, trusted for an hour
	require.NoError(t, client.FlushAll(ctx).Err()) // a restart without persistence

	require.NoError(t, s.Set(ctx, "k", []byte("before the clear"))) // still generation 2
	require.NoError(t, s.Clear(ctx))                                // the counter, lost, goes to 1
	requireMiss(t, s, "k", "a Clear puts every entry written before it out of reach at once for its Store")
}
