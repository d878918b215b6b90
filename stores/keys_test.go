package stores_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// batchStore is what every stock store implements.
type batchStore[K comparable, V any] interface {
	pipeline.ExpiringStore[K, V]
	pipeline.BatchStore[K, V]
}

// A key that cannot be hashed (a slice in an any key) makes the call panic,
// as a Go map would, and leaves the store usable: before, the panic struck
// under the store's lock, and every later call blocked for good.
func TestUnhashableKeyLeavesStoreUsable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lru, err := stores.NewLRU[any, string](4)
	require.NoError(t, err)
	ttl, err := stores.NewTTL[any, string](4, time.Minute, nil)
	require.NoError(t, err)
	type pair struct {
		a string
		b any
	}
	for name, s := range map[string]batchStore[any, string]{
		"LRU": lru, "TTL": ttl, "Map": stores.NewMap[any, string](), "zero Map": new(stores.Map[any, string]),
	} {
		t.Run(name, func(t *testing.T) {
			for _, bad := range []any{[]int{1}, pair{"x", map[int]int{}}} {
				keys := []any{"a", bad}
				for op, call := range map[string]func(){
					"Get":      func() { _, _, _ = s.Get(ctx, bad) },
					"GetEntry": func() { _, _, _ = s.GetEntry(ctx, bad) },
					"Set":      func() { _ = s.Set(ctx, bad, "v") },
					"SetEntry": func() { _ = s.SetEntry(ctx, bad, pipeline.Entry[string]{Value: "v"}) },
					"Delete":   func() { _ = s.Delete(ctx, bad) },
					"GetBatch": func() { s.GetBatch(ctx, keys, make([]pipeline.Result[string], 2)) },
					"SetBatch": func() { _ = s.SetBatch(ctx, keys, make([]pipeline.Entry[string], 2)) },
				} {
					require.Panics(t, call, op)
					require.NoError(t, s.Set(ctx, "k", op), "%s: the store still works", op)
					v, ok, err := s.Get(ctx, "k")
					require.NoError(t, err)
					require.True(t, ok, op)
					require.Equal(t, op, v)
				}
			}
			require.NoError(t, s.Set(ctx, pair{"p", 1}, "hashable"), "an interface holding hashable values is fine")
			v, ok, _ := s.Get(ctx, pair{"p", 1})
			require.True(t, ok)
			require.Equal(t, "hashable", v)
		})
	}
}
