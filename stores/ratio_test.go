package stores_test

import (
	"testing"

	arc "github.com/hashicorp/golang-lru/arc/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/trace"
)

// TwoQueue and ARC keep the keys golang-lru's 2Q and ARC keep: on the same
// Zipf traces, they hit exactly as often, and never hold more than their
// capacity. (When every key is in ARC's list of keys used once and the
// policy wants to evict from the other, golang-lru's ARC evicts nothing and
// holds one entry more than its capacity; ours evicts from the first list.
// Only a tiny capacity makes that common enough to move the hit ratio.)
func TestTwoQueueAndARCHitAsOftenAsGolangLRU(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		trace    []uint64
		capacity int
		arcDelta float64 // how far ARC's hit ratio may be from golang-lru's
	}{
		{name: "standard", trace: trace.Standard(), capacity: trace.StandardCapacity},
		{name: "skewed, small", trace: trace.Zipf(7, 1.3, 2_000, 200_000), capacity: 50},
		{name: "flat, tiny", trace: trace.Zipf(3, 1.001, 100, 50_000), capacity: 3, arcDelta: 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			raw2Q, err := lru.New2Q[uint64, int](tc.capacity)
			require.NoError(t, err)
			rawARC, err := arc.NewARC[uint64, int](tc.capacity)
			require.NoError(t, err)
			q := mustTwoQueue[uint64, int](t, tc.capacity)
			a := mustARC[uint64, int](t, tc.capacity)

			want2Q := trace.Replay(tc.trace,
				func(k uint64) bool { _, ok := raw2Q.Get(k); return ok },
				func(k uint64) { raw2Q.Add(k, 1) })
			got2Q := trace.Replay(tc.trace,
				func(k uint64) bool { _, ok, _ := q.Get(ctx, k); return ok },
				func(k uint64) {
					_ = q.Set(ctx, k, 1)
					if q.Len() > tc.capacity {
						panic("2Q over capacity")
					}
				})
			require.Equal(t, want2Q, got2Q, "2Q")

			wantARC := trace.Replay(tc.trace,
				func(k uint64) bool { _, ok := rawARC.Get(k); return ok },
				func(k uint64) { rawARC.Add(k, 1) })
			gotARC := trace.Replay(tc.trace,
				func(k uint64) bool { _, ok, _ := a.Get(ctx, k); return ok },
				func(k uint64) {
					_ = a.Set(ctx, k, 1)
					if a.Len() > tc.capacity {
						panic("ARC over capacity")
					}
				})
			require.InDelta(t, wantARC, gotARC, tc.arcDelta, "ARC")
			t.Logf("2Q %.2f%%, ARC %.2f%%", got2Q, gotARC)
		})
	}
}
