package stores_test

import (
	"context"
	"math"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// TestExpiresNanos checks how LRU and TTL keep an Expires in Unix
// nanoseconds: the zero time stays "no expiry", any other time keeps an
// expiry, and a time int64 nanoseconds cannot hold is clamped, never
// wrapped.
func TestExpiresNanos(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("UTC+5", 5*60*60)
	var (
		latest   = time.Unix(0, math.MaxInt64)   // in 2262
		earliest = time.Unix(0, math.MinInt64+1) // in 1677
		soon     = time.Now().Add(time.Hour)     // with a monotonic clock reading
	)
	for _, tc := range []struct {
		name    string
		expires time.Time
		want    time.Time // the instant GetEntry returns
		fresh   bool      // Get reports the entry (by time.Now)
	}{
		{name: "zero is no expiry", expires: time.Time{}, want: time.Time{}, fresh: true},
		{name: "ordinary future", expires: time.Date(2200, 6, 1, 12, 30, 0, 123456789, zone), want: time.Date(2200, 6, 1, 12, 30, 0, 123456789, zone), fresh: true},
		{name: "ordinary past", expires: time.Date(2001, 2, 3, 4, 5, 6, 7, zone), want: time.Date(2001, 2, 3, 4, 5, 6, 7, zone)},
		{name: "with a monotonic reading", expires: soon, want: soon, fresh: true},
		{name: "Unix 0 keeps an expiry", expires: time.Unix(0, 0), want: time.Unix(0, 1)},
		{name: "Unix 0 in another zone", expires: time.Unix(0, 0).In(zone), want: time.Unix(0, 1)},
		{name: "before Unix 0", expires: time.Unix(0, -1), want: time.Unix(0, -1)},
		{name: "latest held", expires: latest, want: latest, fresh: true},
		{name: "just after latest", expires: latest.Add(1), want: latest, fresh: true},
		{name: "last whole second held", expires: time.Unix(9223372036, 0), want: time.Unix(9223372036, 0), fresh: true},
		{name: "first whole second after latest", expires: time.Unix(9223372037, 0), want: latest, fresh: true},
		{name: "year 9999", expires: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), want: latest, fresh: true},
		{name: "earliest held", expires: earliest, want: earliest},
		{name: "math.MinInt64", expires: time.Unix(0, math.MinInt64), want: earliest},
		{name: "first whole second held", expires: time.Unix(-9223372036, 0), want: time.Unix(-9223372036, 0)},
		{name: "last whole second before earliest", expires: time.Unix(-9223372037, 0), want: earliest},
		{name: "year 1000", expires: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), want: earliest},
		{name: "a nanosecond after the zero time", expires: time.Time{}.Add(1), want: earliest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := mustLRU[string, int](t, 4)
			require.NoError(t, s.SetEntry(ctx, "k", pipeline.Entry[int]{Value: 1, Expires: tc.expires}))

			e, ok, err := s.GetEntry(ctx, "k")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, 1, e.Value)
			require.Equal(t, tc.want.IsZero(), e.Expires.IsZero(), "only the zero time means no expiry")
			requireInstant(t, tc.want, e.Expires)

			_, ok, err = s.Get(ctx, "k")
			require.NoError(t, err)
			require.Equal(t, tc.fresh, ok)
		})
	}
}

// TestTTLExpiresNanos checks that a TTL's cap and grace work on the
// nanoseconds it keeps, from a clock in a zone other than Local.
func TestTTLExpiresNanos(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Date(2100, 1, 1, 0, 0, 0, 0, time.FixedZone("UTC-3", -3*60*60))
	clock := func() time.Time { return now }
	s := mustTTL[string, int](t, 4, time.Hour, &stores.TTLOptions{Clock: clock, Grace: time.Minute})

	require.NoError(t, s.SetEntry(ctx, "capped", pipeline.Entry[int]{Value: 1, Expires: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}))
	require.NoError(t, s.SetEntry(ctx, "kept", pipeline.Entry[int]{Value: 2, Expires: now.Add(time.Second)}))
	require.NoError(t, s.SetEntry(ctx, "past", pipeline.Entry[int]{Value: 3, Expires: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)}))

	e, ok, err := s.GetEntry(ctx, "capped")
	require.NoError(t, err)
	require.True(t, ok)
	requireInstant(t, now.Add(time.Hour), e.Expires)
	e, ok, err = s.GetEntry(ctx, "kept")
	require.NoError(t, err)
	require.True(t, ok)
	requireInstant(t, now.Add(time.Second), e.Expires)
	_, ok, err = s.GetEntry(ctx, "past")
	require.NoError(t, err)
	require.False(t, ok, "expired centuries before Grace")
	require.Equal(t, 2, s.Len())
}

// TestDroppedEntries checks that LRU and TTL do not keep the value of a key
// they dropped (evicted, deleted or cleared) alive, nor let it show through
// for another key, both for values they hold by value and for larger ones
// they hold behind a pointer whose room they reuse.
func TestDroppedEntries(t *testing.T) {
	t.Parallel()
	t.Run("small", func(t *testing.T) {
		t.Parallel()
		testDroppedEntries(t, func(p *payload) *payload { return p }, func(v *payload) *payload { return v })
	})
	t.Run("large", func(t *testing.T) {
		t.Parallel()
		testDroppedEntries(t, func(p *payload) large { return large{p: p} }, func(v large) *payload { return v.p })
	})
}

type payload struct{ b [64]byte }

// large is a value too big for LRU and TTL to hold by value.
type large struct {
	p   *payload
	pad [4]int64
}

func testDroppedEntries[V any](t *testing.T, wrap func(*payload) V, unwrap func(V) *payload) {
	for _, sc := range []struct {
		name string
		new  func(t *testing.T) pipeline.ExpiringStore[string, V]
	}{
		{"LRU", func(t *testing.T) pipeline.ExpiringStore[string, V] { return mustLRU[string, V](t, 2) }},
		{"TTL", func(t *testing.T) pipeline.ExpiringStore[string, V] { return mustTTL[string, V](t, 2, time.Hour, nil) }},
	} {
		for _, leave := range []struct {
			name string
			do   func(t *testing.T, s pipeline.ExpiringStore[string, V])
		}{
			{"evicted", func(t *testing.T, s pipeline.ExpiringStore[string, V]) {
				require.NoError(t, s.Set(t.Context(), "b", wrap(nil)))
				require.NoError(t, s.Set(t.Context(), "c", wrap(nil))) // evicts a
			}},
			{"deleted", func(t *testing.T, s pipeline.ExpiringStore[string, V]) {
				require.NoError(t, s.Delete(t.Context(), "a"))
			}},
			{"cleared", func(t *testing.T, s pipeline.ExpiringStore[string, V]) {
				require.NoError(t, s.(interface{ Clear(context.Context) error }).Clear(t.Context()))
			}},
		} {
			t.Run(sc.name+"/"+leave.name, func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				s := sc.new(t)
				p := &payload{}
				gone := weak.Make(p)
				require.NoError(t, s.Set(ctx, "a", wrap(p)))
				p = nil
				leave.do(t, s)
				runtime.GC()
				require.Nil(t, gone.Value(), "the store keeps the value of a key it dropped")

				// The next new key may get the room a had, and only its own
				// value.
				q := &payload{b: [64]byte{1}}
				require.NoError(t, s.SetEntry(ctx, "d", pipeline.Entry[V]{Value: wrap(q)}))
				e, ok, err := s.GetEntry(ctx, "d")
				require.NoError(t, err)
				require.True(t, ok)
				require.Same(t, q, unwrap(e.Value))
				_, ok, err = s.GetEntry(ctx, "a")
				require.NoError(t, err)
				require.False(t, ok)
			})
		}
	}
}
