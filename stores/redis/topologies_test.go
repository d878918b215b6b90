package redis_test

import (
	"strconv"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/redistest"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

// TestStoreOnAClusterSendsNothingThatCrossesHashSlots runs every kind of
// call through a cluster client against a one-node cluster, which answers
// CROSSSLOT to any command whose keys lie in different slots, as a real
// cluster does.
func TestStoreOnAClusterSendsNothingThatCrossesHashSlots(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, &redistest.Options{Cluster: true})
	opts := redis.UniversalOptions(srv.Addr)
	opts.IsClusterMode = true
	client := goredis.NewUniversalClient(opts)
	t.Cleanup(func() { client.Close() })
	_, isCluster := client.(*goredis.ClusterClient)
	require.True(t, isCluster)
	s := newStore(t, client, "cl", nil)
	ev := new(events).listen(s)
	ctx := t.Context()

	const n = 50 // keys spread over many slots
	keys := make([]string, n)
	entries := make([]pipeline.Entry[[]byte], n)
	for i := range keys {
		keys[i] = "key" + strconv.Itoa(i)
		entries[i] = pipeline.Entry[[]byte]{Value: []byte(keys[i])}
	}
	require.NoError(t, s.SetBatch(ctx, keys, entries))
	out := make([]pipeline.Result[[]byte], n)
	s.GetBatch(ctx, keys, out)
	for i, r := range out {
		require.NoError(t, r.Err)
		require.Equal(t, keys[i], string(r.Value))
	}

	require.NoError(t, client.Set(ctx, "cl:0:bad", "junk", 0).Err())
	_, ok, err := s.GetEntry(ctx, "bad")
	require.NoError(t, err)
	require.False(t, ok)
	require.Len(t, ev.all(), 1, "the corrupt envelope was deleted by a single-key script")
	require.ErrorIs(t, ev.all()[0].Err, redis.ErrCorrupt)
	require.NotContains(t, ev.all()[0].Err.Error(), "CROSSSLOT")

	require.NoError(t, s.Delete(ctx, "key0"))
	require.NoError(t, s.Clear(ctx))
	requireMiss(t, s, "key1")
}

// TestStoreThroughSentinelFindsTheMasterAndServesIt builds the client with
// UniversalOptions and a MasterName, as a user of Sentinel would: the
// client asks the Sentinel for the master, and the Store works through it.
func TestStoreThroughSentinelFindsTheMasterAndServesIt(t *testing.T) {
	t.Parallel()
	master := redistest.Start(t, nil)
	sentinel := redistest.StartSentinel(t, master)
	opts := redis.UniversalOptions(sentinel.Addr)
	opts.MasterName = redistest.MasterName
	client := goredis.NewUniversalClient(opts)
	t.Cleanup(func() { client.Close() })
	s := newStore(t, client, "sent", nil)
	ctx := t.Context()

	require.NoError(t, s.SetBatch(ctx, []string{"a", "b"}, []pipeline.Entry[[]byte]{{Value: []byte("A")}, {Value: []byte("B")}}))
	requireHit(t, s, "a", []byte("A"))
	got, err := master.Do("EXISTS", "sent:0:b")
	require.NoError(t, err)
	require.Equal(t, "1", got, "the entries are on the master the Sentinel named")
	require.NoError(t, s.Clear(ctx))
}
