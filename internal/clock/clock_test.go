package clock_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/clock"
)

func TestNanosFollowsTimeNowWithinResolution(t *testing.T) {
	t.Parallel()
	for range 50 {
		before := time.Now().UnixNano()
		got := clock.Nanos()
		after := time.Now().UnixNano()
		// The ticker may lag on a loaded machine; allow it generously, but
		// never a time from the future.
		require.LessOrEqual(t, got, after)
		require.Greater(t, got, before-int64(time.Second))
	}
}

func BenchmarkNanos(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		clock.Nanos()
	}
}

func BenchmarkTimeNow(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		time.Now()
	}
}
