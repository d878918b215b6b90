//go:build !race

// Allocation counts are not meaningful under the race detector, so this
// test is left out of -race builds (rather than skipped, which CI forbids);
// `go test ./stores/otter/` runs it.

package otter_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/otter"
)

// A hit allocates nothing, with eviction reports on or off, and with Grace
// (which reads the clock on a hit of an entry with an expiry). Not
// parallel: testing.AllocsPerRun refuses to run in a parallel test.
func TestHitAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	for name, s := range map[string]*otter.Store[string, string]{
		"plain": mustNew[string, string](t, 100, nil),
		"grace": mustNew[string, string](t, 100, &otter.Options{Grace: time.Minute}),
	} {
		require.NoError(t, s.SetEntry(ctx, "k", pipeline.Entry[string]{Value: "v", Expires: time.Now().Add(time.Hour)}))
		hit := func() {
			if _, ok, _ := s.Get(ctx, "k"); !ok {
				panic("miss")
			}
		}
		require.Zero(t, testing.AllocsPerRun(100, hit), name)
		s.Notify(func(pipeline.StoreEvent[string]) {})
		require.Zero(t, testing.AllocsPerRun(100, hit), name+" notifying")
	}
}
