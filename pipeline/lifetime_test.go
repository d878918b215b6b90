package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// When a TTL store and its cache layer both set a lifetime, the shorter
// wins, whichever of the two it is: each is a maximum.
func TestShorterOfStoreAndLayerTTLWins(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name               string
		storeTTL, layerTTL time.Duration
	}{
		{name: "layer shorter", storeTTL: 5 * time.Minute, layerTTL: time.Minute},
		{name: "store shorter", storeTTL: time.Minute, layerTTL: 5 * time.Minute},
		{name: "equal", storeTTL: time.Minute, layerTTL: time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := testkit.NewClock()
			store, err := stores.NewTTL[string, int](10, tc.storeTTL, &stores.TTLOptions{Clock: clk.Now})
			require.NoError(t, err)
			calls := 0
			src := pipeline.FetcherFunc[string, int](func(context.Context, string) (int, error) {
				calls++
				return calls, nil
			})
			f := pipeline.Cache("l", store, &pipeline.CacheOptions[string]{TTL: tc.layerTTL, Clock: clk.Now})(src)

			e, err := f.(pipeline.EntryFetcher[string, int]).FetchEntry(t.Context(), "k")
			require.NoError(t, err)
			require.Equal(t, clk.Now().Add(time.Minute), e.Expires, "the fetch reports the shorter lifetime")
			clk.Advance(time.Minute - time.Nanosecond)
			v, err := f.Fetch(t.Context(), "k")
			require.NoError(t, err)
			require.Equal(t, 1, v, "a nanosecond before the shorter lifetime ends: a hit")
			clk.Advance(time.Nanosecond)
			v, err = f.Fetch(t.Context(), "k")
			require.NoError(t, err)
			require.Equal(t, 2, v, "at the end of the shorter lifetime: fetched again")
		})
	}
}

// A layer over a layer whose TTL store sets the lifetime, with no TTL of
// either layer's own, keeps a value no longer than the store below: the
// lower layer reports the store's lifetime upward, also through
// stores.Encoded, which passes the TTL store's lifetime on.
func TestLayerAboveATTLStoreKeepsNoLongerThanIt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		shared func(*stores.TTLOptions) (pipeline.Store[string, int], error)
	}{
		{name: "TTL store", shared: func(o *stores.TTLOptions) (pipeline.Store[string, int], error) {
			return stores.NewTTL[string, int](10, 5*time.Minute, o)
		}},
		{name: "encoded TTL store", shared: func(o *stores.TTLOptions) (pipeline.Store[string, int], error) {
			s, err := stores.NewTTL[string, []byte](10, 5*time.Minute, o)
			return stores.Encoded(s, stores.JSON[int]()), err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := testkit.NewClock()
			shared, err := tc.shared(&stores.TTLOptions{Clock: clk.Now})
			require.NoError(t, err)
			local, err := stores.NewLRU[string, int](10)
			require.NoError(t, err)
			calls := 0
			src := pipeline.FetcherFunc[string, int](func(context.Context, string) (int, error) {
				calls++
				return calls, nil
			})
			opts := &pipeline.CacheOptions[string]{Clock: clk.Now}
			f := pipeline.Chain(pipeline.Cache("local", local, opts), pipeline.Cache("shared", shared, opts))(src)

			v, err := f.Fetch(t.Context(), "k")
			require.NoError(t, err)
			require.Equal(t, 1, v)
			clk.Advance(5*time.Minute - time.Nanosecond)
			v, err = f.Fetch(t.Context(), "k")
			require.NoError(t, err)
			require.Equal(t, 1, v, "within the lifetime: a hit")
			clk.Advance(time.Nanosecond)
			v, err = f.Fetch(t.Context(), "k")
			require.NoError(t, err)
			require.Equal(t, 2, v, "the local layer dropped it with the shared one")
		})
	}
}
