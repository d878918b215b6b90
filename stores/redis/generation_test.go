package redis_test

import (
	"testing"
	"time"

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
