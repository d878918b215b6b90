package stores_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// TestReviewExpiryBoundary: Get treats an entry as expired from its Expires
// on (not after), by time.Now for Map and LRU and by the injected clock for
// TTL; GetEntry keeps returning it as set (TTL: until Grace has passed).
func TestReviewExpiryBoundary(t *testing.T) {
	t.Parallel()
	t.Run("Map and LRU by time.Now", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			ctx := t.Context()
			for name, s := range map[string]pipeline.ExpiringStore[string, int]{
				"Map": stores.NewMap[string, int](),
				"LRU": mustLRU[string, int](t, 4),
			} {
				exp := time.Now().Add(time.Minute)
				require.NoError(t, s.SetEntry(ctx, name, pipeline.Entry[int]{Value: 1, Expires: exp}))
				time.Sleep(time.Minute - time.Nanosecond)
				_, ok, err := s.Get(ctx, name)
				require.NoError(t, err)
				require.True(t, ok, "%s: fresh until Expires", name)
				time.Sleep(time.Nanosecond)
				_, ok, err = s.Get(ctx, name)
				require.NoError(t, err)
				require.False(t, ok, "%s: expired at Expires", name)
				e, ok, err := s.GetEntry(ctx, name)
				require.NoError(t, err)
				require.True(t, ok, "%s: GetEntry returns it as set", name)
				require.Equal(t, 1, e.Value)
				requireInstant(t, exp, e.Expires, "%s: GetEntry returns the Expires set", name)
			}
		})
	})
	t.Run("TTL by its clock", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		clock := newClock()
		s := mustTTL[string, int](t, 4, time.Minute, &stores.TTLOptions{Clock: clock.Now, Grace: time.Hour})
		require.NoError(t, s.Set(ctx, "k", 1))
		require.NoError(t, s.Set(ctx, "g", 2))
		clock.Advance(time.Minute - time.Nanosecond)
		_, ok, err := s.Get(ctx, "k")
		require.NoError(t, err)
		require.True(t, ok)
		clock.Advance(time.Nanosecond)
		_, ok, err = s.Get(ctx, "k")
		require.NoError(t, err)
		require.False(t, ok)
		e, ok, err := s.GetEntry(ctx, "g")
		require.NoError(t, err)
		require.True(t, ok, "within Grace")
		require.Equal(t, 2, e.Value)
		clock.Advance(time.Hour)
		_, ok, err = s.GetEntry(ctx, "g")
		require.NoError(t, err)
		require.False(t, ok, "past Grace")
		require.Zero(t, s.Len())
	})
}

// TestReviewEncodedOverTTL: Encoded over a TTL keeps the TTL's rules: the
// cap on SetEntry, expiry on Get, and a corrupt value is a miss, deleted.
func TestReviewEncodedOverTTL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := newClock()
	raw := mustTTL[string, []byte](t, 4, time.Minute, &stores.TTLOptions{Clock: clock.Now})
	s, ok := stores.Encoded(raw, stores.JSON[map[string]int]()).(pipeline.ExpiringStore[string, map[string]int])
	require.True(t, ok)

	require.NoError(t, s.SetEntry(ctx, "k", pipeline.Entry[map[string]int]{Value: map[string]int{"a": 1}}))
	e, ok, err := s.GetEntry(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, map[string]int{"a": 1}, e.Value)
	requireInstant(t, clock.Now().Add(time.Minute), e.Expires, "zero Expires gets the TTL")

	require.NoError(t, raw.Set(ctx, "bad", []byte(`{"a":`)))
	_, ok, err = s.GetEntry(ctx, "bad")
	require.NoError(t, err)
	require.False(t, ok)
	_, ok, _ = raw.GetEntry(ctx, "bad")
	require.False(t, ok, "corrupt data is deleted")

	clock.Advance(time.Minute)
	_, ok, err = s.Get(ctx, "k")
	require.NoError(t, err)
	require.False(t, ok)
}

// TestReviewConcurrentMixed hammers every store with mixed operations on
// few keys, with expiring entries, under -race.
func TestReviewConcurrentMixed(t *testing.T) {
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
