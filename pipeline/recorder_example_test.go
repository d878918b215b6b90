package pipeline_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// kindCounts is a Recorder that counts the events of every layer by kind.
// middleware.Metrics is the one to use; this shows the contract.
type kindCounts struct {
	mu sync.Mutex
	n  map[string]int // "layer kind" → count
}

func (c *kindCounts) LayerObserver(name string) pipeline.Observer[any] {
	return pipeline.ObserverFunc[any](func(_ context.Context, e pipeline.Event[any]) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.n[fmt.Sprintf("%s %v", name, e.Kind)]++
	})
}

// Every layer given the same Recorder records under its own name: the name
// is written once, in the layer's constructor.
func ExampleRecorder() {
	source := pipeline.FetcherFunc[int, string](func(_ context.Context, id int) (string, error) {
		return fmt.Sprint("user ", id), nil
	})
	counts := &kindCounts{n: make(map[string]int)}
	opts := &pipeline.CacheOptions[int]{Metrics: counts}
	users := pipeline.Chain(
		pipeline.Cache("local", stores.NewMap[int, string](), opts),
		pipeline.Cache("shared", stores.NewMap[int, string](), opts),
	)(source)

	for _, id := range []int{1, 1, 2} {
		_, _ = users.Fetch(context.Background(), id)
	}
	fmt.Println(counts.n["local hit"], counts.n["local miss"], counts.n["shared miss"], counts.n["shared fill"])
	// Output:
	// 1 2 2 2
}
