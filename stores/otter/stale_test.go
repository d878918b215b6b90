package otter_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/otter"
)

// A cache layer with StaleIfError over a Store set with no Grace serves an
// expired value when below fails: the layer made the store keep it.
func TestStaleIfErrorKeepsEntriesWithoutGrace(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock()
	s := mustNew[string, string](t, 100, &otter.Options{Clock: clock.Now})
	var failing atomic.Bool
	boom := errors.New("boom")
	src := pipeline.FetcherFunc[string, string](func(context.Context, string) (string, error) {
		if failing.Load() {
			return "", boom
		}
		return "v", nil
	})
	f := pipeline.Cache("profiles", s, &pipeline.CacheOptions[string]{
		TTL: time.Minute, StaleIfError: time.Hour, Clock: clock.Now,
	})(src)
	_, err := f.Fetch(t.Context(), "a")
	require.NoError(t, err)

	failing.Store(true)
	clock.Advance(30 * time.Minute)
	v, err := f.Fetch(t.Context(), "a")
	require.NoError(t, err, "the expired value is served")
	require.Equal(t, "v", v)

	clock.Advance(time.Hour)
	_, err = f.Fetch(t.Context(), "a")
	require.ErrorIs(t, err, boom)
}

// KeepStale lengthens Grace and never shortens it.
func TestKeepStaleNeverShortensGrace(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock()
	s := mustNew[string, string](t, 100, &otter.Options{Clock: clock.Now, Grace: time.Hour})
	require.NoError(t, s.KeepStale(time.Minute))
	require.NoError(t, s.SetEntry(t.Context(), "a", pipeline.Entry[string]{Value: "v", Expires: clock.Now().Add(time.Second)}))
	clock.Advance(30 * time.Minute)
	_, ok, err := s.GetEntry(t.Context(), "a")
	require.NoError(t, err)
	require.True(t, ok, "kept for the longer Grace")
}
