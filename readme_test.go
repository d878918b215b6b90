package multilayer_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/testkit"
)

// TestReadmeShowsTheExample keeps the README's 30-second example identical
// to the checked package example of pipeline, in
// pipeline/example_stack_test.go.
func TestReadmeShowsTheExample(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("pipeline/example_stack_test.go")
	require.NoError(t, err)
	s := string(src)
	begin, end := strings.Index(s, "// README:begin"), strings.Index(s, "// README:end")
	require.True(t, begin >= 0 && end > begin, "pipeline/example_stack_test.go marks the README's part")
	example := strings.Trim(s[begin+len("// README:begin"):end], "\n")

	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	require.True(t, strings.Contains(string(readme), "```go\n"+example+"\n```"), "README.md shows pipeline/example_stack_test.go's example unchanged")

	// The other examples the README shows whole (the rest it shows in
	// part, saying which example they come from).
	for _, e := range []struct{ file, name string }{
		{"pipeline/example_test.go", "ExampleFetchMany"},
		{"stores/disk/example_test.go", "ExampleOpen"},
	} {
		testkit.ReadmeShows(t, "README.md", e.file, e.name)
	}
}
