package testkit_test

import (
	"fmt"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
)

func ExampleClock() {
	c := testkit.NewClock()
	start := c.Now()
	c.Advance(time.Minute)
	fmt.Println(c.Now().Sub(start))
	// Output: 1m0s
}
