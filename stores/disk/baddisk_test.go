package disk_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/stores/disk"
)

type badDir struct {
	name string
	dir  string
}

func TestOpenOfADirectoryThatCannotBeMadeOrWrittenIsAnError(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	file := filepath.Join(root, "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o666))
	cases := []badDir{
		{name: "a regular file", dir: file},
		{name: "under a regular file", dir: filepath.Join(file, "store")},
		{name: "under /dev/null", dir: "/dev/null/store"},
		{name: "a name too long", dir: filepath.Join(root, strings.Repeat("d", 300))},
	}
	if runtime.GOOS == "linux" {
		// Root may write anywhere the permissions forbid, but not in /proc.
		cases = append(cases, badDir{name: "an existing directory that cannot be written", dir: "/proc/self"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := disk.Open(tc.dir, 1<<20, nil)
			require.Error(t, err)
			require.Nil(t, s)
		})
	}
}

func TestFailingWriteIsAnErrorForThatWriteOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "a", []byte("old")))
	p := onlyFile(t, dir)
	var other string // a key whose file goes to another subdirectory
	for i := 0; other == ""; i++ {
		k := fmt.Sprint("b", i)
		require.NoError(t, s.Set(ctx, k, []byte("kept")))
		if len(entryFiles(t, filepath.Dir(p))) == 1 {
			other = k
		} else {
			require.NoError(t, s.Delete(ctx, k))
		}
	}

	// a's subdirectory becomes a file: no write can make a file in it.
	sub := filepath.Dir(p)
	require.NoError(t, os.RemoveAll(sub))
	require.NoError(t, os.WriteFile(sub, nil, 0o666))
	require.Error(t, s.Set(ctx, "a", []byte("new")))
	_, ok, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.False(t, ok, "the failed write leaves its key absent")
	v, ok, err := s.Get(ctx, other)
	require.NoError(t, err)
	require.True(t, ok, "other keys are untouched")
	require.Equal(t, "kept", string(v))
	require.Empty(t, tempFiles(t, dir))
	require.Equal(t, 1, s.Len())

	require.NoError(t, os.Remove(sub))
	require.NoError(t, s.Set(ctx, "a", []byte("new")), "the store works again once the disk does")
	v, ok, err = s.Get(ctx, "a")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "new", string(v))
}

func TestFailingRenameIsAnErrorAndLeavesNoTemporaryFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "a", []byte("1")))
	p := onlyFile(t, dir)
	require.NoError(t, os.Remove(p))
	require.NoError(t, os.Mkdir(p, 0o777))                              // a directory in the file's place:
	require.NoError(t, os.WriteFile(filepath.Join(p, "x"), nil, 0o666)) // no rename replaces it

	require.Error(t, s.Set(ctx, "a", []byte("2")))
	require.Empty(t, tempFiles(t, dir))
	_, ok, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.False(t, ok)
}
