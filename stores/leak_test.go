//go:build !race

// These tests measure the heap over hundreds of thousands of calls: the
// race detector makes them take minutes and adds nothing to them, so they
// are left out of -race builds (rather than skipped, which CI forbids);
// `go test ./stores/` runs them.

package stores_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// 200k fetches of NaN keys leave every store as it was: a NaN was never
// equal to itself, so each one used to stay in the store's map for good.
// Not parallel: it measures the heap, which parallel tests would disturb
// (top-level tests that are not parallel run alone).
func TestNaNKeysLeakNothing(t *testing.T) {
	const n = 200_000
	ctx := t.Context()
	for name, s := range map[string]pipeline.BatchStore[float64, string]{
		"Map":     stores.NewMap[float64, string](),
		"LRU":     mustLRU[float64, string](t, 16),
		"TTL":     mustTTL[float64, string](t, 16, time.Minute, nil),
		"2Q":      mustTwoQueue[float64, string](t, 16),
		"ARC":     mustARC[float64, string](t, 16),
		"Encoded": stores.Encoded(mustLRU[float64, []byte](t, 16), stringCodec{}).(pipeline.BatchStore[float64, string]),
	} {
		t.Run(name, func(t *testing.T) {
			for i := range 16 {
				require.NoError(t, s.Set(ctx, float64(i), "v"))
			}
			before := testkit.HeapInUse()
			nan := math.NaN()
			for range n {
				if _, ok, err := s.Get(ctx, nan); ok || !errors.Is(err, pipeline.ErrInvalidKey) {
					t.Fatalf("Get(NaN) = %v, %v", ok, err)
				}
				if err := s.Set(ctx, nan, "v"); !errors.Is(err, pipeline.ErrInvalidKey) {
					t.Fatalf("Set(NaN) = %v", err)
				}
			}
			grown := int64(testkit.HeapInUse()) - int64(before)
			require.Less(t, grown, int64(256<<10), "the heap grew by %d bytes", grown)
			if l, ok := s.(interface{ Len() int }); ok {
				require.Equal(t, 16, l.Len())
			}
		})
	}
}

// 200k fetches of NaN keys through a cache layer over each stock store
// leave the store empty and the heap as it was: whether the layer refuses
// the key or the store does, nothing is kept for it. Not parallel: it
// measures the heap.
func TestNaNFetchesThroughACacheLeakNothing(t *testing.T) {
	ctx := t.Context()
	src := pipeline.FetcherFunc[float64, string](func(context.Context, float64) (string, error) { return "v", nil })
	for name, s := range map[string]interface {
		pipeline.Store[float64, string]
		Len() int
	}{
		"Map": stores.NewMap[float64, string](),
		"LRU": mustLRU[float64, string](t, 16),
		"TTL": mustTTL[float64, string](t, 16, time.Minute, nil),
		"2Q":  mustTwoQueue[float64, string](t, 16),
		"ARC": mustARC[float64, string](t, 16),
	} {
		t.Run(name, func(t *testing.T) {
			f := pipeline.Cache("l", s, nil)(src)
			defer func() { _ = f.(pipeline.Closer).Close() }()
			before := testkit.HeapInUse()
			nan := math.NaN()
			for range 200_000 {
				_, _ = f.Fetch(ctx, nan)
			}
			grown := int64(testkit.HeapInUse()) - int64(before)
			require.Less(t, grown, int64(256<<10), "the heap grew by %d bytes", grown)
			require.Zero(t, s.Len())
		})
	}
}
