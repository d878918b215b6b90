package keys_test

import (
	"fmt"
	"math"

	"github.com/multilayer-cache/multilayer/internal/keys"
)

func ExampleValid() {
	// Checked at build time: only these key types can hold a bad key.
	fmt.Println(keys.MayBeInvalid[string](), keys.MayBeInvalid[float64](), keys.MayBeInvalid[any]())
	// Checked per key, for those.
	fmt.Println(keys.Valid(1.5), keys.Valid(math.NaN()), keys.Valid[any]([]int{1}))
	// Output:
	// false true true
	// true false false
}
