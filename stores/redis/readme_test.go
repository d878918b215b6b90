package redis_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeShowsExampleNew keeps the README's Redis example identical to
// ExampleNew, which the compiler checks.
func TestReadmeShowsExampleNew(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	s := string(src)
	i := strings.Index(s, "func ExampleNew() {")
	require.GreaterOrEqual(t, i, 0)
	j := strings.Index(s[i:], "\n}\n")
	require.Greater(t, j, 0)

	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	require.Contains(t, string(readme), "```go\n"+s[i:i+j+3]+"```", "README.md shows ExampleNew unchanged")
}

// TestReadmeShowsExampleCoherent keeps the README's example of the bus
// identical to ExampleCoherent, which the compiler checks.
func TestReadmeShowsExampleCoherent(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	s := string(src)
	i := strings.Index(s, "func ExampleCoherent() {")
	require.GreaterOrEqual(t, i, 0)
	j := strings.Index(s[i:], "\n}\n")
	require.Greater(t, j, 0)

	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	require.Contains(t, string(readme), "```go\n"+s[i:i+j+3]+"```", "README.md shows ExampleCoherent unchanged")
}
