package pipeline_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

func TestTreeShowsHowFullABoundedStoreIs(t *testing.T) {
	t.Parallel()
	store, err := stores.NewLRU[string, string](3)
	require.NoError(t, err)
	var evicted int
	obs := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
		if e.Kind == pipeline.Evicted {
			evicted++
		}
	})
	f := pipeline.Cache("lru", store, &pipeline.CacheOptions[string]{Observer: obs})(newGuaranteeSource())
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		_, err := f.Fetch(t.Context(), k)
		require.NoError(t, err)
	}
	tree := pipeline.TreeOf(f)
	require.Equal(t, &pipeline.Usage{Entries: 3, Capacity: 3}, tree.Nodes()[1].Usage)
	require.True(t, strings.Contains(tree.String(), "lru (cache) entries=3/3"), tree.String())
	require.Equal(t, 2, evicted, "the store's evictions reach the layer's observer")
}
