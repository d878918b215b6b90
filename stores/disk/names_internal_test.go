package disk

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFileNamesAreLocalCanonicalAndReversibleWhenShort(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		key    string
		inName bool // the key can be read back from the name
	}{
		{name: "empty", key: "", inName: true},
		{name: "parent", key: "../..", inName: true},
		{name: "binary", key: "\x00\xff/\\", inName: true},
		{name: "64 bytes", key: strings.Repeat("x", 64), inName: true},
		{name: "65 bytes", key: strings.Repeat("x", 65)},
		{name: "a megabyte", key: strings.Repeat("../", 1<<18)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := fileName(tc.key)
			require.True(t, filepath.IsLocal(name))
			require.Equal(t, name, filepath.Base(name))
			require.LessOrEqual(t, len(name), 104)
			require.True(t, validName(name))
			key, ok := keyInName(name)
			require.Equal(t, tc.inName, ok)
			if ok {
				require.Equal(t, tc.key, key)
			}
		})
	}
}

func TestNonCanonicalNamesAreNotValid(t *testing.T) {
	t.Parallel()
	name := fileName("a") // "k" and two base32 digits, the last with unused bits
	other := name[:len(name)-1] + string(name[len(name)-1]+1)
	key, ok := keyInName(other)
	require.True(t, ok && key == "a", "base32 decodes %q to %q too", other, key)
	require.False(t, validName(other))
	for _, bad := range []string{"", "k/", "K0", "x", "h" + strings.Repeat("0", 10), "kw"} {
		require.False(t, validName(bad), bad)
	}
}

// TestValidNameIsDecodableAndCanonical checks validName against its
// definition: a name that decodes, and that fileName gives its key.
func TestValidNameIsDecodableAndCanonical(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz."
	for range 100_000 {
		b := make([]byte, rng.IntN(14))
		for i := range b {
			b[i] = digits[rng.IntN(len(digits))]
		}
		name := "k" + string(b)
		key, ok := keyInName(name)
		require.Equal(t, ok && fileName(key) == name, validName(name), name)
	}
	for range 1000 {
		key := make([]byte, rng.IntN(200))
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		require.True(t, validName(fileName(string(key))))
	}
}
