package served_test

import (
	"context"
	"fmt"

	"github.com/multilayer-cache/multilayer/internal/served"
	"github.com/multilayer-cache/multilayer/pipeline"
)

func ExampleAnswer() {
	var a served.Answer
	ctx := context.Background()
	a.Observe(ctx, pipeline.Event[any]{Layer: "local", Kind: pipeline.Miss})
	a.Observe(ctx, pipeline.Event[any]{Layer: "redis", Kind: pipeline.Hit})
	a.Observe(ctx, pipeline.Event[any]{Layer: "local", Kind: pipeline.Fill})
	fmt.Println(a.Result())
	// Output: redis hit true
}

func ExampleAnswer_NotFound() {
	ctx := context.Background()
	var remembered, fromSource served.Answer
	remembered.Observe(ctx, pipeline.Event[any]{Layer: "local", Kind: pipeline.Miss})
	remembered.Observe(ctx, pipeline.Event[any]{Layer: "redis", Kind: pipeline.NegativeHit})
	fromSource.Observe(ctx, pipeline.Event[any]{Layer: "local", Kind: pipeline.Miss})
	fmt.Println(remembered.NotFound(), fromSource.NotFound())
	// Output: redis source
}
