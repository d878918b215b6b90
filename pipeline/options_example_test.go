package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// A key the source does not have is remembered for NegativeTTL: repeated
// lookups of a missing key do not reach the source until it expires.
func ExampleCacheOptions_negativeTTL() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }

	calls := 0
	users := pipeline.FetcherFunc[int, string](func(_ context.Context, id int) (string, error) {
		calls++
		return "", fmt.Errorf("users: %d: %w", id, pipeline.ErrNotFound)
	})
	store, _ := stores.NewLRU[int, string](100)
	f := pipeline.Cache("users", store, &pipeline.CacheOptions[int]{
		NegativeTTL: 30 * time.Second,
		Clock:       clock,
	})(users)

	ctx := context.Background()
	for range 3 {
		_, err := f.Fetch(ctx, 42)
		fmt.Println(errors.Is(err, pipeline.ErrNotFound), "source calls:", calls)
	}
	now = now.Add(30 * time.Second)
	_, err := f.Fetch(ctx, 42)
	fmt.Println(errors.Is(err, pipeline.ErrNotFound), "source calls:", calls)
	// Output:
	// true source calls: 1
	// true source calls: 1
	// true source calls: 1
	// true source calls: 2
}

// When the source fails and the layer holds a value that expired less than
// StaleIfError ago, the layer serves that value, and reports the failure as
// a StaleServed event: the caller gets an answer, metrics and logs see the
// outage.
func ExampleCacheOptions_staleIfError() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }

	var down error
	prices := pipeline.FetcherFunc[string, int](func(_ context.Context, sku string) (int, error) {
		if down != nil {
			return 0, down
		}
		return 1299, nil
	})
	events := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
		if e.Kind == pipeline.StaleServed {
			fmt.Println("event:", e)
		}
	})
	store, _ := stores.NewLRU[string, int](100)
	f := pipeline.Cache("prices", store, &pipeline.CacheOptions[string]{
		TTL:          time.Minute,
		StaleIfError: 10 * time.Minute,
		Observer:     events,
		Clock:        clock,
	})(prices)

	ctx := context.Background()
	p, err := f.Fetch(ctx, "sku-1")
	fmt.Println(p, err)

	down = errors.New("pricing service unavailable")
	now = now.Add(5 * time.Minute) // expired, but within the grace period
	p, err = f.Fetch(ctx, "sku-1")
	fmt.Println(p, err)

	now = now.Add(10 * time.Minute) // past the grace period
	_, err = f.Fetch(ctx, "sku-1")
	fmt.Println(err)
	// Output:
	// 1299 <nil>
	// event: stale served prices sku-1: pricing service unavailable
	// 1299 <nil>
	// pipeline: prices: pricing service unavailable
}
