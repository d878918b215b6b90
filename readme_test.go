package multilayer_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeShowsTheExample keeps the README's 30-second example identical
// to the checked Example in example_test.go.
func TestReadmeShowsTheExample(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	s := string(src)
	begin, end := strings.Index(s, "// README:begin"), strings.Index(s, "// README:end")
	require.True(t, begin >= 0 && end > begin, "example_test.go marks the README's part")
	example := strings.Trim(s[begin+len("// README:begin"):end], "\n")

	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	require.True(t, strings.Contains(string(readme), "```go\n"+example+"\n```"), "README.md shows example_test.go's example unchanged")

	// The batch example, whole.
	src, err = os.ReadFile("pipeline/example_test.go")
	require.NoError(t, err)
	s = string(src)
	i := strings.Index(s, "func ExampleFetchMany() {")
	require.GreaterOrEqual(t, i, 0)
	j := strings.Index(s[i:], "\n}\n")
	require.Greater(t, j, 0)
	require.True(t, strings.Contains(string(readme), "```go\n"+s[i:i+j+3]+"```"), "README.md shows ExampleFetchMany unchanged")

	// The disk store's example, whole.
	src, err = os.ReadFile("stores/disk/example_test.go")
	require.NoError(t, err)
	s = string(src)
	i = strings.Index(s, "func ExampleOpen() {")
	require.GreaterOrEqual(t, i, 0)
	j = strings.Index(s[i:], "\n}\n")
	require.Greater(t, j, 0)
	require.True(t, strings.Contains(string(readme), "```go\n"+s[i:i+j+3]+"```"), "README.md shows disk's ExampleOpen unchanged")
}
