package otter_test

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
	"github.com/multilayer-cache/multilayer/stores/otter"
)

func TestConstructorsRejectBadSettings(t *testing.T) {
	t.Parallel()
	bytes := func(string, string) uint32 { return 1 }
	for _, tc := range []struct {
		name string
		new  func() error
		want error // nil: no error
	}{
		{name: "New size 1", new: func() error { _, err := otter.New[string, string](1, nil); return err }},
		{name: "New all options", new: func() error {
			_, err := otter.New[string, string](1, &otter.Options{Grace: time.Hour, Clock: time.Now, InitialCapacity: 10})
			return err
		}},
		{name: "New size 0", want: stores.ErrInvalidSize, new: func() error { _, err := otter.New[string, string](0, nil); return err }},
		{name: "New size -1", want: stores.ErrInvalidSize, new: func() error { _, err := otter.New[string, string](-1, nil); return err }},
		{name: "New Grace -1ns", want: stores.ErrInvalidOption, new: func() error {
			_, err := otter.New[string, string](1, &otter.Options{Grace: -1})
			return err
		}},
		{name: "New InitialCapacity -1", want: stores.ErrInvalidOption, new: func() error {
			_, err := otter.New[string, string](1, &otter.Options{InitialCapacity: -1})
			return err
		}},
		{name: "NewWeighted 1", new: func() error { _, err := otter.NewWeighted(1, bytes, nil); return err }},
		{name: "NewWeighted 0", want: stores.ErrInvalidSize, new: func() error { _, err := otter.NewWeighted(0, bytes, nil); return err }},
		{name: "NewWeighted -1", want: stores.ErrInvalidSize, new: func() error { _, err := otter.NewWeighted(-1, bytes, nil); return err }},
		{name: "NewWeighted nil weigher", want: stores.ErrInvalidOption, new: func() error {
			_, err := otter.NewWeighted[string, string](10, nil, nil)
			return err
		}},
		{name: "NewWeighted Grace -1ns", want: stores.ErrInvalidOption, new: func() error {
			_, err := otter.NewWeighted(10, bytes, &otter.Options{Grace: -1})
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
			require.Regexp(t, `^stores/otter: `, err.Error())
		})
	}
}

func TestNewLeavesOptionsAlone(t *testing.T) {
	t.Parallel()
	opts := &otter.Options{Grace: time.Second}
	_, err := otter.New[string, int](1, opts)
	require.NoError(t, err)
	require.Equal(t, otter.Options{Grace: time.Second}, *opts)
}

// TestStoreContract checks what every store shares: get, set, replace,
// delete, clear, batches.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := mustNew[string, string](t, 1000, nil)

	v, ok, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.False(t, ok, "empty store")
	require.Empty(t, v)
	_, ok, err = s.GetEntry(ctx, "a")
	require.NoError(t, err)
	require.False(t, ok)

	future := time.Now().Add(time.Hour)
	require.NoError(t, s.Set(ctx, "a", "1"))
	require.NoError(t, s.SetEntry(ctx, "b", pipeline.Entry[string]{Value: "2", Expires: future}))
	require.Equal(t, 2, s.Len())
	v, ok, err = s.Get(ctx, "a")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "1", v)
	e, ok, err := s.GetEntry(ctx, "b")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "2", e.Value)
	require.True(t, e.Expires.Equal(future), "Expires comes back as set")
	e, _, _ = s.GetEntry(ctx, "a")
	require.True(t, e.Expires.IsZero(), "Set: an unknown lifetime")

	require.NoError(t, s.Set(ctx, "a", "1b"), "Set replaces")
	v, _, _ = s.Get(ctx, "a")
	require.Equal(t, "1b", v)

	keys := []string{"a", "x", "b", "a"}
	out := make([]pipeline.Result[string], len(keys))
	s.GetBatch(ctx, keys, out)
	require.Equal(t, "1b", out[0].Value)
	require.NoError(t, out[0].Err)
	require.ErrorIs(t, out[1].Err, pipeline.ErrNotFound)
	require.Equal(t, "2", out[2].Value)
	require.True(t, out[2].Expires.Equal(future))
	require.Equal(t, "1b", out[3].Value)

	require.NoError(t, s.SetBatch(ctx, []string{"c", "d", "c"},
		[]pipeline.Entry[string]{{Value: "3"}, {Value: "4"}, {Value: "3b"}}))
	v, _, _ = s.Get(ctx, "c")
	require.Equal(t, "3b", v, "the last of a repeated key wins")

	require.NoError(t, s.Delete(ctx, "a"))
	require.NoError(t, s.Delete(ctx, "never"), "deleting an absent key is fine")
	_, ok, _ = s.Get(ctx, "a")
	require.False(t, ok)
	require.Equal(t, 3, s.Len())

	require.NoError(t, s.Clear(ctx))
	require.Zero(t, s.Len())
	_, ok, _ = s.GetEntry(ctx, "b")
	require.False(t, ok)

	require.Panics(t, func() { s.GetBatch(ctx, keys, out[:1]) })
	require.Panics(t, func() { _ = s.SetBatch(ctx, keys, nil) })
}

// An entry leaves when its Expires has passed; a zero Expires never does.
// With Grace, GetEntry returns it until Grace after its Expires (for
// stale-if-error), while Get reports it missing at once.
func TestEntriesExpireByTheirExpires(t *testing.T) {
	t.Parallel()
	for _, grace := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprint("grace ", grace), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clock := testkit.NewClock()
			s := mustNew[string, string](t, 100, &otter.Options{Clock: clock.Now, Grace: grace})
			start := clock.Now()
			require.NoError(t, s.SetEntry(ctx, "short", pipeline.Entry[string]{Value: "s", Expires: start.Add(time.Second)}))
			require.NoError(t, s.SetEntry(ctx, "long", pipeline.Entry[string]{Value: "l", Expires: start.Add(time.Hour)}))
			require.NoError(t, s.Set(ctx, "forever", "f"))
			require.NoError(t, s.SetEntry(ctx, "past", pipeline.Entry[string]{Value: "p", Expires: start.Add(-time.Second)}))

			_, ok, _ := s.Get(ctx, "past")
			require.False(t, ok, "set expired: Get misses")
			_, ok, _ = s.GetEntry(ctx, "past")
			require.Equal(t, grace > 0, ok, "set expired: GetEntry returns it within Grace")

			clock.Advance(time.Second - 1)
			v, ok, _ := s.Get(ctx, "short")
			require.True(t, ok, "a nanosecond before Expires")
			require.Equal(t, "s", v)

			clock.Advance(1)
			_, ok, _ = s.Get(ctx, "short")
			require.False(t, ok, "at Expires, Get misses")
			e, ok, _ := s.GetEntry(ctx, "short")
			require.Equal(t, grace > 0, ok, "at Expires, GetEntry returns it within Grace")
			if ok {
				require.True(t, e.Expires.Equal(start.Add(time.Second)))
			}

			clock.Advance(grace)
			_, ok, _ = s.GetEntry(ctx, "short")
			require.False(t, ok, "Grace after Expires, it is gone")
			out := make([]pipeline.Result[string], 1)
			s.GetBatch(ctx, []string{"short"}, out)
			require.ErrorIs(t, out[0].Err, pipeline.ErrNotFound)

			clock.Advance(100 * 365 * 24 * time.Hour)
			_, ok, _ = s.Get(ctx, "long")
			require.False(t, ok)
			v, ok, _ = s.Get(ctx, "forever")
			require.True(t, ok, "a zero Expires never expires")
			require.Equal(t, "f", v)
			s.CleanUp()
			require.Equal(t, 1, s.Len(), "expired entries leave in maintenance")
		})
	}
}

// An Expires beyond what Unix nanoseconds hold comes back clamped; one
// far in the past is expired.
func TestExtremeExpires(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := mustNew[string, string](t, 100, &otter.Options{Grace: time.Hour})
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, s.SetEntry(ctx, "far", pipeline.Entry[string]{Value: "v", Expires: far}))
	e, ok, _ := s.GetEntry(ctx, "far")
	require.True(t, ok)
	require.True(t, e.Expires.Equal(time.Unix(0, math.MaxInt64)))
	require.NoError(t, s.SetEntry(ctx, "old", pipeline.Entry[string]{Value: "v", Expires: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)}))
	_, ok, _ = s.GetEntry(ctx, "old")
	require.False(t, ok)
	require.NoError(t, s.SetEntry(ctx, "epoch", pipeline.Entry[string]{Value: "v", Expires: time.Unix(0, 0)}))
	_, ok, _ = s.Get(ctx, "epoch")
	require.False(t, ok, "the instant 0 is an expiry, not an unknown lifetime")
}

// Fills past capacity report exactly the entries that left, once the store
// has settled (CleanUp): each with its key, refused ones included.
func TestFillsPastCapacityReportEachEviction(t *testing.T) {
	t.Parallel()
	const size = 100
	for _, fills := range []int{151, 5000} {
		t.Run(strconv.Itoa(fills), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := mustNew[string, string](t, size, nil)
			var ev testkit.Evictions
			s.Notify(ev.Notify)
			keys := make([]string, fills)
			for i := range keys {
				keys[i] = "k" + strconv.Itoa(i)
				require.NoError(t, s.Set(ctx, keys[i], keys[i]))
			}
			s.CleanUp()

			got := ev.Keys()
			held := s.Len()
			require.LessOrEqual(t, held, size)
			require.Len(t, got, fills-held)
			require.Equal(t, pipeline.Usage{Entries: held, Capacity: size}, s.Usage())
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

// Replacing, deleting, clearing and expiring are not evictions.
func TestReplaceDeleteClearAndExpiryAreNotEvictions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := testkit.NewClock()
	s := mustNew[string, string](t, 10, &otter.Options{Clock: clock.Now})
	var ev testkit.Evictions
	s.Notify(ev.Notify)
	for i := range 30 {
		k := strconv.Itoa(i % 5)
		require.NoError(t, s.SetEntry(ctx, k, pipeline.Entry[string]{Value: k, Expires: clock.Now().Add(time.Minute)}))
	}
	require.NoError(t, s.Delete(ctx, "0"))
	clock.Advance(time.Hour)
	s.CleanUp()
	require.Zero(t, s.Len(), "expired")
	require.NoError(t, s.Set(ctx, "a", "a"))
	require.NoError(t, s.Clear(ctx))
	s.CleanUp()
	require.Empty(t, ev.Keys())
}

// A weighted store keeps its entries within its budget and reports what it
// evicts; a value heavier than the whole budget is not stored, drops the
// key's old value, and is reported.
func TestWeightedStoreKeepsItsBudget(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := otter.NewWeighted(100, func(_ string, v []byte) uint32 { return uint32(len(v)) }, nil)
	require.NoError(t, err)
	var ev testkit.Evictions
	s.Notify(ev.Notify)

	require.NoError(t, s.Set(ctx, "big", make([]byte, 100)), "as heavy as the budget: stored")
	s.CleanUp()
	_, ok, _ := s.Get(ctx, "big")
	require.True(t, ok)
	require.Equal(t, pipeline.Usage{Entries: 1, Bytes: 100, MaxBytes: 100}, s.Usage())

	require.NoError(t, s.Set(ctx, "big", make([]byte, 101)), "heavier than the budget: refused, not an error")
	_, ok, _ = s.Get(ctx, "big")
	require.False(t, ok, "the old value is dropped too")
	require.Equal(t, []string{"big"}, ev.Keys())
	require.NoError(t, s.SetBatch(ctx, []string{"huge"}, []pipeline.Entry[[]byte]{{Value: make([]byte, 1000)}}))
	require.Equal(t, []string{"big", "huge"}, ev.Keys())

	for i := range 50 {
		require.NoError(t, s.Set(ctx, strconv.Itoa(i), make([]byte, 10)))
	}
	s.CleanUp()
	u := s.Usage()
	require.LessOrEqual(t, u.Bytes, int64(100))
	require.Equal(t, int64(10*u.Entries), u.Bytes)
	require.Len(t, ev.Keys(), 2+50-u.Entries)
}

// pair is a struct key that holds an interface.
type pair struct {
	a string
	b any
}

// A key that cannot be hashed, or is not equal to itself, is an error
// wrapping pipeline.ErrInvalidKey for its caller alone.
func TestInvalidKeyIsAnErrorForItsCaller(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := mustNew[any, string](t, 100, nil)
	for name, bad := range map[string]any{
		"slice": []int{1}, "map in a struct": pair{"x", map[int]int{}},
		"NaN": math.NaN(), "NaN in a struct": pair{"x", math.NaN()}, "NaN in an array": [1]float64{math.NaN()},
	} {
		for op, call := range map[string]func() error{
			"Get":      func() error { _, _, err := s.Get(ctx, bad); return err },
			"GetEntry": func() error { _, _, err := s.GetEntry(ctx, bad); return err },
			"Set":      func() error { return s.Set(ctx, bad, "v") },
			"SetEntry": func() error { return s.SetEntry(ctx, bad, pipeline.Entry[string]{Value: "v"}) },
			"Delete":   func() error { return s.Delete(ctx, bad) },
		} {
			require.ErrorIs(t, call(), pipeline.ErrInvalidKey, "%s %s", op, name)
		}
		keys := []any{"a", bad}
		require.ErrorIs(t, s.SetBatch(ctx, keys, []pipeline.Entry[string]{{Value: "A"}, {Value: "X"}}), pipeline.ErrInvalidKey)
		out := make([]pipeline.Result[string], 2)
		s.GetBatch(ctx, keys, out)
		require.Equal(t, "A", out[0].Value, "the valid key was stored")
		require.ErrorIs(t, out[1].Err, pipeline.ErrInvalidKey)
		require.Equal(t, 1, s.Len(), name)
	}
	require.NoError(t, s.Set(ctx, pair{"p", 1}, "ok"), "an interface holding a valid key is fine")
}

// 200k fetches of NaN keys leave the store and the heap as they were. Not
// parallel: it measures the heap.
func TestNaNKeysLeakNothing(t *testing.T) {
	ctx := t.Context()
	s := mustNew[float64, string](t, 16, nil)
	before := testkit.HeapInUse()
	nan := math.NaN()
	for range 200_000 {
		if _, _, err := s.Get(ctx, nan); !errors.Is(err, pipeline.ErrInvalidKey) {
			t.Fatal(err)
		}
		if err := s.Set(ctx, nan, "v"); !errors.Is(err, pipeline.ErrInvalidKey) {
			t.Fatal(err)
		}
	}
	grown := int64(testkit.HeapInUse()) - int64(before)
	require.Less(t, grown, int64(256<<10), "the heap grew by %d bytes", grown)
	require.Zero(t, s.Len())
}

// TestConcurrent is a smoke test for the race detector.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := mustNew[string, string](t, 8, &otter.Options{Grace: time.Millisecond})
	var n sync.Map
	s.Notify(func(e pipeline.StoreEvent[string]) { n.Store(e.Key, true) })
	const workers, rounds = 8, 500
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				k := strconv.Itoa(i % 32)
				var err error
				switch (w + i) % 6 {
				case 0:
					err = s.Set(ctx, k, k)
				case 1:
					err = s.SetEntry(ctx, k, pipeline.Entry[string]{Value: k, Expires: time.Now().Add(time.Duration(i%3-1) * time.Millisecond)})
				case 2:
					if v, ok, e := s.Get(ctx, k); e != nil || ok && v != k {
						err = fmt.Errorf("Get(%s) = %s, %v", k, v, e)
					}
				case 3:
					err = s.Delete(ctx, k)
				case 4:
					out := make([]pipeline.Result[string], 2)
					s.GetBatch(ctx, []string{k, "x"}, out)
					if out[0].Err == nil && out[0].Value != k {
						err = fmt.Errorf("GetBatch(%s) = %s", k, out[0].Value)
					}
				case 5:
					_ = s.Usage()
					if i%100 == 0 {
						err = s.Clear(ctx)
					}
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
}
