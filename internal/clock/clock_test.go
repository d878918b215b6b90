package clock_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/clock"
)

func TestCoarseIsNeverAheadOfTimeNow(t *testing.T) {
	t.Parallel()
	seen := false
	for range 2000 {
		got := clock.Coarse()
		after := time.Now().UnixNano()
		if got != clock.Stopped { // else waking up
			seen = true
			require.LessOrEqual(t, got, after)
			require.Greater(t, got, after-int64(time.Minute), "the ticker runs")
		}
		time.Sleep(10 * time.Microsecond)
	}
	require.True(t, seen, "the clock never started")
}

func BenchmarkCoarse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		clock.Coarse()
	}
}

func BenchmarkTimeNow(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		time.Now()
	}
}

func TestMonoMeasuresElapsedTimeInsideASynctestBubbleToo(t *testing.T) {
	t.Parallel()
	a := clock.Mono()
	time.Sleep(time.Millisecond)
	require.GreaterOrEqual(t, clock.Mono()-a, time.Millisecond)
	synctest.Test(t, func(t *testing.T) {
		a := clock.Mono()
		time.Sleep(2 * time.Second)
		require.Equal(t, 2*time.Second, clock.Mono()-a, "the bubble's clock")
	})
}
