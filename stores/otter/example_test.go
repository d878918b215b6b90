package otter_test

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/otter"
)

func ExampleNew() {
	bucket := pipeline.FetcherFunc[string, string](func(_ context.Context, key string) (string, error) {
		return strings.ToUpper(key), nil
	})
	store, err := otter.New[string, string](10_000, nil)
	if err != nil {
		panic(err)
	}
	files := pipeline.Cache("files", store, nil)(bucket)

	ctx := context.Background()
	v, _ := files.Fetch(ctx, "a")
	fmt.Println(v)
	fmt.Printf("%+v\n", store.Usage())
	// Output:
	// A
	// {Entries:1 Capacity:10000 Bytes:0 MaxBytes:0}
}

func ExampleNewWeighted() {
	size := func(_ string, v []byte) uint32 { return uint32(len(v)) }
	store, err := otter.NewWeighted(1<<10, size, nil) // 1 KiB of values
	if err != nil {
		panic(err)
	}
	// A cache layer calls Notify when it is built; here we count.
	var mu sync.Mutex
	evicted := map[string]bool{}
	store.Notify(func(e pipeline.StoreEvent[string]) {
		mu.Lock()
		evicted[e.Key] = true
		mu.Unlock()
	})

	ctx := context.Background()
	_ = store.Set(ctx, "huge", make([]byte, 2<<10)) // heavier than the budget
	for i := range 20 {
		_ = store.Set(ctx, fmt.Sprint("page", i), make([]byte, 100))
	}
	store.CleanUp() // otter evicts in its maintenance: wait for it
	u := store.Usage()
	mu.Lock()
	fmt.Println("huge refused:", evicted["huge"])
	fmt.Println("entries held + evicted:", u.Entries+len(evicted))
	mu.Unlock()
	fmt.Println("within budget:", u.Bytes <= u.MaxBytes)
	// Output:
	// huge refused: true
	// entries held + evicted: 21
	// within budget: true
}
