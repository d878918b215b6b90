package stores_test

import (
	"testing"

	"github.com/multilayer-cache/multilayer/internal/testkit"
)

// TestReadmeShowsExampleLRUCache keeps the README's common case identical
// to ExampleLRUCache, which go test checks.
func TestReadmeShowsExampleLRUCache(t *testing.T) {
	t.Parallel()
	testkit.ReadmeShows(t, "../README.md", "layer_example_test.go", "ExampleLRUCache")
}
