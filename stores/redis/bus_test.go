package redis_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/multilayer-cache/multilayer/internal/clock"
	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

// nowhere is an address where nothing listens: a bus over it works, with
// every Redis call refused.
const nowhere = "127.0.0.1:1"

// offlineBus returns a bus over a client of nowhere, closed when t ends.
func offlineBus(t testing.TB, opts *redis.BusOptions[string]) *redis.Bus[string] {
	t.Helper()
	b, err := redis.NewBus(newClient(t, nowhere), "bus", redis.StringKeys[string](), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

func TestNewBusRejectsBadSettings(t *testing.T) {
	t.Parallel()
	client := newClient(t, nowhere)
	deaf := goredis.NewClient(&goredis.Options{Addr: nowhere}) // ignores context deadlines
	t.Cleanup(func() { deaf.Close() })
	keys := redis.StringKeys[string]()
	tests := []struct {
		name    string
		client  goredis.UniversalClient
		channel string
		keys    stores.Codec[string, []byte]
		opts    *redis.BusOptions[string]
	}{
		{name: "nil client", channel: "bus", keys: keys},
		{name: "nil key codec", client: client, channel: "bus"},
		{name: "nil *Client", client: (*goredis.Client)(nil), channel: "bus", keys: keys},
		{name: "empty channel", client: client, keys: keys},
		{name: "channel with a space", client: client, channel: "a bus", keys: keys},
		{name: "channel with a glob", client: client, channel: "bus*", keys: keys},
		{name: "channel too long", client: client, channel: strings.Repeat("b", 65), keys: keys},
		{name: "negative timeout", client: client, channel: "bus", keys: keys, opts: &redis.BusOptions[string]{Timeout: -1}},
		{name: "negative heartbeat", client: client, channel: "bus", keys: keys, opts: &redis.BusOptions[string]{Heartbeat: -time.Second}},
		{name: "negative missed heartbeats", client: client, channel: "bus", keys: keys, opts: &redis.BusOptions[string]{MissedHeartbeats: -1}},
		{name: "negative max stale", client: client, channel: "bus", keys: keys, opts: &redis.BusOptions[string]{MaxStale: -time.Minute}},
		{name: "nil reloader", client: client, channel: "bus", keys: keys, opts: &redis.BusOptions[string]{Reload: []redis.Reloader{nil}}},
		{name: "client that ignores deadlines", client: deaf, channel: "bus", keys: keys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := redis.NewBus(tt.client, tt.channel, tt.keys, tt.opts)
			require.ErrorIs(t, err, redis.ErrInvalidOption)
			require.Nil(t, b)
		})
	}
}

func TestCoherentPanicsAtBuildTimeOnWiringMistakes(t *testing.T) {
	t.Parallel()
	source := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return k, nil })
	require.PanicsWithValue(t, "stores/redis: Coherent: nil bus", func() { redis.Coherent[string, string](nil) })

	b := offlineBus(t, nil)
	require.PanicsWithError(t,
		"stores/redis: Coherent: next is not a pipeline.Origin: build the bus over a cache layer (pipeline.Cache)",
		func() { redis.Coherent[string](b)(source) }, "a bus over a source has no layers to apply messages from")
	require.Panics(t, func() { redis.Coherent[string](b)(nil) })

	shared := pipeline.Cache("shared", stores.NewMap[string, string](), nil)(source)
	redis.Coherent[string](b)(shared)
	require.PanicsWithValue(t, "stores/redis: Coherent: the bus already has a layer; a bus serves one",
		func() { redis.Coherent[string](b)(shared) })
}

func TestCoherentCapsEveryEntryAtMaxStale(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock()
	b := offlineBus(t, &redis.BusOptions[string]{MaxStale: time.Minute, Clock: clk.Now})
	limit := clk.Now().Add(time.Minute)
	soon := clk.Now().Add(time.Second)
	expires := map[string]time.Time{"unknown": {}, "later": clk.Now().Add(time.Hour), "soon": soon}
	source := pipeline.EntryFetcherFunc[string, string](func(_ context.Context, k string) (pipeline.Entry[string], error) {
		return pipeline.Entry[string]{Value: k, Expires: expires[k]}, nil
	})
	shared := pipeline.Cache("shared", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{Clock: clk.Now})(source)
	layer := redis.Coherent[string](b)(shared)
	ef := layer.(pipeline.EntryFetcher[string, string])

	tests := []struct {
		key  string
		want time.Time
	}{
		{key: "unknown", want: limit},
		{key: "later", want: limit},
		{key: "soon", want: soon},
	}
	for _, tt := range tests {
		e, err := ef.FetchEntry(t.Context(), tt.key)
		require.NoError(t, err)
		require.True(t, tt.want.Equal(e.Expires), "%s: expires %v, want %v", tt.key, e.Expires, tt.want)
	}

	keys := []string{"unknown", "later", "soon"}
	out := pipeline.FetchMany(t.Context(), layer, keys)
	for i, tt := range tests {
		require.NoError(t, out[i].Err)
		require.True(t, tt.want.Equal(out[i].Expires), "batch %s: expires %v, want %v", tt.key, out[i].Expires, tt.want)
	}
}

func TestCoherentLetsALocalLayerKeepNothingPastMaxStale(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock()
	b := offlineBus(t, &redis.BusOptions[string]{MaxStale: time.Minute, Clock: clk.Now})
	below := stores.NewMap[string, string]()
	shared := pipeline.Cache("shared", below, nil)(newVersions())
	local := pipeline.Cache("local", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{Clock: clk.Now})(
		redis.Coherent[string](b)(shared))

	v, err := local.Fetch(t.Context(), "k")
	require.NoError(t, err)
	require.Equal(t, "k@0", v)
	require.NoError(t, below.Set(t.Context(), "k", "k@1")) // behind the layers' back: no message

	clk.Advance(time.Minute - time.Second)
	v, err = local.Fetch(t.Context(), "k")
	require.NoError(t, err)
	require.Equal(t, "k@0", v, "within MaxStale, the local copy may be served")
	clk.Advance(time.Second)
	v, err = local.Fetch(t.Context(), "k")
	require.NoError(t, err)
	require.Equal(t, "k@1", v, "past MaxStale, it is not")
}

func TestBusOverAnUnreachableServerServesReadsAndReportsPublishErrors(t *testing.T) {
	t.Parallel()
	b := offlineBus(t, nil)
	src := newVersions()
	local := pipeline.Cache("local", stores.NewMap[string, string](), nil)(
		redis.Coherent[string](b)(pipeline.Cache("shared", stores.NewMap[string, string](), nil)(src)))
	v, err := local.Fetch(t.Context(), "k")
	require.NoError(t, err)
	require.Equal(t, "k@0", v)

	src.bump("k")
	err = pipeline.Invalidate(t.Context(), local, "k")
	require.Error(t, err, "the publish failed, and the Invalidate says so")
	v, err = local.Fetch(t.Context(), "k")
	require.NoError(t, err)
	require.Equal(t, "k@1", v, "the layers of this instance were invalidated all the same")
	require.Error(t, pipeline.Clear(t.Context(), local))
	st := b.Stats()
	require.Equal(t, uint64(0), st.Published)
	require.GreaterOrEqual(t, st.PublishErrors, uint64(2))
	require.False(t, b.Healthy())
}

// TestCloseStopsEveryGoroutineOfTheBus runs alone (not in parallel), so
// that the goroutines it sees are its own.
func TestCloseStopsEveryGoroutineOfTheBus(t *testing.T) {
	srv := startServer(t)
	before := goleak.IgnoreCurrent()
	in := newInstance(t, srv.Addr, newVersions(), instanceOptions{bus: fastBeat})
	waitHealthy(t, in)
	require.Equal(t, "k@0", in.read(t, "k"))

	require.NoError(t, pipeline.Close(in.stack), "closing the outermost layer closes the bus")
	require.NoError(t, in.bus.Close(), "Close is idempotent")
	require.NoError(t, in.client.Close())
	goleak.VerifyNone(t, before, goleak.IgnoreAnyFunction(clock.TickerFunction))
	require.Equal(t, "k@0", in.read(t, "k"), "reads work after Close")
}

func TestBusAppliesAnotherInstancesInvalidationToEveryLocalLayer(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	src := newVersions()
	a := newInstance(t, srv.Addr, src, instanceOptions{bus: fastBeat})

	// b has a tree above its bus: its local layer, and a layer of
	// upper-case values keyed by ID, through a key mapper.
	client := newClient(t, srv.Addr)
	store := newStore(t, client, "bus", nil)
	seen := &observed{}
	bus, err := redis.NewBus(client, "bus", redis.StringKeys[string](), &redis.BusOptions[string]{
		Heartbeat: fastBeat.Heartbeat, MissedHeartbeats: fastBeat.MissedHeartbeats, Timeout: fastBeat.Timeout, Observer: seen,
	})
	require.NoError(t, err)
	shared := pipeline.Cache("redis", stores.Encoded(store, stores.JSON[string]()), nil)(src)
	local := pipeline.Cache("local", stores.NewMap[string, string](), nil)(redis.Coherent[string](bus)(shared))
	type ID struct{ Key string }
	upper := pipeline.Cache("upper", stores.NewMap[ID, string](), nil)(
		pipeline.Forward(middleware.MapKey[string](func(id ID) string { return id.Key })(local),
			func(ctx context.Context, id ID) (string, error) {
				v, err := local.Fetch(ctx, id.Key)
				return strings.ToUpper(v), err
			}))
	t.Cleanup(func() { require.NoError(t, pipeline.Close(upper)) })
	waitHealthy(t, a)
	require.Eventually(t, bus.Healthy, waitFor, 5*time.Millisecond)

	ctx := t.Context()
	require.Equal(t, "k@0", a.read(t, "k"))
	v, err := upper.Fetch(ctx, ID{"k"})
	require.NoError(t, err)
	require.Equal(t, "K@0", v)
	calls := src.calls.Load()

	src.bump("k")
	require.NoError(t, pipeline.Invalidate(ctx, a.stack, "k"))
	require.Eventually(t, func() bool { return bus.Stats().Applied == 1 }, waitFor, time.Millisecond)
	v, err = upper.Fetch(ctx, ID{"k"})
	require.NoError(t, err)
	require.Equal(t, "K@1", v, "the layer derived through the key mapper dropped its copy")
	v, err = local.Fetch(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "k@1", v)
	require.Equal(t, calls+1, src.calls.Load(), "one load of the new value, for the fleet")
	require.Equal(t, []string{"invalidated bus k"}, seen.strings(pipeline.Invalidated))
	require.Equal(t, uint64(1), a.bus.Stats().Published)
}

func TestBusAppliesARemoteInvalidationWithoutTouchingRedis(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	src := newVersions()
	in := newInstance(t, srv.Addr, src, instanceOptions{bus: fastBeat})
	waitHealthy(t, in)
	require.Equal(t, "k@0", in.read(t, "k"))
	src.bump("k") // behind everyone's back: Redis keeps k@0

	stranger := appendForeignInvalidation("k")
	_, err := srv.Do("PUBLISH", "bus", stranger)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return in.bus.Stats().Applied == 1 }, waitFor, time.Millisecond)
	require.Equal(t, 0, in.local.Len(), "the local copy was dropped")
	require.Equal(t, "k@0", in.read(t, "k"), "Redis still held the value: the bus did not touch it")
	require.Equal(t, int64(1), src.calls.Load())
}

// appendForeignInvalidation returns the message another instance would
// publish for key: magic, version, kind, an id of 8 bytes, the key.
func appendForeignInvalidation(key string) string {
	return "\xb8\x01I" + "\x00\x00\x00\x00\x00\x00\x00\x01" + key
}

func TestBusPassesAClearToOtherInstancesAndReloadsTheirStores(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	src := newVersions()
	a := newInstance(t, srv.Addr, src, instanceOptions{bus: fastBeat})
	b := newInstance(t, srv.Addr, src, instanceOptions{bus: fastBeat})
	waitHealthy(t, a, b)
	require.Equal(t, "k@0", b.read(t, "k"))
	require.Equal(t, "k@0", a.read(t, "k"))
	require.NoError(t, b.store.Reload(t.Context())) // b's generation is fresh for a second from now
	src.bump("k")

	require.NoError(t, pipeline.Clear(t.Context(), a.stack))
	require.Eventually(t, func() bool { return b.bus.Stats().Clears.Remote == 1 }, waitFor, time.Millisecond)
	require.Equal(t, "k@1", b.read(t, "k"), "b reads the new generation at once, not the old one's k@0")
	require.Equal(t, uint64(1), b.bus.Stats().Applied)
	require.Equal(t, uint64(0), a.bus.Stats().Clears.Remote, "a does not apply its own Clear again")
}

func TestBusClearsOnAMessageThatDoesNotDecode(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	src := newVersions()
	in := newInstance(t, srv.Addr, src, instanceOptions{bus: fastBeat})
	waitHealthy(t, in)
	tests := []struct {
		name, payload string
	}{
		{name: "garbage", payload: "garbage"},
		{name: "a later version", payload: "\xb8\x02C\x00\x00\x00\x00\x00\x00\x00\x01"},
	}
	for i, tt := range tests {
		require.Equal(t, "k@0", in.read(t, "k"), tt.name)
		require.Equal(t, 1, in.local.Len(), tt.name)
		_, err := srv.Do("PUBLISH", "bus", tt.payload)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return in.bus.Stats().DecodeErrors == uint64(i+1) }, waitFor, time.Millisecond, tt.name)
		require.Equal(t, uint64(i+1), in.bus.Stats().Clears.BadMessage, tt.name)
		require.Equal(t, 0, in.local.Len(), "%s: the local layer was cleared", tt.name)
	}
}

func TestBusWithIntegerKeysCarriesThemThroughTheChannel(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	src := pipeline.FetcherFunc[int64, string](func(_ context.Context, k int64) (string, error) { return "v", nil })
	build := func() (pipeline.Fetcher[int64, string], *redis.Bus[int64], *stores.Map[int64, string]) {
		client := newClient(t, srv.Addr)
		bus, err := redis.NewBus(client, "ints", redis.IntKeys[int64](), &redis.BusOptions[int64]{Heartbeat: 50 * time.Millisecond, Timeout: fastBeat.Timeout})
		require.NoError(t, err)
		shared := pipeline.Cache("shared", stores.NewMap[int64, string](), nil)(src)
		m := stores.NewMap[int64, string]()
		local := pipeline.Cache("local", m, nil)(redis.Coherent[string](bus)(shared))
		t.Cleanup(func() { require.NoError(t, pipeline.Close(local)) })
		return local, bus, m
	}
	a, _, _ := build()
	b, bbus, bmap := build()
	require.Eventually(t, bbus.Healthy, waitFor, 5*time.Millisecond)
	_, err := b.Fetch(t.Context(), -42)
	require.NoError(t, err)
	require.NoError(t, pipeline.Invalidate(t.Context(), a, -42))
	require.Eventually(t, func() bool { return bbus.Stats().Applied == 1 }, waitFor, time.Millisecond)
	_, ok, _ := bmap.Get(t.Context(), -42)
	require.False(t, ok)
}

// observed collects a bus's events.
type observed struct {
	mu  sync.Mutex
	got []pipeline.Event[string]
}

func (o *observed) Observe(_ context.Context, e pipeline.Event[string]) {
	o.mu.Lock()
	o.got = append(o.got, e)
	o.mu.Unlock()
}

// strings returns the events of kind, as strings.
func (o *observed) strings(kind pipeline.EventKind) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var s []string
	for _, e := range o.got {
		if e.Kind == kind {
			s = append(s, e.String())
		}
	}
	return s
}
