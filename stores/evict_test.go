package stores_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// boundedStore is what every bounded stock store offers.
type boundedStore interface {
	sizedStore
	pipeline.Notifier[string]
	pipeline.Meter
}

// boundedStores returns one case per bounded store, each of capacity size.
func boundedStores(size int) []struct {
	name string
	new  func(t *testing.T) boundedStore
} {
	return []struct {
		name string
		new  func(t *testing.T) boundedStore
	}{
		{name: "LRU", new: func(t *testing.T) boundedStore { return mustLRU[string, string](t, size) }},
		{name: "LRU by reference", new: func(t *testing.T) boundedStore {
			return docStore{mustLRU[string, benchDoc](t, size)}
		}},
		{name: "TTL", new: func(t *testing.T) boundedStore { return mustTTL[string, string](t, size, time.Hour, nil) }},
		{name: "2Q", new: func(t *testing.T) boundedStore { return mustTwoQueue[string, string](t, size) }},
		{name: "ARC", new: func(t *testing.T) boundedStore { return mustARC[string, string](t, size) }},
	}
}

// docStore stores strings as benchDocs, which an LRU holds by reference.
type docStore struct{ *stores.LRU[string, benchDoc] }

func (s docStore) Get(ctx context.Context, k string) (string, bool, error) {
	d, ok, err := s.LRU.Get(ctx, k)
	return d.Value, ok, err
}

func (s docStore) GetEntry(ctx context.Context, k string) (pipeline.Entry[string], bool, error) {
	e, ok, err := s.LRU.GetEntry(ctx, k)
	return pipeline.Entry[string]{Value: e.Value.Value, Expires: e.Expires}, ok, err
}

func (s docStore) GetBatch(ctx context.Context, keys []string, out []pipeline.Result[string]) {
	docs := make([]pipeline.Result[benchDoc], len(keys))
	s.LRU.GetBatch(ctx, keys, docs)
	for i, r := range docs {
		out[i] = pipeline.Result[string]{Entry: pipeline.Entry[string]{Value: r.Value.Value, Expires: r.Expires}, Err: r.Err}
	}
}

func (s docStore) Set(ctx context.Context, k, v string) error {
	return s.LRU.Set(ctx, k, benchDoc{k, v})
}

func (s docStore) SetEntry(ctx context.Context, k string, e pipeline.Entry[string]) error {
	return s.LRU.SetEntry(ctx, k, pipeline.Entry[benchDoc]{Value: benchDoc{k, e.Value}, Expires: e.Expires})
}

func (s docStore) SetBatch(ctx context.Context, keys []string, entries []pipeline.Entry[string]) error {
	docs := make([]pipeline.Entry[benchDoc], len(entries))
	for i, e := range entries {
		docs[i] = pipeline.Entry[benchDoc]{Value: benchDoc{keys[i], e.Value}, Expires: e.Expires}
	}
	return s.LRU.SetBatch(ctx, keys, docs)
}

// 151 fills into a store of 100 report exactly 51 evictions, each with the
// key of an entry that left; the store is full, and says so.
func TestFillsPastCapacityReportEachEviction(t *testing.T) {
	t.Parallel()
	const size, fills = 100, 151
	for _, sc := range boundedStores(size) {
		for _, how := range []string{"Set", "SetEntry", "SetBatch"} {
			t.Run(sc.name+"/"+how, func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				s := sc.new(t)
				var ev testkit.Evictions
				s.Notify(ev.Notify)
				keys := make([]string, fills)
				for i := range keys {
					keys[i] = "k" + strconv.Itoa(i)
				}
				switch how {
				case "Set":
					for _, k := range keys {
						require.NoError(t, s.Set(ctx, k, k))
					}
				case "SetEntry":
					for _, k := range keys {
						require.NoError(t, s.SetEntry(ctx, k, pipeline.Entry[string]{Value: k, Expires: time.Now().Add(time.Hour)}))
					}
				case "SetBatch":
					entries := make([]pipeline.Entry[string], fills)
					for i, k := range keys {
						entries[i] = pipeline.Entry[string]{Value: k}
					}
					require.NoError(t, s.SetBatch(ctx, keys, entries))
				}

				got := ev.Keys()
				require.Len(t, got, fills-size)
				require.Equal(t, pipeline.Usage{Entries: size, Capacity: size}, s.Usage())
				evicted := make(map[string]bool)
				for _, k := range got {
					require.False(t, evicted[k], "%s reported twice", k)
					evicted[k] = true
				}
				for _, k := range keys {
					_, ok, err := s.GetEntry(ctx, k)
					require.NoError(t, err)
					require.Equal(t, !evicted[k], ok, "key %s: held unless reported evicted", k)
				}
			})
		}
	}
}

// Replacing a key, deleting it and clearing the store are not evictions.
func TestReplaceDeleteAndClearAreNotEvictions(t *testing.T) {
	t.Parallel()
	for _, sc := range boundedStores(3) {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := sc.new(t)
			var ev testkit.Evictions
			s.Notify(ev.Notify)
			for _, k := range []string{"a", "b", "c", "a", "b", "c"} {
				require.NoError(t, s.Set(ctx, k, k))
			}
			require.Equal(t, pipeline.Usage{Entries: 3, Capacity: 3}, s.Usage())
			require.NoError(t, s.Delete(ctx, "a"))
			require.Equal(t, pipeline.Usage{Entries: 2, Capacity: 3}, s.Usage())
			require.NoError(t, s.Set(ctx, "d", "d"), "fills the slot a left")
			require.NoError(t, s.Clear(ctx))
			require.Equal(t, pipeline.Usage{Capacity: 3}, s.Usage())
			require.Empty(t, ev.Keys())

			s.Notify(nil)
			for _, k := range []string{"a", "b", "c", "d", "e"} {
				require.NoError(t, s.Set(ctx, k, k), "a nil function stops the reports")
			}
			require.Empty(t, ev.Keys())
		})
	}
}

// An entry a TTL drops because it expired is not an eviction.
func TestTTLExpiryIsNotAnEviction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := testkit.NewClock()
	s := mustTTL[string, string](t, 2, time.Minute, &stores.TTLOptions{Clock: clock.Now})
	var ev testkit.Evictions
	s.Notify(ev.Notify)
	require.NoError(t, s.Set(ctx, "a", "a"))
	clock.Advance(time.Hour)
	_, ok, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.False(t, ok)
	require.Zero(t, s.Len(), "dropped on read")
	require.NoError(t, s.Set(ctx, "b", "b"))
	require.NoError(t, s.Set(ctx, "c", "c"))
	require.Empty(t, ev.Keys())
}

// Under a random mix of writes, reads and deletes, the keys a store holds
// are exactly the keys written, less those deleted and those it reported
// evicted: no eviction goes unreported, and none is reported twice.
func TestEvictionReportsAccountForEveryKey(t *testing.T) {
	t.Parallel()
	for _, sc := range boundedStores(8) {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := sc.new(t)
			held := make(map[string]bool)
			var lost []string // evicted keys that were not held
			s.Notify(func(e pipeline.StoreEvent[string]) {
				if !held[e.Key] {
					lost = append(lost, e.Key)
				}
				delete(held, e.Key)
			})
			rng := rand.New(rand.NewPCG(1, uint64(len(sc.name))))
			for i := range 20_000 {
				k := strconv.Itoa(int(rng.Uint64N(64)))
				switch op := rng.IntN(10); {
				case op < 5:
					held[k] = true // a Set evicts other keys, never its own
					require.NoError(t, s.Set(ctx, k, k))
				case op < 9:
					_, _, err := s.Get(ctx, k)
					require.NoError(t, err)
				default:
					require.NoError(t, s.Delete(ctx, k))
					delete(held, k)
				}
				if i%1000 == 0 {
					require.Equal(t, len(held), s.Len(), "step %d", i)
				}
			}
			require.Empty(t, lost, "reported evicted but not held")
			require.LessOrEqual(t, s.Len(), 8)
			for k := range 64 {
				_, ok, err := s.GetEntry(ctx, strconv.Itoa(k))
				require.NoError(t, err)
				require.Equal(t, held[strconv.Itoa(k)], ok, "key %d", k)
			}
		})
	}
}
