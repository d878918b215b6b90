package stores

import "testing"

// TestByValue checks which items an lruCore holds by value: those of four
// words or less.
func TestByValue(t *testing.T) {
	t.Parallel()
	type doc struct{ Key, Value string }
	for _, tc := range []struct {
		name string
		got  bool
		want bool
	}{
		{"int", byValue[int](), true},
		{"string", byValue[string](), true},
		{"[]byte", byValue[[]byte](), true},
		{"pointer", byValue[*doc](), true},
		{"two strings", byValue[doc](), false},
		{"[4]int64", byValue[[4]int64](), false},
	} {
		if tc.got != tc.want {
			t.Errorf("byValue[%s]() = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}
