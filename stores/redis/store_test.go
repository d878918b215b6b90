package redis_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

func TestEntryRoundTripsWithItsExpiryAndItsRedisTTLFollowsIt(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	s := newStore(t, client, "rt", &redis.Options{TTL: 10 * time.Minute})
	ctx := t.Context()

	exp := time.Now().Add(time.Hour).Round(0)
	require.NoError(t, s.SetEntry(ctx, "doc", pipeline.Entry[[]byte]{Value: []byte("hello"), Expires: exp}))
	e, ok, err := s.GetEntry(ctx, "doc")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []byte("hello"), e.Value)
	require.True(t, exp.Equal(e.Expires), "want %v, got %v", exp, e.Expires)

	pttl, err := client.PTTL(ctx, "rt:0:doc").Result()
	require.NoError(t, err)
	require.InDelta(t, time.Hour.Seconds(), pttl.Seconds(), 60, "the Redis TTL follows Expires")

	require.NoError(t, s.Set(ctx, "plain", []byte("v")))
	requireHit(t, s, "plain", []byte("v"))
	e, ok, err = s.GetEntry(ctx, "plain")
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, e.Expires.IsZero(), "an unknown lifetime stays unknown")
	pttl, err = client.PTTL(ctx, "rt:0:plain").Result()
	require.NoError(t, err)
	require.InDelta(t, (10 * time.Minute).Seconds(), pttl.Seconds(), 60, "an unknown lifetime gets Options.TTL in Redis")
}

func TestRedisTTLOfAnEntryEndsGraceAfterItsExpiry(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	s := newStore(t, client, "grace", &redis.Options{Grace: time.Hour})
	ctx := t.Context()

	require.NoError(t, s.SetEntry(ctx, "k", pipeline.Entry[[]byte]{Value: []byte("v"), Expires: time.Now().Add(time.Minute)}))
	pttl, err := client.PTTL(ctx, "grace:0:k").Result()
	require.NoError(t, err)
	require.InDelta(t, (time.Hour + time.Minute).Seconds(), pttl.Seconds(), 60)
}

func TestAnEntryThatExpiresBeyondTheRangeOfADurationIsStored(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := newStore(t, newClient(t, srv.Addr), "far", nil)
	ctx := t.Context()
	far := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) // "never", more than 292 years away

	require.NoError(t, s.SetEntry(ctx, "k", pipeline.Entry[[]byte]{Value: []byte("v"), Expires: far}))
	requireHit(t, s, "k", []byte("v"))
	require.NoError(t, s.SetBatch(ctx, []string{"b"}, []pipeline.Entry[[]byte]{{Value: []byte("w"), Expires: far}}))
	requireHit(t, s, "b", []byte("w"))
	require.Equal(t, redis.Closed, s.Breaker())
}

func TestGetReportsAnExpiredEntryMissingWhileGetEntryReturnsIt(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	clock := testkit.NewClock()
	s := newStore(t, newClient(t, srv.Addr), "exp", &redis.Options{Clock: clock.Now, GenerationRefresh: time.Hour * 24})
	ctx := t.Context()

	exp := clock.Now().Add(time.Minute)
	require.NoError(t, s.SetEntry(ctx, "k", pipeline.Entry[[]byte]{Value: []byte("v"), Expires: exp}))
	clock.Advance(2 * time.Minute) // past Expires by the store's clock; Redis keeps it a minute more

	requireMiss(t, s, "k", "Get: expired is missing")
	e, ok, err := s.GetEntry(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok, "GetEntry returns what was set, expired or not")
	require.Equal(t, []byte("v"), e.Value)
}

func TestSetEntryOfAnAlreadyExpiredEntryDeletesTheOldValue(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := newStore(t, newClient(t, srv.Addr), "old", nil)
	ctx := t.Context()

	require.NoError(t, s.Set(ctx, "k", []byte("old")))
	require.NoError(t, s.SetEntry(ctx, "k", pipeline.Entry[[]byte]{Value: []byte("new"), Expires: time.Now().Add(-time.Second)}))
	_, ok, err := s.GetEntry(ctx, "k")
	require.NoError(t, err)
	require.False(t, ok)
}

func TestMissingKeyIsAMissWithoutAnError(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := newStore(t, newClient(t, srv.Addr), "miss", nil)
	_, ok, err := s.GetEntry(t.Context(), "nothing")
	require.NoError(t, err)
	require.False(t, ok)
	requireMiss(t, s, "nothing")
}

func TestDeleteMakesTheKeyMissing(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := newStore(t, newClient(t, srv.Addr), "del", nil)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "k", []byte("v")))
	require.NoError(t, s.Delete(ctx, "k"))
	requireMiss(t, s, "k")
	require.NoError(t, s.Delete(ctx, "k"), "deleting a missing key is no error")
}

func TestKeysThatLookAlikeKeepApartInRedis(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	s := newStore(t, client, "alike", nil)
	ctx := t.Context()
	keys := []string{"", "a", "a:b", "a%3Ab", "a%3ab", "a/b", ":g", "0:a", "{a}", "a*", "\x00", "é", "\xff", "a b"}
	for i, k := range keys {
		require.NoError(t, s.Set(ctx, k, []byte{byte(i)}))
	}
	for i, k := range keys {
		v, ok, err := s.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok, "key %q", k)
		require.Equal(t, []byte{byte(i)}, v, "key %q", k)
	}
	n, err := client.DBSize(ctx).Result()
	require.NoError(t, err)
	require.EqualValues(t, len(keys), n, "one Redis key per key, and the generation was never written")
}

func TestClearEmptiesTheNamespaceWithOneCommandAndLeavesOtherKeysAlone(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	trips := &roundTrips{}
	client := newClient(t, srv.Addr, trips)
	s := newStore(t, client, "app", nil)
	other := newStore(t, client, "app2", nil)
	ctx := t.Context()

	require.NoError(t, client.Set(ctx, "app", "not ours", 0).Err())
	require.NoError(t, client.Set(ctx, "app:x", "not ours either", 0).Err())
	require.NoError(t, s.Set(ctx, "k", []byte("v")))
	require.NoError(t, other.Set(ctx, "k", []byte("other")))

	trips.reset()
	require.NoError(t, s.Clear(ctx))
	require.EqualValues(t, 1, trips.total(), "Clear is one INCR")

	requireMiss(t, s, "k", "cleared")
	v, ok, err := other.Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []byte("other"), v, "another namespace is untouched")
	for k, want := range map[string]string{"app": "not ours", "app:x": "not ours either"} {
		got, err := client.Get(ctx, k).Result()
		require.NoError(t, err)
		require.Equal(t, want, got)
	}

	require.NoError(t, s.Set(ctx, "k", []byte("after")))
	v, ok, err = s.Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []byte("after"), v, "the store works on in the new generation")
}

func TestAClearByAnotherStoreIsSeenAfterGenerationRefreshOrAtOnceAfterReload(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	clock := testkit.NewClock()
	opts := &redis.Options{Clock: clock.Now, GenerationRefresh: time.Second}
	a := newStore(t, client, "shared", opts)
	b := newStore(t, client, "shared", opts)
	c := newStore(t, client, "shared", opts)
	ctx := t.Context()

	require.NoError(t, a.Set(ctx, "k", []byte("v")))
	for _, s := range []*redis.Store{b, c} {
		_, ok, err := s.Get(ctx, "k")
		require.NoError(t, err)
		require.True(t, ok, "the stores share the namespace")
	}
	require.NoError(t, a.Clear(ctx))

	_, ok, err := b.Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok, "within GenerationRefresh, b still reads the old generation")
	require.NoError(t, c.Reload(ctx))
	requireMiss(t, c, "k", "after Reload, c reads the new generation")

	clock.Advance(time.Second)
	requireMiss(t, b, "k", "after GenerationRefresh, b reads the new generation")
}

func TestCorruptEnvelopeIsAMissThatIsDeletedAndReported(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
	}{
		{name: "not an envelope", raw: "plain text"},
		{name: "empty", raw: ""},
		{name: "unknown version", raw: "\xb7\x02\x00v"},
		{name: "expiry cut short", raw: "\xb7\x01\x01\x00\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			client := newClient(t, srv.Addr)
			s := newStore(t, client, "bad", nil)
			ev := new(events).listen(s)
			ctx := t.Context()

			require.NoError(t, client.Set(ctx, "bad:0:k", tt.raw, 0).Err())
			_, ok, err := s.GetEntry(ctx, "k")
			require.NoError(t, err, "corrupt data is a miss, not a failure")
			require.False(t, ok)
			requireAbsent(t, client, "bad:0:k", "deleted")

			got := ev.all()
			require.Len(t, got, 1)
			require.Equal(t, pipeline.Error, got[0].Kind)
			require.Equal(t, "k", got[0].Key)
			require.ErrorIs(t, got[0].Err, redis.ErrCorrupt)
		})
	}
}

func TestCorruptEnvelopesInABatchAreMissesThatAreDeletedAndReported(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	s := newStore(t, client, "bad", nil)
	ev := new(events).listen(s)
	ctx := t.Context()

	require.NoError(t, s.Set(ctx, "good", []byte("g")))
	require.NoError(t, client.Set(ctx, "bad:0:bad1", "junk", 0).Err())
	require.NoError(t, client.Set(ctx, "bad:0:bad2", "\xb7", 0).Err())
	out := make([]pipeline.Result[[]byte], 3)
	s.GetBatch(ctx, []string{"bad1", "good", "bad2"}, out)
	require.ErrorIs(t, out[0].Err, pipeline.ErrNotFound)
	require.NoError(t, out[1].Err)
	require.Equal(t, []byte("g"), out[1].Value)
	require.ErrorIs(t, out[2].Err, pipeline.ErrNotFound)
	requireAbsent(t, client, "bad:0:bad1")
	requireAbsent(t, client, "bad:0:bad2")

	var keys []string
	for _, e := range ev.all() {
		require.Equal(t, pipeline.Error, e.Kind)
		require.ErrorIs(t, e.Err, redis.ErrCorrupt)
		keys = append(keys, e.Key)
	}
	require.ElementsMatch(t, []string{"bad1", "bad2"}, keys)
}

func TestNewRejectsBadSettings(t *testing.T) {
	t.Parallel()
	good := goredis.NewClient(redis.ClientOptions("127.0.0.1:1"))
	t.Cleanup(func() { good.Close() })
	deaf := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}) // go-redis defaults: ignores deadlines
	t.Cleanup(func() { deaf.Close() })
	deafCluster := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	t.Cleanup(func() { deafCluster.Close() })

	tests := []struct {
		name   string
		client goredis.UniversalClient
		ns     string
		opts   *redis.Options
	}{
		{name: "nil client", client: nil, ns: "ns"},
		{name: "nil *Client", client: (*goredis.Client)(nil), ns: "ns"},
		{name: "nil *ClusterClient", client: (*goredis.ClusterClient)(nil), ns: "ns"},
		{name: "empty namespace", client: good, ns: ""},
		{name: "namespace with a colon", client: good, ns: "a:b"},
		{name: "namespace with a brace", client: good, ns: "{a}"},
		{name: "namespace too long", client: good, ns: string(make([]byte, 65))},
		{name: "negative timeout", client: good, ns: "ns", opts: &redis.Options{Timeout: -1}},
		{name: "negative TTL", client: good, ns: "ns", opts: &redis.Options{TTL: -1}},
		{name: "negative grace", client: good, ns: "ns", opts: &redis.Options{Grace: -1}},
		{name: "negative threshold", client: good, ns: "ns", opts: &redis.Options{FailureThreshold: -1}},
		{name: "negative open time", client: good, ns: "ns", opts: &redis.Options{OpenFor: -1}},
		{name: "negative refresh", client: good, ns: "ns", opts: &redis.Options{GenerationRefresh: -1}},
		{name: "negative tombstone", client: good, ns: "ns", opts: &redis.Options{Tombstone: -1}},
		{name: "negative lease", client: good, ns: "ns", opts: &redis.Options{Lease: -1}},
		{name: "negative lease wait", client: good, ns: "ns", opts: &redis.Options{LeaseWait: -1}},
		{name: "TTL under Redis's millisecond", client: good, ns: "ns", opts: &redis.Options{TTL: time.Microsecond}},
		{name: "tombstone under Redis's millisecond", client: good, ns: "ns", opts: &redis.Options{Tombstone: time.Microsecond}},
		{name: "lease under Redis's millisecond", client: good, ns: "ns", opts: &redis.Options{Lease: time.Microsecond}},
		{name: "client that ignores deadlines", client: deaf, ns: "ns"},
		{name: "cluster client that ignores deadlines", client: deafCluster, ns: "ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := redis.New(tt.client, tt.ns, tt.opts)
			require.ErrorIs(t, err, redis.ErrInvalidOption)
		})
	}
	_, err := redis.New(good, "a-Z_0.9~/x", nil)
	require.NoError(t, err)
}

func TestNewDoesNotWriteIntoTheCallersOptions(t *testing.T) {
	t.Parallel()
	client := goredis.NewClient(redis.ClientOptions("127.0.0.1:1"))
	t.Cleanup(func() { client.Close() })
	opts := &redis.Options{}
	_, err := redis.New(client, "ns", opts)
	require.NoError(t, err)
	require.Equal(t, &redis.Options{}, opts)
}

func TestBatchSlicesOfDifferentLengthsPanic(t *testing.T) {
	t.Parallel()
	client := goredis.NewClient(redis.ClientOptions("127.0.0.1:1"))
	t.Cleanup(func() { client.Close() })
	s, err := redis.New(client, "ns", nil)
	require.NoError(t, err)
	require.Panics(t, func() { s.GetBatch(context.Background(), []string{"a"}, nil) })
	require.Panics(t, func() { _ = s.SetBatch(context.Background(), []string{"a"}, nil) })
}

func TestReloadFollowsTheGenerationBackAfterTheServerLostIt(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	s := newStore(t, client, "flush", nil)
	ctx := t.Context()
	require.NoError(t, s.Clear(ctx))
	require.NoError(t, s.Clear(ctx)) // generation 2
	require.NoError(t, client.FlushAll(ctx).Err())

	require.NoError(t, s.Reload(ctx))
	require.NoError(t, s.Set(ctx, "k", []byte("v")))
	n, err := client.Exists(ctx, "flush:0:k").Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "after a FLUSHALL the counter starts again from 0, and so does the store")
}
