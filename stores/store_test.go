package stores_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// Every store is a BatchStore with Len and Clear.
var (
	_ sizedStore = (*stores.Map[string, string])(nil)
	_ sizedStore = (*stores.LRU[string, string])(nil)
	_ sizedStore = (*stores.TTL[string, string])(nil)
)

func TestConstructorErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		new  func() error
		want error // nil: no error
	}{
		{name: "LRU size 1", new: func() error { _, err := stores.NewLRU[string, int](1); return err }},
		{name: "LRU size 0", want: stores.ErrInvalidSize, new: func() error { _, err := stores.NewLRU[string, int](0); return err }},
		{name: "LRU size -1", want: stores.ErrInvalidSize, new: func() error { _, err := stores.NewLRU[string, int](-1); return err }},
		{name: "TTL defaults", new: func() error { _, err := stores.NewTTL[string, int](1, time.Second, nil); return err }},
		{name: "TTL zero options", new: func() error { _, err := stores.NewTTL[string, int](1, time.Second, &stores.TTLOptions{}); return err }},
		{name: "TTL all options", new: func() error {
			_, err := stores.NewTTL[string, int](1, time.Second, &stores.TTLOptions{Clock: time.Now, Jitter: 0.99, Grace: time.Hour})
			return err
		}},
		{name: "TTL size 0", want: stores.ErrInvalidSize, new: func() error { _, err := stores.NewTTL[string, int](0, time.Second, nil); return err }},
		{name: "TTL size -5", want: stores.ErrInvalidSize, new: func() error { _, err := stores.NewTTL[string, int](-5, time.Second, nil); return err }},
		{name: "TTL ttl 0", want: stores.ErrInvalidTTL, new: func() error { _, err := stores.NewTTL[string, int](1, 0, nil); return err }},
		{name: "TTL ttl -1s", want: stores.ErrInvalidTTL, new: func() error { _, err := stores.NewTTL[string, int](1, -time.Second, nil); return err }},
		{name: "TTL jitter -0.1", want: stores.ErrInvalidOption, new: func() error {
			_, err := stores.NewTTL[string, int](1, time.Second, &stores.TTLOptions{Jitter: -0.1})
			return err
		}},
		{name: "TTL jitter 1", want: stores.ErrInvalidOption, new: func() error {
			_, err := stores.NewTTL[string, int](1, time.Second, &stores.TTLOptions{Jitter: 1})
			return err
		}},
		{name: "TTL jitter NaN", want: stores.ErrInvalidOption, new: func() error {
			_, err := stores.NewTTL[string, int](1, time.Second, &stores.TTLOptions{Jitter: math.NaN()})
			return err
		}},
		{name: "TTL grace -1ns", want: stores.ErrInvalidOption, new: func() error {
			_, err := stores.NewTTL[string, int](1, time.Second, &stores.TTLOptions{Grace: -1})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.new()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.Regexp(t, `^stores: `, err.Error())
		})
	}
}

func TestNewTTLLeavesOptionsAlone(t *testing.T) {
	t.Parallel()
	opts := &stores.TTLOptions{Jitter: 0.1}
	before := *opts
	_, err := stores.NewTTL[string, int](1, time.Second, opts)
	require.NoError(t, err)
	require.Nil(t, opts.Clock, "the default clock is not written into the caller's options")
	require.Equal(t, before.Jitter, opts.Jitter)
	require.Equal(t, before.Grace, opts.Grace)
}

// TestStoreContract checks the behaviour every store shares.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	for _, sc := range allStores() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := sc.new(t, time.Now)

			v, ok, err := s.Get(ctx, "a")
			require.NoError(t, err)
			require.False(t, ok, "empty store")
			require.Empty(t, v)
			_, ok, err = s.GetEntry(ctx, "a")
			require.NoError(t, err)
			require.False(t, ok)

			require.NoError(t, s.Set(ctx, "a", "1"))
			require.NoError(t, s.SetEntry(ctx, "b", pipeline.Entry[string]{Value: "2", Expires: time.Now().Add(time.Minute)}))
			require.Equal(t, 2, s.Len())

			v, ok, err = s.Get(ctx, "a")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "1", v)
			e, ok, err := s.GetEntry(ctx, "b")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "2", e.Value)

			require.NoError(t, s.Set(ctx, "a", "1b"), "Set replaces")
			v, _, _ = s.Get(ctx, "a")
			require.Equal(t, "1b", v)

			require.NoError(t, s.Delete(ctx, "a"))
			require.NoError(t, s.Delete(ctx, "never"), "deleting an absent key is fine")
			_, ok, _ = s.Get(ctx, "a")
			require.False(t, ok)
			require.Equal(t, 1, s.Len())

			require.NoError(t, s.Clear(ctx))
			require.Zero(t, s.Len())
			_, ok, _ = s.GetEntry(ctx, "b")
			require.False(t, ok)
		})
	}
}

// TestExpiryMapLRU checks that Map, LRU, 2Q and ARC keep entries as they are: Get
// hides an expired one, GetEntry returns it for the cache layer to judge.
func TestExpiryMapLRU(t *testing.T) {
	t.Parallel()
	past := time.Now().Add(-time.Minute)
	future := time.Now().Add(time.Hour)
	for _, sc := range keepingStores() {
		for _, tc := range []struct {
			name    string
			expires time.Time
			wantGet bool
		}{
			{name: "unknown lifetime", expires: time.Time{}, wantGet: true},
			{name: "fresh", expires: future, wantGet: true},
			{name: "expired", expires: past, wantGet: false},
		} {
			t.Run(sc.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				s := sc.new(t, time.Now)
				require.NoError(t, s.SetEntry(ctx, "k", pipeline.Entry[string]{Value: "v", Expires: tc.expires}))

				v, ok, err := s.Get(ctx, "k")
				require.NoError(t, err)
				require.Equal(t, tc.wantGet, ok)
				if ok {
					require.Equal(t, "v", v)
				} else {
					require.Empty(t, v)
				}

				e, ok, err := s.GetEntry(ctx, "k")
				require.NoError(t, err)
				require.True(t, ok, "GetEntry returns the entry as stored, expired or not")
				require.Equal(t, "v", e.Value)
				require.True(t, e.Expires.Equal(tc.expires))
				require.Equal(t, 1, s.Len(), "nothing is dropped")
			})
		}
	}
}

func TestLRUEviction(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		touch func(ctx context.Context, s sizedStore) // between filling a, b, c and adding d
		gone  string
	}{
		{name: "oldest goes", touch: func(context.Context, sizedStore) {}, gone: "a"},
		{name: "Get is a use", touch: func(ctx context.Context, s sizedStore) { _, _, _ = s.Get(ctx, "a") }, gone: "b"},
		{name: "GetEntry is a use", touch: func(ctx context.Context, s sizedStore) { _, _, _ = s.GetEntry(ctx, "a") }, gone: "b"},
		{name: "Set is a use", touch: func(ctx context.Context, s sizedStore) { _ = s.Set(ctx, "a", "a") }, gone: "b"},
		{name: "GetBatch is a use", touch: func(ctx context.Context, s sizedStore) { getBatch(ctx, s, "a") }, gone: "b"},
		{name: "GetBatch of an absent key is none", touch: func(ctx context.Context, s sizedStore) { getBatch(ctx, s, "x") }, gone: "a"},
		{name: "SetBatch is a use", touch: func(ctx context.Context, s sizedStore) {
			_ = s.SetBatch(ctx, []string{"a"}, []pipeline.Entry[string]{{Value: "a"}})
		}, gone: "b"},
		{name: "Delete frees a slot", touch: func(ctx context.Context, s sizedStore) { _ = s.Delete(ctx, "c") }, gone: "c"},
	} {
		for _, store := range []struct {
			name string
			new  func(t *testing.T) sizedStore
		}{
			{name: "LRU", new: func(t *testing.T) sizedStore { return mustLRU[string, string](t, 3) }},
			{name: "TTL", new: func(t *testing.T) sizedStore { return mustTTL[string, string](t, 3, time.Hour, nil) }},
		} {
			t.Run(store.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				s := store.new(t)
				for _, k := range []string{"a", "b", "c"} {
					require.NoError(t, s.Set(ctx, k, k))
				}
				tc.touch(ctx, s)
				require.NoError(t, s.Set(ctx, "d", "d"))
				require.Equal(t, 3, s.Len())
				for _, k := range []string{"a", "b", "c", "d"} {
					_, ok, err := s.GetEntry(ctx, k)
					require.NoError(t, err)
					require.Equal(t, k != tc.gone, ok, "key %s", k)
				}
			})
		}
	}
}

// TestConcurrent is a smoke test for the race detector: many goroutines
// read, write and delete overlapping keys, one by one and in batches.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	cases := allStores()
	cases = append(cases,
		storeCase{name: "small LRU", new: func(t *testing.T, _ func() time.Time) sizedStore { return mustLRU[string, string](t, 8) }},
		storeCase{name: "short TTL", new: func(t *testing.T, _ func() time.Time) sizedStore {
			return mustTTL[string, string](t, 8, time.Microsecond, &stores.TTLOptions{Jitter: 0.5, Grace: time.Microsecond})
		}},
		storeCase{name: "Encoded Map", new: func(*testing.T, func() time.Time) sizedStore {
			raw := stores.NewMap[string, []byte]()
			return lenStore{stores.Encoded(raw, stringCodec{}).(pipeline.BatchStore[string, string]), raw.Len}
		}},
	)
	for _, sc := range cases {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := sc.new(t, time.Now)
			const workers, rounds = 8, 500
			errs := make([]error, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range rounds {
						k := strconv.Itoa(i % 16)
						var err error
						switch (w + i) % 8 {
						case 0:
							err = s.Set(ctx, k, k)
						case 1:
							err = s.SetEntry(ctx, k, pipeline.Entry[string]{Value: k, Expires: time.Now().Add(time.Duration(i%3-1) * time.Second)})
						case 2:
							var v string
							var ok bool
							if v, ok, err = s.Get(ctx, k); err == nil && ok && v != k {
								err = fmt.Errorf("Get(%s) = %s", k, v)
							}
						case 3:
							var e pipeline.Entry[string]
							var ok bool
							if e, ok, err = s.GetEntry(ctx, k); err == nil && ok && e.Value != k {
								err = fmt.Errorf("GetEntry(%s) = %s", k, e.Value)
							}
						case 4:
							err = s.Delete(ctx, k)
						case 5:
							_ = s.Len()
							if i%100 == 0 {
								err = s.Clear(ctx)
							}
						case 6:
							keys := []string{k, strconv.Itoa((i + 1) % 16), k}
							out := make([]pipeline.Result[string], len(keys))
							s.GetBatch(ctx, keys, out)
							for j, r := range out {
								if r.Err == nil && r.Value != keys[j] {
									err = fmt.Errorf("GetBatch(%s) = %s", keys[j], r.Value)
								} else if r.Err != nil && !errors.Is(r.Err, pipeline.ErrNotFound) {
									err = r.Err
								}
							}
						case 7:
							k2 := strconv.Itoa((i + 5) % 16)
							err = s.SetBatch(ctx, []string{k, k2}, []pipeline.Entry[string]{
								{Value: k},
								{Value: k2, Expires: time.Now().Add(time.Duration(i%3-1) * time.Second)},
							})
						}
						if err != nil {
							errs[w] = err
							return
						}
					}
				})
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
		})
	}
}

// TestConcurrentMixedOperations hammers every store with mixed operations on
// few keys, with expiring entries, under -race.
func TestConcurrentMixedOperations(t *testing.T) {
	t.Parallel()
	for _, sc := range allStores() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := sc.new(t, time.Now)
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 500 {
						k := strconv.Itoa(i % 7)
						switch (g + i) % 6 {
						case 0:
							_ = s.Set(ctx, k, k)
						case 1:
							_ = s.SetEntry(ctx, k, pipeline.Entry[string]{Value: k, Expires: time.Now().Add(-time.Second)})
						case 2:
							if v, ok, _ := s.Get(ctx, k); ok && v != k {
								panic("wrong value " + v + " for " + k)
							}
						case 3:
							if e, ok, _ := s.GetEntry(ctx, k); ok && e.Value != k {
								panic("wrong value " + e.Value + " for " + k)
							}
						case 4:
							_ = s.Delete(ctx, k)
						case 5:
							if i%50 == 0 {
								_ = s.Clear(ctx)
							}
							_ = s.Len()
						}
					}
				})
			}
			wg.Wait()
		})
	}
}
