package disk_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/stores/disk"
)

// entryPath matches the path of an entry's file, relative to the store's
// directory: a fan-out subdirectory, then a name of [0-9a-v] after 'k' or
// 'h'.
var entryPath = regexp.MustCompile(`^[0-9a-f]{2}/[kh][0-9a-v]*$`)

// hostileKeys are keys that could name a file outside the directory, or no
// file, or one that collides with another key's on some file system.
var hostileKeys = []string{
	"",
	".",
	"..",
	"../../etc/passwd",
	"/etc/passwd",
	`..\..\windows\system32`,
	"a/b",
	"lock",
	"tmp",
	"00",
	"CON",
	"A",
	"a",
	"nul\x00byte",
	"\xff\xfe invalid utf-8 \xc3",
	"trailing dot.",
	"trailing space ",
	strings.Repeat("x", 64),
	strings.Repeat("x", 65),
	strings.Repeat("../", 1000),
	strings.Repeat("é", 5000),
}

func TestHostileKeysRoundTripInsideTheDirectory(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "store")
	s := mustOpen(t, dir, 1<<30, nil)
	ctx := t.Context()
	for i, k := range hostileKeys {
		require.NoError(t, s.Set(ctx, k, []byte{byte(i)}), "key %q", k)
	}
	for i, k := range hostileKeys {
		v, ok, err := s.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok, "key %q", k)
		require.Equal(t, []byte{byte(i)}, v, "key %q: every key has a file of its own", k)
	}
	require.Equal(t, len(hostileKeys), s.Len())
	requireOnlyEntryFiles(t, root, dir)
	require.Len(t, entryFiles(t, dir), len(hostileKeys))
}

// requireOnlyEntryFiles requires that root holds nothing but the store's
// directory dir, and dir nothing but its lock, its tmp directory and entry
// files in fan-out subdirectories.
func requireOnlyEntryFiles(t *testing.T, root, dir string) {
	t.Helper()
	for p := range files(t, root) {
		rel, err := filepath.Rel(dir, filepath.Join(root, p))
		require.NoError(t, err)
		require.True(t, filepath.IsLocal(rel), "%s is outside the store's directory", p)
		if rel != "lock" {
			require.Regexp(t, entryPath, filepath.ToSlash(rel))
		}
	}
}

// FuzzHostileKeyStaysInsideTheDirectory checks that no key makes a file
// outside the store's directory or out of its naming scheme, and that every
// key reads back its own value. Its seed corpus is in testdata/fuzz.
func FuzzHostileKeyStaysInsideTheDirectory(f *testing.F) {
	f.Add("../../etc/passwd", []byte("x"))
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		root := t.TempDir()
		dir := filepath.Join(root, "store")
		s, err := disk.Open(dir, 1<<30, nil)
		require.NoError(t, err)
		defer s.Close()
		ctx := t.Context()
		require.NoError(t, s.Set(ctx, key, value))
		requireOnlyEntryFiles(t, root, dir)
		require.Len(t, entryFiles(t, dir), 1)

		// Another key never reads this key's file.
		_, ok, err := s.Get(ctx, key+"\x00")
		require.NoError(t, err)
		require.False(t, ok)

		v, ok, err := s.Get(ctx, key)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, string(value), string(v))
		require.NoError(t, s.Delete(ctx, key))
		require.Empty(t, entryFiles(t, dir))
	})
}
