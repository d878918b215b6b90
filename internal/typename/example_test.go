package typename_test

import (
	"fmt"

	"github.com/multilayer-cache/multilayer/internal/typename"
)

func ExampleOf() {
	fmt.Println(typename.Of[[]byte]())
	fmt.Println(typename.Of[map[string]any]())
	fmt.Println(typename.Of[pair[string, []byte]]())
	// Output:
	// []byte
	// map[string]any
	// typename_test.pair[string, []byte]
}
