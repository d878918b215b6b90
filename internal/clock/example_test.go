package clock_test

import (
	"fmt"
	"time"

	"github.com/multilayer-cache/multilayer/internal/clock"
)

// A reader uses the coarse time only to decide "not yet expired", and reads
// time.Now otherwise, as the stock stores do.
func ExampleCoarse() {
	expires := time.Now().Add(time.Hour).UnixNano()
	fresh := clock.Coarse() < expires || time.Now().UnixNano() < expires
	fmt.Println(fresh)
	// Output: true
}
