package stores_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

func TestTTLExpiry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		after  time.Duration // time since Set
		wantOK bool
	}{
		{name: "just set", after: 0, wantOK: true},
		{name: "last nanosecond", after: time.Minute - 1, wantOK: true},
		{name: "at expiry", after: time.Minute, wantOK: false},
		{name: "long after", after: time.Hour, wantOK: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clock := testkit.NewClock()
			s := mustTTL[string, string](t, 10, time.Minute, &stores.TTLOptions{Clock: clock.Now})
			start := clock.Now()
			require.NoError(t, s.Set(ctx, "k", "v"))
			e, ok, err := s.GetEntry(ctx, "k")
			require.NoError(t, err)
			require.True(t, ok)
			requireInstant(t, start.Add(time.Minute), e.Expires, "Set gives now + ttl")

			clock.Advance(tc.after)
			v, ok, err := s.Get(ctx, "k")
			require.NoError(t, err)
			require.Equal(t, tc.wantOK, ok)
			if ok {
				require.Equal(t, "v", v)
				require.Equal(t, 1, s.Len())
			} else {
				require.Empty(t, v)
				require.Zero(t, s.Len(), "an expired entry is dropped when read")
			}
		})
	}
}

// TestTTLGrace checks that GetEntry keeps serving an expired entry for
// Grace, so the cache layer can serve it stale, while Get never does.
func TestTTLGrace(t *testing.T) {
	t.Parallel()
	const ttl, grace = time.Minute, 10 * time.Second
	for _, tc := range []struct {
		name     string
		grace    time.Duration
		after    time.Duration
		get      bool // read with Get rather than GetEntry
		wantOK   bool
		wantKept bool // still held after the read
	}{
		{name: "GetEntry fresh", grace: grace, after: ttl - 1, wantOK: true, wantKept: true},
		{name: "GetEntry expired within grace", grace: grace, after: ttl + grace/2, wantOK: true, wantKept: true},
		{name: "GetEntry last nanosecond of grace", grace: grace, after: ttl + grace - 1, wantOK: true, wantKept: true},
		{name: "GetEntry at end of grace", grace: grace, after: ttl + grace, wantOK: false, wantKept: false},
		{name: "GetEntry expired without grace", grace: 0, after: ttl, wantOK: false, wantKept: false},
		{name: "Get fresh", grace: grace, after: ttl - 1, get: true, wantOK: true, wantKept: true},
		{name: "Get expired within grace", grace: grace, after: ttl + grace/2, get: true, wantOK: false, wantKept: false},
		{name: "Get expired without grace", grace: 0, after: ttl, get: true, wantOK: false, wantKept: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clock := testkit.NewClock()
			s := mustTTL[string, string](t, 10, ttl, &stores.TTLOptions{Clock: clock.Now, Grace: tc.grace})
			expires := clock.Now().Add(ttl)
			require.NoError(t, s.Set(ctx, "k", "v"))
			clock.Advance(tc.after)

			var ok bool
			var err error
			if tc.get {
				var v string
				v, ok, err = s.Get(ctx, "k")
				if ok {
					require.Equal(t, "v", v)
				}
			} else {
				var e pipeline.Entry[string]
				e, ok, err = s.GetEntry(ctx, "k")
				if ok {
					require.Equal(t, "v", e.Value)
					requireInstant(t, expires, e.Expires, "the entry keeps its Expires: the layer judges it")
				}
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantOK, ok)
			require.Equal(t, tc.wantKept, s.Len() == 1)
		})
	}
}

func TestTTLSetEntry(t *testing.T) {
	t.Parallel()
	const ttl = time.Minute
	for _, tc := range []struct {
		name    string
		expires time.Duration // from now; 0: zero Expires
		want    time.Duration // from now
	}{
		{name: "zero Expires gets ttl", expires: 0, want: ttl},
		{name: "longer is capped", expires: time.Hour, want: ttl},
		{name: "ttl is kept", expires: ttl, want: ttl},
		{name: "shorter is kept", expires: time.Second, want: time.Second},
		{name: "expired is kept as is", expires: -time.Second, want: -time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clock := testkit.NewClock()
			s := mustTTL[string, int](t, 10, ttl, &stores.TTLOptions{Clock: clock.Now, Grace: time.Hour})
			now := clock.Now()
			e := pipeline.Entry[int]{Value: 42}
			if tc.expires != 0 {
				e.Expires = now.Add(tc.expires)
			}
			require.NoError(t, s.SetEntry(ctx, "k", e))
			got, ok, err := s.GetEntry(ctx, "k")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, 42, got.Value)
			requireInstant(t, now.Add(tc.want), got.Expires)
		})
	}
}

func TestTTLJitter(t *testing.T) {
	t.Parallel()
	const ttl, n = 100 * time.Second, 1000
	for _, tc := range []struct {
		name   string
		jitter float64
		set    func(ctx context.Context, s *stores.TTL[string, int], k string) error
	}{
		{name: "Set", jitter: 0.25, set: func(ctx context.Context, s *stores.TTL[string, int], k string) error { return s.Set(ctx, k, 1) }},
		{name: "SetEntry zero Expires", jitter: 0.25, set: func(ctx context.Context, s *stores.TTL[string, int], k string) error {
			return s.SetEntry(ctx, k, pipeline.Entry[int]{Value: 1})
		}},
		{name: "Set large jitter", jitter: 0.99, set: func(ctx context.Context, s *stores.TTL[string, int], k string) error { return s.Set(ctx, k, 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clock := testkit.NewClock()
			s := mustTTL[string, int](t, n, ttl, &stores.TTLOptions{Clock: clock.Now, Jitter: tc.jitter})
			now := clock.Now()
			lowest := now.Add(ttl - time.Duration(tc.jitter*float64(ttl)))
			distinct := make(map[time.Time]bool)
			for i := range n {
				k := strconv.Itoa(i)
				require.NoError(t, tc.set(ctx, s, k))
				e, ok, err := s.GetEntry(ctx, k)
				require.NoError(t, err)
				require.True(t, ok)
				require.True(t, e.Expires.After(lowest), "shortened by less than Jitter: %v", e.Expires.Sub(now))
				require.False(t, e.Expires.After(now.Add(ttl)), "never longer than ttl: %v", e.Expires.Sub(now))
				distinct[e.Expires] = true
			}
			require.Greater(t, len(distinct), n/2, "lifetimes are spread")
		})
	}
}

// TestTTLDoesNotEvictForAnEntryPastItsGrace: an entry set already expired
// Grace or more ago (by SetEntry or SetBatch) is not stored, as it would be
// dropped at its first read: it evicts no live entry to make room, and
// the key's old value is gone, as after any write. Within Grace it is
// stored, so that it can be served stale.
func TestTTLDoesNotEvictForAnEntryPastItsGrace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		grace time.Duration
		set   func(ctx context.Context, s *stores.TTL[string, string], k string, e pipeline.Entry[string]) error
	}{
		{name: "SetEntry", set: func(ctx context.Context, s *stores.TTL[string, string], k string, e pipeline.Entry[string]) error {
			return s.SetEntry(ctx, k, e)
		}},
		{name: "SetBatch", set: func(ctx context.Context, s *stores.TTL[string, string], k string, e pipeline.Entry[string]) error {
			return s.SetBatch(ctx, []string{k}, []pipeline.Entry[string]{e})
		}},
		{name: "SetEntry with Grace", grace: time.Minute, set: func(ctx context.Context, s *stores.TTL[string, string], k string, e pipeline.Entry[string]) error {
			return s.SetEntry(ctx, k, e)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clock := testkit.NewClock()
			s := mustTTL[string, string](t, 2, time.Hour, &stores.TTLOptions{Clock: clock.Now, Grace: tc.grace})
			var ev testkit.Evictions
			s.Notify(ev.Notify)
			require.NoError(t, s.Set(ctx, "live", "v"))
			require.NoError(t, s.Set(ctx, "old", "v"))
			dead := pipeline.Entry[string]{Value: "dead", Expires: clock.Now().Add(-tc.grace - time.Second)}
			require.NoError(t, tc.set(ctx, s, "dead", dead))
			require.NoError(t, tc.set(ctx, s, "old", dead))

			require.Empty(t, ev.Keys(), "no live entry evicted for an entry past its grace")
			_, ok, err := s.GetEntry(ctx, "live")
			require.NoError(t, err)
			require.True(t, ok)
			for _, k := range []string{"dead", "old"} {
				_, ok, err = s.GetEntry(ctx, k)
				require.NoError(t, err)
				require.False(t, ok, "%s: an entry past its grace is not held", k)
			}
			require.Equal(t, 1, s.Len())

			within := pipeline.Entry[string]{Value: "stale", Expires: clock.Now().Add(-tc.grace / 2)}
			require.NoError(t, tc.set(ctx, s, "stale", within))
			e, ok, err := s.GetEntry(ctx, "stale")
			require.NoError(t, err)
			require.Equal(t, tc.grace > 0, ok, "an entry within its grace is stored")
			if ok {
				require.Equal(t, "stale", e.Value)
			}
		})
	}
}
