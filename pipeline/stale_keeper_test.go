package pipeline_test

import (
	"errors"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// StaleIfError works over a TTL store set with no Grace: the layer tells
// the store, when it is built, to keep expired entries that long.
func TestStaleIfErrorKeepsEntriesOfATTLStoreWithoutGrace(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock()
	store, err := stores.NewTTL[string, string](10, time.Minute, &stores.TTLOptions{Clock: clk.Now})
	require.NoError(t, err)
	src := newSource("a", "va")
	f := pipeline.Cache("profiles", store, &pipeline.CacheOptions[string]{
		StaleIfError: time.Hour, Clock: clk.Now,
	})(src)

	v, err := f.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, "va", v)

	src.fail(errBoom)
	clk.Advance(time.Minute + 30*time.Minute) // expired half an hour ago
	v, err = f.Fetch(t.Context(), "a")
	require.NoError(t, err, "the expired value is served")
	require.Equal(t, "va", v)

	clk.Advance(31 * time.Minute) // expired more than StaleIfError ago
	_, err = f.Fetch(t.Context(), "a")
	require.ErrorIs(t, err, errBoom)
}

// A store's longer grace is kept: KeepStale never shortens it.
func TestStaleIfErrorNeverShortensAStoresGrace(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock()
	store, err := stores.NewTTL[string, string](10, time.Minute, &stores.TTLOptions{Clock: clk.Now, Grace: 2 * time.Hour})
	require.NoError(t, err)
	_ = pipeline.Cache("profiles", store, &pipeline.CacheOptions[string]{StaleIfError: time.Minute, Clock: clk.Now})
	require.NoError(t, store.Set(t.Context(), "a", "va"))
	clk.Advance(time.Minute + 90*time.Minute)
	e, ok, err := store.GetEntry(t.Context(), "a")
	require.NoError(t, err)
	require.True(t, ok, "kept for the store's own grace of two hours")
	require.Equal(t, "va", e.Value)
}

// shortKeeper is a store that can keep expired entries for at most max.
type shortKeeper struct {
	*memStore[string, string]
	max time.Duration
}

func (s shortKeeper) KeepStale(d time.Duration) error {
	if d > s.max {
		return errors.New("keeps expired entries at most " + s.max.String())
	}
	return nil
}

// A layer whose StaleIfError is longer than its store can keep expired
// entries fails when it is built, naming the layer; within what the store
// can keep, it builds.
func TestStaleIfErrorLongerThanTheStoreKeepsPanicsAtBuild(t *testing.T) {
	t.Parallel()
	store := shortKeeper{newMemStore[string, string](), time.Minute}
	require.PanicsWithValue(t,
		"pipeline: Cache profiles: StaleIfError 1h0m0s: keeps expired entries at most 1m0s",
		func() { pipeline.Cache("profiles", store, &pipeline.CacheOptions[string]{StaleIfError: time.Hour}) })
	require.NotPanics(t, func() {
		pipeline.Cache("profiles", store, &pipeline.CacheOptions[string]{StaleIfError: time.Minute})
	})
}
