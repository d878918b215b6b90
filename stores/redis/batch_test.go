package redis_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

func TestBatchOfAHundredReadsInOneRoundTripAndWritesInOne(t *testing.T) {
	t.Parallel()
	s, _, trips := countedStore(t, startServer(t), "batch", nil)
	ctx := t.Context()

	const n = 100
	keys := make([]string, n)
	entries := make([]pipeline.Entry[[]byte], n)
	exp := time.Now().Add(time.Hour).Round(0)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
		entries[i] = pipeline.Entry[[]byte]{Value: []byte(strconv.Itoa(i))}
		if i%2 == 0 {
			entries[i].Expires = exp
		}
	}

	trips.reset()
	require.NoError(t, s.SetBatch(ctx, keys[:n/2], entries[:n/2]))
	require.EqualValues(t, 1, trips.total(), "the writes of a batch: one round trip")
	require.EqualValues(t, n/2, trips.inPipes.Load())

	trips.reset()
	out := make([]pipeline.Result[[]byte], n)
	s.GetBatch(ctx, keys, out)
	require.EqualValues(t, 1, trips.total(), "the reads of a batch: one round trip")
	require.EqualValues(t, n, trips.inPipes.Load())
	for i, r := range out {
		if i >= n/2 {
			require.ErrorIs(t, r.Err, pipeline.ErrNotFound, "key %d", i)
			continue
		}
		require.NoError(t, r.Err, "key %d", i)
		require.Equal(t, entries[i].Value, r.Value)
		require.True(t, entries[i].Expires.Equal(r.Expires), "key %d", i)
	}
}

func TestBatchMayRepeatKeys(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	s := newStore(t, newClient(t, srv.Addr), "rep", nil)
	ctx := t.Context()
	require.NoError(t, s.SetBatch(ctx, []string{"a", "a", "b"}, []pipeline.Entry[[]byte]{
		{Value: []byte("1")}, {Value: []byte("2")}, {Value: []byte("b")},
	}))
	out := make([]pipeline.Result[[]byte], 3)
	s.GetBatch(ctx, []string{"a", "b", "a"}, out)
	for i, want := range []string{"2", "b", "2"} {
		require.NoError(t, out[i].Err)
		require.Equal(t, want, string(out[i].Value), "the last write of a key wins")
	}
}

func TestEmptyBatchCallsNothing(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	trips := &roundTrips{}
	s := newStore(t, newClient(t, srv.Addr, trips), "empty", nil)
	s.GetBatch(t.Context(), nil, nil)
	require.NoError(t, s.SetBatch(t.Context(), nil, nil))
	require.Zero(t, trips.total())
}

func TestEncodedBatchStoreKeepsTypedValuesInOneRoundTripEach(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	trips := &roundTrips{}
	raw := newStore(t, newClient(t, srv.Addr, trips), "typed", nil)
	type doc struct{ Title string }
	s, ok := stores.Encoded(raw, stores.JSON[doc]()).(pipeline.BatchStore[string, doc])
	require.True(t, ok, "Encoded over a BatchStore is a BatchStore")
	ctx := t.Context()
	warm(t, raw)

	trips.reset()
	require.NoError(t, s.SetBatch(ctx, []string{"a", "b"}, []pipeline.Entry[doc]{{Value: doc{"A"}}, {Value: doc{"B"}}}))
	out := make([]pipeline.Result[doc], 3)
	s.GetBatch(ctx, []string{"a", "b", "c"}, out)
	require.EqualValues(t, 2, trips.total())
	require.Equal(t, doc{"A"}, out[0].Value)
	require.Equal(t, doc{"B"}, out[1].Value)
	require.ErrorIs(t, out[2].Err, pipeline.ErrNotFound)
}

func TestSetBatchDeletesTheKeysOfEntriesThatHaveExpiredAlready(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	s := newStore(t, client, "bexp", &redis.Options{Grace: time.Minute})
	ctx := t.Context()
	require.NoError(t, s.SetBatch(ctx, []string{"gone", "grace"}, []pipeline.Entry[[]byte]{{Value: []byte("old")}, {Value: []byte("old")}}))

	now := time.Now()
	require.NoError(t, s.SetBatch(ctx, []string{"gone", "grace"}, []pipeline.Entry[[]byte]{
		{Value: []byte("new"), Expires: now.Add(-2 * time.Minute)}, // expired beyond the grace
		{Value: []byte("new"), Expires: now.Add(-time.Second)},     // expired, within the grace
	}))
	out := make([]pipeline.Result[[]byte], 2)
	s.GetBatch(ctx, []string{"gone", "grace"}, out)
	require.ErrorIs(t, out[0].Err, pipeline.ErrNotFound, "no older value outlives the write")
	require.NoError(t, out[1].Err, "kept for stale-if-error")
	require.Equal(t, []byte("new"), out[1].Value)
	pttl, err := client.PTTL(ctx, "bexp:0:grace").Result()
	require.NoError(t, err)
	require.Greater(t, pttl, time.Duration(0))
	require.LessOrEqual(t, pttl, time.Minute)
}

// pipelines is a go-redis hook that records the names of the commands of
// each pipeline sent, and counts the commands sent alone.
type pipelines struct {
	mu    sync.Mutex
	sent  [][]string
	alone int
}

func (p *pipelines) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (p *pipelines) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		p.mu.Lock()
		p.alone++
		p.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (p *pipelines) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		names := make([]string, len(cmds))
		for i, c := range cmds {
			names[i] = c.Name()
		}
		p.mu.Lock()
		p.sent = append(p.sent, names)
		p.mu.Unlock()
		return next(ctx, cmds)
	}
}

// reset forgets what was sent.
func (p *pipelines) reset() {
	p.mu.Lock()
	p.sent, p.alone = nil, 0
	p.mu.Unlock()
}

func TestACacheLayerBatchOfAHundredMissesIsOneRoundTripForTheReadsAndOneForTheWrites(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	sent := &pipelines{}
	s := newStore(t, newClient(t, srv.Addr, sent), "lbatch", &redis.Options{GenerationRefresh: time.Hour, Lease: time.Minute})
	warm(t, s)
	require.NoError(t, s.Set(t.Context(), "warm", []byte("v"))) // the write script is loaded: EVALSHA from now on
	layer := batchLayer(t, s)

	const n = 100
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	out := make([]pipeline.Result[[]byte], n)
	sent.reset()
	layer.FetchBatch(t.Context(), keys, out)
	for i, r := range out {
		require.NoError(t, r.Err, "key %d", i)
	}
	require.Zero(t, sent.alone, "no command sent alone: no lease taken for a batch")
	require.Len(t, sent.sent, 2, "one pipeline for the reads, one for the writes")
	for i, want := range []string{"get", "evalsha"} {
		require.Len(t, sent.sent[i], n)
		for _, name := range sent.sent[i] {
			require.Equal(t, want, name)
		}
	}

	sent.reset()
	layer.FetchBatch(t.Context(), keys, out)
	require.Len(t, sent.sent, 1, "the second time, all hits: one pipeline of reads")
	require.Zero(t, sent.alone)
}
