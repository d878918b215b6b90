package paired_test

import (
	"fmt"
	"testing"

	"github.com/multilayer-cache/multilayer/internal/paired"
)

var sink int

// work does n units of busy work.
func work(n int) {
	for i := range n {
		sink += i ^ sink
	}
}

func ExampleRun() {
	r := testing.Benchmark(func(b *testing.B) {
		paired.Run(b, 100,
			paired.Impl{Name: "one", Run: func(n int) { work(n * 100) }},
			paired.Impl{Name: "ten", Run: func(n int) { work(n * 1000) }},
		)
	})
	ratio := r.Extra["x-ten"]
	fmt.Println("ten takes longer than one:", ratio > 3)
	// Output: ten takes longer than one: true
}
