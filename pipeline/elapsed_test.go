package pipeline_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// The Elapsed of a Fill, a NotFound and an Error event is the time the fetch
// spent below the layer, exactly, by the bubble's clock; a Miss and a Hit
// carry none.
func TestElapsedIsTheTimeSpentBelow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		src := pipeline.FetcherFunc[string, int](func(_ context.Context, k string) (int, error) {
			switch k {
			case "found":
				time.Sleep(30 * time.Millisecond)
				return 1, nil
			case "absent":
				time.Sleep(20 * time.Millisecond)
				return 0, pipeline.ErrNotFound
			default:
				time.Sleep(10 * time.Millisecond)
				return 0, boom
			}
		})
		store, err := stores.NewLRU[string, int](10)
		require.NoError(t, err)
		rec := &recorder[string]{}
		f := pipeline.Cache("l", store, &pipeline.CacheOptions[string]{Observer: rec})(src)
		t.Cleanup(func() { _ = f.(pipeline.Closer).Close() })

		_, err = f.Fetch(t.Context(), "found")
		require.NoError(t, err)
		_, err = f.Fetch(t.Context(), "found")
		require.NoError(t, err)
		_, err = f.Fetch(t.Context(), "absent")
		require.ErrorIs(t, err, pipeline.ErrNotFound)
		_, err = f.Fetch(t.Context(), "failing")
		require.ErrorIs(t, err, boom)

		type seen struct {
			kind    pipeline.EventKind
			key     string
			elapsed time.Duration
		}
		var got []seen
		for _, e := range rec.events {
			got = append(got, seen{e.Kind, e.Key, e.Elapsed})
		}
		require.Equal(t, []seen{
			{pipeline.Miss, "found", 0},
			{pipeline.Fill, "found", 30 * time.Millisecond},
			{pipeline.Hit, "found", 0},
			{pipeline.Miss, "absent", 0},
			{pipeline.NotFound, "absent", 20 * time.Millisecond},
			{pipeline.Miss, "failing", 0},
			{pipeline.Error, "failing", 10 * time.Millisecond},
		}, got)
	})
}
