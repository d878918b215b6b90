//go:build !race

// Allocation counts are not meaningful under the race detector, so these
// tests are left out of -race builds (rather than skipped, which CI
// forbids); `go test ./stores/` runs them.

package stores_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// A hit allocates nothing, with eviction reports on (a Notify function
// set) or off, and for keys that need checking (any) or not. Not parallel:
// testing.AllocsPerRun refuses to run in a parallel test.
func TestHitAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	for name, s := range map[string]pipeline.Store[string, string]{
		"LRU": mustLRU[string, string](t, 4),
		"TTL": mustTTL[string, string](t, 4, time.Minute, nil),
		"2Q":  mustTwoQueue[string, string](t, 4),
		"ARC": mustARC[string, string](t, 4),
		"Map": stores.NewMap[string, string](),
	} {
		requireHitAllocsNothing(t, ctx, name, s, "k")
		if n, ok := s.(pipeline.Notifier[string]); ok {
			n.Notify(func(pipeline.StoreEvent[string]) {})
			requireHitAllocsNothing(t, ctx, name+" notifying", s, "k")
		}
	}
	for name, s := range map[string]pipeline.Store[any, string]{
		"LRU any": mustLRU[any, string](t, 4),
		"2Q any":  mustTwoQueue[any, string](t, 4),
		"ARC any": mustARC[any, string](t, 4),
		"Map any": stores.NewMap[any, string](),
	} {
		requireHitAllocsNothing[any](t, ctx, name, s, 42)
	}
}

func requireHitAllocsNothing[K comparable](t *testing.T, ctx context.Context, name string, s pipeline.Store[K, string], key K) {
	t.Helper()
	require.NoError(t, s.Set(ctx, key, "v"))
	_, _, _ = s.Get(ctx, key) // 2Q, ARC: the second use makes the key frequent
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok, _ := s.Get(ctx, key); !ok {
			panic("miss")
		}
	})
	require.Zero(t, allocs, name)
}
