package plumbing_test

import (
	"fmt"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
)

type closer struct{ name string }

func (c closer) Close() error { fmt.Println("closed", c.name); return nil }

// A layer shared by two layers above closes when the second of them
// releases it.
func ExampleInward() {
	shared := &plumbing.Inward{Next: closer{"below"}}
	plumbing.Hold(shared) // the left layer is built over it
	plumbing.Hold(shared) // the right one too
	fmt.Println("left closes")
	_ = plumbing.Release(shared)
	fmt.Println("right closes")
	_ = plumbing.Release(shared)
	// Output:
	// left closes
	// right closes
	// closed below
}
