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

// batchCases returns a case per store, and Encoded over an LRU and a TTL.
func batchCases() []storeCase {
	return append(allStores(),
		storeCase{name: "Encoded LRU", new: func(t *testing.T, _ func() time.Time) sizedStore {
			raw := mustLRU[string, []byte](t, 1000)
			return lenStore{stores.Encoded(raw, stringCodec{}).(pipeline.BatchStore[string, string]), raw.Len}
		}},
		storeCase{name: "Encoded TTL", new: func(t *testing.T, clock func() time.Time) sizedStore {
			raw := mustTTL[string, []byte](t, 1000, time.Hour, &stores.TTLOptions{Clock: clock})
			return lenStore{stores.Encoded(raw, stringCodec{}).(pipeline.BatchStore[string, string]), raw.Len}
		}},
	)
}

// getBatch returns the results of GetBatch for keys, on results that hold
// garbage beforehand, so that the test sees that GetBatch writes them all.
func getBatch(ctx context.Context, s pipeline.BatchStore[string, string], keys ...string) []pipeline.Result[string] {
	out := make([]pipeline.Result[string], len(keys))
	for i := range out {
		out[i] = pipeline.Result[string]{Entry: pipeline.Entry[string]{Value: "garbage", Expires: time.Now()}, Err: errCodec}
	}
	s.GetBatch(ctx, keys, out)
	return out
}

// requireResult requires r to hold value, or, for an empty value, to be
// the sentinel pipeline.ErrNotFound itself with a zero Entry.
func requireResult(t *testing.T, value string, r pipeline.Result[string], msgAndArgs ...any) {
	t.Helper()
	if value == "" {
		require.Same(t, pipeline.ErrNotFound, r.Err, msgAndArgs...)
		require.Zero(t, r.Entry, msgAndArgs...)
		return
	}
	require.NoError(t, r.Err, msgAndArgs...)
	require.Equal(t, value, r.Value, msgAndArgs...)
}

func TestGetBatch(t *testing.T) {
	t.Parallel()
	for _, sc := range batchCases() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := sc.new(t, time.Now)
			exp := time.Now().Add(time.Minute)
			require.NoError(t, s.Set(ctx, "a", "1"))
			require.NoError(t, s.SetEntry(ctx, "b", pipeline.Entry[string]{Value: "2", Expires: exp}))

			s.GetBatch(ctx, nil, nil) // an empty batch is fine

			keys := []string{"a", "x", "b", "a", "x", ""}
			want := []string{"1", "", "2", "1", "", ""} // "": absent
			out := getBatch(ctx, s, keys...)
			for i, r := range out {
				requireResult(t, want[i], r, "key %q at %d", keys[i], i)
			}
			requireInstant(t, exp, out[2].Expires, "GetBatch returns the entry's Expires")
			require.Equal(t, 2, s.Len(), "GetBatch drops nothing fresh")
		})
	}
}

// TestGetBatchExpiry checks that GetBatch follows GetEntry's rules: Map and
// LRU return an expired entry as set, and keep it.
func TestGetBatchExpiry(t *testing.T) {
	t.Parallel()
	for _, sc := range keepingStores() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := sc.new(t, time.Now)
			past := time.Now().Add(-time.Minute)
			require.NoError(t, s.SetEntry(ctx, "old", pipeline.Entry[string]{Value: "v", Expires: past}))

			out := getBatch(ctx, s, "old")
			requireResult(t, "v", out[0])
			requireInstant(t, past, out[0].Expires)
			require.Equal(t, 1, s.Len(), "nothing is dropped")
		})
	}
}

// TestTTLGetBatchGrace checks that GetBatch on a TTL returns an expired
// entry until Grace after it expired, and past that drops it and reports it
// absent, key by key.
func TestTTLGetBatchGrace(t *testing.T) {
	t.Parallel()
	const ttl, grace = time.Minute, 10 * time.Second
	for _, tc := range []struct {
		name   string
		grace  time.Duration
		after  time.Duration
		wantOK bool // the old entry is returned, and kept
	}{
		{name: "fresh", grace: grace, after: ttl - 1, wantOK: true},
		{name: "expired within grace", grace: grace, after: ttl + grace/2, wantOK: true},
		{name: "last nanosecond of grace", grace: grace, after: ttl + grace - 1, wantOK: true},
		{name: "at end of grace", grace: grace, after: ttl + grace, wantOK: false},
		{name: "expired without grace", grace: 0, after: ttl, wantOK: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clock := testkit.NewClock()
			s := mustTTL[string, string](t, 10, ttl, &stores.TTLOptions{Clock: clock.Now, Grace: tc.grace})
			expires := clock.Now().Add(ttl)
			require.NoError(t, s.Set(ctx, "old", "v"))
			clock.Advance(tc.after)
			require.NoError(t, s.Set(ctx, "new", "w"))

			out := getBatch(ctx, s, "old", "new", "old")
			if tc.wantOK {
				requireResult(t, "v", out[0])
				requireInstant(t, expires, out[0].Expires, "the entry keeps its Expires: the layer judges it")
				requireResult(t, "v", out[2])
				require.Equal(t, 2, s.Len())
			} else {
				requireResult(t, "", out[0])
				requireResult(t, "", out[2], "a repeat sees the entry dropped")
				require.Equal(t, 1, s.Len(), "GetBatch drops an entry past Grace")
			}
			requireResult(t, "w", out[1])
		})
	}
}

func TestSetBatch(t *testing.T) {
	t.Parallel()
	for _, sc := range batchCases() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := sc.new(t, time.Now)
			exp := time.Now().Add(time.Minute)

			require.NoError(t, s.SetBatch(ctx, nil, nil), "an empty batch is fine")
			require.NoError(t, s.SetBatch(ctx,
				[]string{"a", "b", "a"},
				[]pipeline.Entry[string]{{Value: "1"}, {Value: "2", Expires: exp}, {Value: "3"}}))
			require.Equal(t, 2, s.Len())

			v, ok, err := s.Get(ctx, "a")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "3", v, "the last of a repeated key wins")
			e, ok, err := s.GetEntry(ctx, "b")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "2", e.Value)
			requireInstant(t, exp, e.Expires)
		})
	}
}

// TestTTLSetBatch checks that SetBatch caps each entry as SetEntry does.
func TestTTLSetBatch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const ttl = time.Minute
	clock := testkit.NewClock()
	now := clock.Now()
	s := mustTTL[string, int](t, 10, ttl, &stores.TTLOptions{Clock: clock.Now, Grace: time.Hour})
	cases := []struct {
		key     string
		expires time.Time
		want    time.Time
	}{
		{key: "zero Expires gets ttl", expires: time.Time{}, want: now.Add(ttl)},
		{key: "longer is capped", expires: now.Add(time.Hour), want: now.Add(ttl)},
		{key: "ttl is kept", expires: now.Add(ttl), want: now.Add(ttl)},
		{key: "shorter is kept", expires: now.Add(time.Second), want: now.Add(time.Second)},
		{key: "expired is kept as is", expires: now.Add(-time.Second), want: now.Add(-time.Second)},
	}
	keys := make([]string, len(cases))
	entries := make([]pipeline.Entry[int], len(cases))
	for i, c := range cases {
		keys[i] = c.key
		entries[i] = pipeline.Entry[int]{Value: i, Expires: c.expires}
	}
	require.NoError(t, s.SetBatch(ctx, keys, entries))
	out := make([]pipeline.Result[int], len(keys))
	s.GetBatch(ctx, keys, out)
	for i, c := range cases {
		require.NoError(t, out[i].Err, c.key)
		require.Equal(t, i, out[i].Value, c.key)
		requireInstant(t, c.want, out[i].Expires, c.key)
	}
}

// TestTTLSetBatchJitter checks that SetBatch draws Jitter for each entry.
func TestTTLSetBatchJitter(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const ttl, jitter, n = 100 * time.Second, 0.25, 1000
	clock := testkit.NewClock()
	now := clock.Now()
	s := mustTTL[string, int](t, n, ttl, &stores.TTLOptions{Clock: clock.Now, Jitter: jitter})
	keys := make([]string, n)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	require.NoError(t, s.SetBatch(ctx, keys, make([]pipeline.Entry[int], n)))
	out := make([]pipeline.Result[int], n)
	s.GetBatch(ctx, keys, out)
	lowest := now.Add(ttl - time.Duration(jitter*float64(ttl)))
	distinct := make(map[int64]bool)
	for _, r := range out {
		require.NoError(t, r.Err)
		require.True(t, r.Expires.After(lowest), "shortened by less than Jitter: %v", r.Expires.Sub(now))
		require.False(t, r.Expires.After(now.Add(ttl)), "never longer than ttl: %v", r.Expires.Sub(now))
		distinct[r.Expires.UnixNano()] = true
	}
	require.Greater(t, len(distinct), n/2, "lifetimes are spread")
}

// TestLRUBatchOrder checks that GetBatch uses the keys it finds in order
// and SetBatch sets them in order, as the same calls one by one would.
func TestLRUBatchOrder(t *testing.T) {
	t.Parallel()
	for _, store := range []struct {
		name string
		new  func(t *testing.T) sizedStore
	}{
		{name: "LRU", new: func(t *testing.T) sizedStore { return mustLRU[string, string](t, 3) }},
		{name: "TTL", new: func(t *testing.T) sizedStore { return mustTTL[string, string](t, 3, time.Hour, nil) }},
	} {
		t.Run(store.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := store.new(t)
			// Oldest first: a, b, c; then c, a, b; then b, d, e.
			require.NoError(t, s.SetBatch(ctx, []string{"a", "b", "c"}, make([]pipeline.Entry[string], 3)))
			getBatch(ctx, s, "a", "x", "b")
			require.NoError(t, s.SetBatch(ctx, []string{"d", "e"}, make([]pipeline.Entry[string], 2)))
			out := getBatch(ctx, s, "a", "b", "c", "d", "e")
			for i, held := range []bool{false, true, false, true, true} {
				require.Equal(t, held, out[i].Err == nil, "key %d", i)
			}

			// A SetBatch bigger than the store keeps its last keys.
			require.NoError(t, s.SetBatch(ctx, []string{"1", "2", "3", "4", "5"}, make([]pipeline.Entry[string], 5)))
			out = getBatch(ctx, s, "1", "2", "3", "4", "5")
			for i, held := range []bool{false, false, true, true, true} {
				require.Equal(t, held, out[i].Err == nil, "key %d", i+1)
			}
		})
	}
}

// TestBatchLengthMismatch checks that GetBatch and SetBatch panic on a
// caller's bug, before they take the lock: the store stays usable.
func TestBatchLengthMismatch(t *testing.T) {
	t.Parallel()
	for _, sc := range batchCases() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := sc.new(t, time.Now)
			prefix := "stores: "
			if sc.name == "Encoded LRU" || sc.name == "Encoded TTL" {
				prefix = "stores: encoded "
			}
			require.PanicsWithValue(t, prefix+"GetBatch: 1 results for 2 keys", func() {
				s.GetBatch(ctx, []string{"a", "b"}, make([]pipeline.Result[string], 1))
			})
			require.PanicsWithValue(t, prefix+"SetBatch: 3 entries for 2 keys", func() {
				_ = s.SetBatch(ctx, []string{"a", "b"}, make([]pipeline.Entry[string], 3))
			})
			require.Zero(t, s.Len(), "nothing is stored")
			require.NoError(t, s.Set(ctx, "a", "1"), "the store is still usable")
			requireResult(t, "1", getBatch(ctx, s, "a")[0])
		})
	}
}
