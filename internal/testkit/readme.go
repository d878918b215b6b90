package testkit

import (
	"os"
	"strings"
	"testing"
)

// ReadmeShows fails t unless the Markdown file readme shows the function
// name of the Go file file, whole, as a go code block: a README's copy of a
// checked example stays the code that go test checks.
func ReadmeShows(t testing.TB, readme, file, name string) {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	i := strings.Index(s, "func "+name+"() {")
	if i < 0 {
		t.Fatalf("%s has no func %s", file, name)
	}
	j := strings.Index(s[i:], "\n}\n")
	if j < 0 {
		t.Fatalf("func %s in %s does not end", name, file)
	}
	text, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "```go\n"+s[i:i+j+3]+"```") {
		t.Errorf("%s does not show %s of %s unchanged", readme, name, file)
	}
}
