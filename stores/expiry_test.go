package stores_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// TestGetExpiresEntryFromItsExpires: Get treats an entry as expired from
// its Expires on (not after), by time.Now for Map and LRU and by the
// injected clock for TTL; GetEntry keeps returning it as set (TTL: until
// Grace has passed).
func TestGetExpiresEntryFromItsExpires(t *testing.T) {
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
		clock := testkit.NewClock()
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

// TestTTLGetEntryWithTheDefaultClockDropsAnEntryAtTheEndOfItsGrace: with
// the default clock, GetEntry judges an entry by the coarse clock first, and
// still returns it exactly until Grace after its Expires, then drops it.
func TestTTLGetEntryWithTheDefaultClockDropsAnEntryAtTheEndOfItsGrace(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		s, err := stores.NewTTL[string, int](4, time.Hour, &stores.TTLOptions{Grace: time.Minute})
		require.NoError(t, err)
		exp := time.Now().Add(time.Minute)
		require.NoError(t, s.SetEntry(ctx, "k", pipeline.Entry[int]{Value: 1, Expires: exp}))
		time.Sleep(2*time.Minute - time.Nanosecond)
		e, ok, err := s.GetEntry(ctx, "k")
		require.NoError(t, err)
		require.True(t, ok, "kept until Grace after Expires")
		require.True(t, e.Expires.Equal(exp))
		time.Sleep(time.Nanosecond)
		_, ok, err = s.GetEntry(ctx, "k")
		require.NoError(t, err)
		require.False(t, ok, "gone at Grace after Expires")
		require.Zero(t, s.Len(), "and dropped")
	})
}

// TestGetJudgesExpiresOutsideTheNanosecondRangeAlike: every store's Get
// agrees on an Expires that Unix nanoseconds cannot hold, and on Unix 0: an
// Expires centuries ahead is fresh, one centuries ago or at Unix 0 has
// passed. (Map once judged the wrapped UnixNano of the first two, and took
// Unix 0 for no expiry.)
func TestGetJudgesExpiresOutsideTheNanosecondRangeAlike(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		expires time.Time
		fresh   bool
	}{
		{name: "year 3000", expires: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), fresh: true},
		{name: "year 9999", expires: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), fresh: true},
		{name: "year 1000", expires: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "Unix 0", expires: time.Unix(0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			for _, sc := range keepingStores() {
				s := sc.new(t, nil)
				require.NoError(t, s.SetEntry(ctx, "k", pipeline.Entry[string]{Value: "v", Expires: tc.expires}))
				_, ok, err := s.Get(ctx, "k")
				require.NoError(t, err)
				require.Equal(t, tc.fresh, ok, "%s: Get of an entry that expires %v", sc.name, tc.expires)
			}
		})
	}
}
