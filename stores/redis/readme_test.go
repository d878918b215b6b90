package redis_test

import (
	"testing"

	"github.com/multilayer-cache/multilayer/internal/testkit"
)

// TestReadmeShowsTheRedisExamples keeps the README's examples of the Redis
// store and of the bus identical to ExampleNew and ExampleCoherent, which
// the compiler checks.
func TestReadmeShowsTheRedisExamples(t *testing.T) {
	t.Parallel()
	testkit.ReadmeShows(t, "../../README.md", "example_test.go", "ExampleNew")
	testkit.ReadmeShows(t, "../../README.md", "example_test.go", "ExampleCoherent")
}
