package stores_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// source is a Fetcher that counts its calls and can be made to fail.
type source struct {
	calls atomic.Int64
	fail  atomic.Bool
}

var errSource = errors.New("source down")

func (s *source) Fetch(_ context.Context, k string) (string, error) {
	n := s.calls.Add(1)
	if s.fail.Load() {
		return "", errSource
	}
	if k == "missing" {
		return "", fmt.Errorf("source: %s: %w", k, pipeline.ErrNotFound)
	}
	return fmt.Sprintf("%s#%d", k, n), nil
}

// cacheOver builds a cache layer over store and src, closed at the end of
// the test.
func cacheOver(t *testing.T, store pipeline.Store[string, string], opts *pipeline.CacheOptions[string], src *source) pipeline.Fetcher[string, string] {
	t.Helper()
	f := pipeline.Cache("l", store, opts)(src)
	t.Cleanup(func() { _ = f.(pipeline.Closer).Close() })
	return f
}

// TestUnderCache runs each store under pipeline.Cache: a miss fills it, a
// hit serves from it, a cache TTL (on an injected clock) expires it, and
// Invalidate and Clear empty it.
func TestUnderCache(t *testing.T) {
	t.Parallel()
	cases := allStores()
	cases = append(cases, storeCase{name: "Encoded JSON Map", new: func(*testing.T, func() time.Time) sizedStore {
		raw := stores.NewMap[string, []byte]()
		return lenStore{stores.Encoded(raw, stores.JSON[string]()).(pipeline.BatchStore[string, string]), raw.Len}
	}})
	for _, sc := range cases {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clock := testkit.NewClock()
			src := &source{}
			store := sc.new(t, clock.Now)
			f := cacheOver(t, store, &pipeline.CacheOptions[string]{TTL: time.Minute, Clock: clock.Now}, src)

			v, err := f.Fetch(ctx, "a")
			require.NoError(t, err)
			require.Equal(t, "a#1", v, "miss: from the source")
			require.Equal(t, 1, store.Len(), "filled")
			v, err = f.Fetch(ctx, "a")
			require.NoError(t, err)
			require.Equal(t, "a#1", v, "hit: from the store")
			require.EqualValues(t, 1, src.calls.Load())

			_, err = f.Fetch(ctx, "missing")
			require.ErrorIs(t, err, pipeline.ErrNotFound)
			require.Equal(t, 1, store.Len(), "not found is not stored")

			clock.Advance(time.Minute)
			v, err = f.Fetch(ctx, "a")
			require.NoError(t, err)
			require.Equal(t, "a#3", v, "expired by the layer's TTL: fetched again")

			err = pipeline.Invalidate(ctx, f, "a")
			require.NoError(t, err)
			require.Zero(t, store.Len(), "Invalidate deletes from the store")

			_, _ = f.Fetch(ctx, "b")
			require.Equal(t, 1, store.Len())
			require.NoError(t, f.(pipeline.Clearer).Clear(ctx))
			require.Zero(t, store.Len(), "Clear clears the store")
		})
	}
}

// TestTTLUnderCache checks that a TTL store's own lifetime limits a cache
// layer with no TTL, and that the layer's StaleIfError alone lets it serve
// stale values when the source fails: the layer makes the store, set with
// no Grace, keep expired entries that long.
func TestTTLUnderCache(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		staleIfError time.Duration
		after        time.Duration
		wantValue    string
		wantErr      error
	}{
		{name: "fresh", staleIfError: time.Minute, after: 59 * time.Second, wantValue: "a#1"},
		{name: "stale within StaleIfError", staleIfError: time.Minute, after: 90 * time.Second, wantValue: "a#1"},
		{name: "past StaleIfError", staleIfError: time.Minute, after: 2 * time.Minute, wantErr: errSource},
		{name: "no StaleIfError", staleIfError: 0, after: time.Minute, wantErr: errSource},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clock := testkit.NewClock()
			src := &source{}
			store := mustTTL[string, string](t, 10, time.Minute, &stores.TTLOptions{Clock: clock.Now})
			f := cacheOver(t, store, &pipeline.CacheOptions[string]{StaleIfError: tc.staleIfError, Clock: clock.Now}, src)

			v, err := f.Fetch(ctx, "a")
			require.NoError(t, err)
			require.Equal(t, "a#1", v)

			src.fail.Store(true)
			clock.Advance(tc.after)
			v, err = f.Fetch(ctx, "a")
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantValue, v)
		})
	}
}

// TestLRUUnderCacheEvicts checks that a bounded store under a cache layer
// evicts, and the layer fetches an evicted key again.
func TestLRUUnderCacheEvicts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := &source{}
	store := mustLRU[string, string](t, 2)
	f := cacheOver(t, store, nil, src)
	for _, k := range []string{"a", "b", "c"} {
		_, err := f.Fetch(ctx, k)
		require.NoError(t, err)
	}
	require.Equal(t, 2, store.Len())
	v, err := f.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a#4", v, "a was evicted")
	v, err = f.Fetch(ctx, "c")
	require.NoError(t, err)
	require.Equal(t, "c#3", v, "c was kept")
}

// An Encoded TTL, set with no Grace, under a cache layer with StaleIfError
// serves an expired value when the source fails: Encoded passes the
// layer's KeepStale on to the TTL.
func TestEncodedTTLUnderCacheServesStale(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := testkit.NewClock()
	src := &source{}
	store := stores.Encoded(mustTTL[string, []byte](t, 10, time.Minute, &stores.TTLOptions{Clock: clock.Now}), stores.JSON[string]())
	f := cacheOver(t, store, &pipeline.CacheOptions[string]{StaleIfError: time.Hour, Clock: clock.Now}, src)
	v, err := f.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a#1", v)

	src.fail.Store(true)
	clock.Advance(30 * time.Minute)
	v, err = f.Fetch(ctx, "a")
	require.NoError(t, err, "expired 29 minutes ago: served stale")
	require.Equal(t, "a#1", v)
	clock.Advance(time.Hour)
	_, err = f.Fetch(ctx, "a")
	require.ErrorIs(t, err, errSource, "expired more than an hour ago: the error")
}
