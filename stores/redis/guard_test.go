package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

// tombstoneBytes is what a Delete leaves in a key.
const tombstoneBytes = "\xb7\x01\x02"

func TestDeleteLeavesATombstoneForOptionsTombstone(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	s := newStore(t, client, "tomb", &redis.Options{Tombstone: 30 * time.Second})
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "k", []byte("v")))
	require.NoError(t, s.Delete(ctx, "k"))

	requireRaw(t, client, "tomb:0:k", tombstoneBytes)
	pttl, err := client.PTTL(ctx, "tomb:0:k").Result()
	require.NoError(t, err)
	require.Greater(t, pttl, time.Duration(0))
	require.LessOrEqual(t, pttl, 30*time.Second)
}

func TestATombstoneReadsAsMissingEverywhere(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	s := newStore(t, client, "tmiss", nil)
	ev := new(events).listen(s)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "k", []byte("v")))
	require.NoError(t, s.Delete(ctx, "k"))

	requireMiss(t, s, "k", "Get")
	_, ok, err := s.GetEntry(ctx, "k")
	require.NoError(t, err)
	require.False(t, ok, "GetEntry")
	out := make([]pipeline.Result[[]byte], 1)
	s.GetBatch(ctx, []string{"k"}, out)
	require.ErrorIs(t, out[0].Err, pipeline.ErrNotFound, "GetBatch")
	require.Empty(t, ev.all(), "a tombstone is no corrupt envelope")
	requireRaw(t, client, "tmiss:0:k", tombstoneBytes, "and the reads left it in place")
}

// TestAWriteAfterADeleteIsRefusedUntilTheTombstoneEnds is the fill race
// at the Store: instance a misses and reads the source, instance b
// invalidates the key, then a writes what it read. Without the guard, a's
// old value would sit in Redis until its TTL.
func TestAWriteAfterADeleteIsRefusedUntilTheTombstoneEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		write func(ctx context.Context, s *redis.Store) error
	}{
		{name: "Set", write: func(ctx context.Context, s *redis.Store) error { return s.Set(ctx, "k", []byte("old")) }},
		{name: "SetEntry", write: func(ctx context.Context, s *redis.Store) error {
			return s.SetEntry(ctx, "k", pipeline.Entry[[]byte]{Value: []byte("old"), Expires: time.Now().Add(time.Hour)})
		}},
		{name: "SetBatch", write: func(ctx context.Context, s *redis.Store) error {
			return s.SetBatch(ctx, []string{"k", "other"}, []pipeline.Entry[[]byte]{{Value: []byte("old")}, {Value: []byte("o")}})
		}},
		{name: "SetEntry of an expired entry", write: func(ctx context.Context, s *redis.Store) error {
			return s.SetEntry(ctx, "k", pipeline.Entry[[]byte]{Value: []byte("old"), Expires: time.Now().Add(-time.Hour)})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			client := newClient(t, srv.Addr)
			a, b := twoInstances(t, srv, "race", &redis.Options{Tombstone: time.Hour})
			ctx := t.Context()

			requireMiss(t, a, "k", "a misses, and reads the source")
			require.NoError(t, b.Delete(ctx, "k"), "b updates the source and invalidates")
			require.NoError(t, tt.write(ctx, a), "a refused write is no error")

			requireRaw(t, client, "race:0:k", tombstoneBytes, "the tombstone is still there")
			requireMiss(t, b, "k", "b reads no value older than its Delete")

			require.NoError(t, client.Del(ctx, "race:0:k").Err()) // the tombstone's life ends
			require.NoError(t, a.Set(ctx, "k", []byte("new")))
			requireHit(t, b, "k", []byte("new"), "once the tombstone ended, writes go through")
		})
	}
}

func TestATombstoneEndsOnItsOwn(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := newStore(t, newClient(t, srv.Addr), "short", &redis.Options{Tombstone: 20 * time.Millisecond})
	ctx := t.Context()
	require.NoError(t, s.Delete(ctx, "k"))
	require.Eventually(t, func() bool {
		if err := s.Set(ctx, "k", []byte("v")); err != nil {
			return false
		}
		_, ok, err := s.Get(ctx, "k")
		return err == nil && ok
	}, waitFor, 5*time.Millisecond)
}

// TestACacheLayerFillThatRacedAnInvalidationIsNotWrittenToRedis is the
// fill race through cache layers: instance a's layer misses and calls the
// source, which answers with the value of before an update that instance b
// makes and invalidates meanwhile. a's caller gets that value (it asked
// before the update), but Redis does not keep it, and b reads the new one.
func TestACacheLayerFillThatRacedAnInvalidationIsNotWrittenToRedis(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	a, b := twoInstances(t, srv, "fill", &redis.Options{Tombstone: time.Hour})

	value := make(chan string, 1)
	value <- "old"
	reading := make(chan struct{})
	release := make(chan struct{})
	slow := pipeline.FetcherFunc[string, []byte](func(context.Context, string) ([]byte, error) {
		v := <-value
		close(reading)
		<-release // the source answered; its answer is on its way back
		return []byte(v), nil
	})
	layerA := pipeline.Cache("redis", a, nil)(slow)
	t.Cleanup(func() { pipeline.Close(layerA) })
	ctx := t.Context()

	done := make(chan error, 1)
	go func() {
		v, err := layerA.Fetch(ctx, "k")
		if err == nil && string(v) != "old" {
			err = context.Canceled // any error will do: the value is wrong
		}
		done <- err
	}()
	<-reading
	value <- "new"                         // b updates the source...
	require.NoError(t, b.Delete(ctx, "k")) // ...and invalidates
	close(release)
	require.NoError(t, <-done, "a's caller gets what the source said")

	requireRaw(t, client, "fill:0:k", tombstoneBytes, "a's fill was not written")
	fresh := pipeline.FetcherFunc[string, []byte](func(context.Context, string) ([]byte, error) {
		return []byte(<-value), nil
	})
	layerB := pipeline.Cache("redis", b, nil)(fresh)
	t.Cleanup(func() { pipeline.Close(layerB) })
	v, err := layerB.Fetch(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, []byte("new"), v, "b reads the source, not a's old value")
}

func TestAWriteSendsTheScriptWholeOnlyWhenTheServerLacksIt(t *testing.T) {
	t.Parallel()
	s, client, trips := countedStore(t, startServer(t), "script", nil)
	ctx := t.Context()
	entries := []pipeline.Entry[[]byte]{{Value: []byte("1")}, {Value: []byte("2")}}

	steps := []struct {
		name  string
		flush bool // SCRIPT FLUSH first, as a restarted server would have
		write func() error
		trips int64
	}{
		{name: "first write: EVAL", write: func() error { return s.Set(ctx, "a", []byte("v")) }, trips: 1},
		{name: "then EVALSHA", write: func() error { return s.Set(ctx, "a", []byte("v")) }, trips: 1},
		{name: "batch: EVALSHA", write: func() error { return s.SetBatch(ctx, []string{"a", "b"}, entries) }, trips: 1},
		{name: "NOSCRIPT, then EVAL", flush: true, write: func() error { return s.Set(ctx, "a", []byte("v")) }, trips: 2},
		{name: "batch: NOSCRIPT, then EVAL", flush: true, write: func() error { return s.SetBatch(ctx, []string{"a", "b"}, entries) }, trips: 2},
		{name: "batch: EVALSHA again", write: func() error { return s.SetBatch(ctx, []string{"a", "b"}, entries) }, trips: 1},
	}
	for _, st := range steps {
		require.NoError(t, client.Del(ctx, "script:0:a", "script:0:b").Err())
		if st.flush {
			require.NoError(t, client.ScriptFlush(ctx).Err())
		}
		trips.reset()
		require.NoError(t, st.write(), st.name)
		require.Equal(t, st.trips, trips.total(), st.name)
		_, ok, err := s.Get(ctx, "a")
		require.NoError(t, err)
		require.True(t, ok, "%s: written", st.name)
	}
}
