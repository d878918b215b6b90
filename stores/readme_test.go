package stores_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeShowsExampleLRUCache keeps the README's common case identical
// to ExampleLRUCache, which go test checks.
func TestReadmeShowsExampleLRUCache(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("layer_example_test.go")
	require.NoError(t, err)
	s := string(src)
	i := strings.Index(s, "func ExampleLRUCache() {")
	require.GreaterOrEqual(t, i, 0)
	j := strings.Index(s[i:], "\n}\n")
	require.Greater(t, j, 0)

	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	require.Contains(t, string(readme), "```go\n"+s[i:i+j+3]+"```", "README.md shows ExampleLRUCache unchanged")
}
