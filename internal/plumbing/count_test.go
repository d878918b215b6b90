package plumbing_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
)

func TestCountSumsWhatEveryGoroutineAdded(t *testing.T) {
	t.Parallel()
	var c plumbing.Count
	require.Zero(t, c.Load())
	const goroutines, adds = 16, 1000
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range adds {
				c.Add(1)
			}
		})
	}
	wg.Wait()
	c.Add(5)
	require.EqualValues(t, goroutines*adds+5, c.Load())
}

// BenchmarkCount compares a Count with one atomic counter, added to by
// every goroutine (run it with -cpu 1,2 and more).
//
//	go test -run '^$' -bench Count -cpu 1,2 -count 6 ./internal/plumbing/
func BenchmarkCount(b *testing.B) {
	b.Run("impl=atomic", func(b *testing.B) {
		var n atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n.Add(1)
			}
		})
	})
	b.Run("impl=count", func(b *testing.B) {
		var c plumbing.Count
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Add(1)
			}
		})
	})
}
