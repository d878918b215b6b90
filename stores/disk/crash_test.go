package disk_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A write killed before its rename leaves a temporary file beside the file
// it was to replace: the state is made here by hand, as a crash would
// leave it.
func TestLeftoverTemporaryFileIsInvisibleAndRemovedOnOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "a", []byte("old")))
	p := onlyFile(t, dir)
	committed, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	// A complete new file for "a" and half of one for "b", neither renamed.
	whole := append([]byte(nil), committed...)
	whole[len(whole)-1] = 'X'
	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(p), ".tmp-1"), whole, 0o666))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "00"), 0o777))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00", ".tmp-2"), committed[:20], 0o666))
	require.Len(t, tempFiles(t, dir), 2)

	s = mustOpen(t, dir, 1<<20, nil)
	require.Empty(t, tempFiles(t, dir), "Open removes temporary files")
	v, ok, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "old", string(v), "the unrenamed write is not visible")
	_, ok, err = s.Get(ctx, "b")
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, 1, s.Len())
	require.Equal(t, int64(len(committed)), s.Usage().Bytes, "temporary files do not count")
}

func TestOpenRemovesWhatIsNotAnEntryFromTheSubdirectories(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	require.NoError(t, s.Set(t.Context(), "a", []byte("1")))
	entry := onlyFile(t, dir)
	require.NoError(t, s.Close())

	sub := filepath.Dir(entry)
	other := "00"
	if filepath.Base(sub) == other {
		other = "01"
	}
	strays := []string{
		filepath.Join(sub, "notes.txt"),                 // not a name of ours
		filepath.Join(sub, "kZZ"),                       // not base32hex
		filepath.Join(dir, other, filepath.Base(entry)), // in the wrong subdirectory
		filepath.Join(sub, "h0123"),                     // a hash of the wrong length
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, other), 0o777))
	for _, p := range strays {
		require.NoError(t, os.WriteFile(p, []byte("stray"), 0o666))
	}
	outside := filepath.Join(dir, "README")
	require.NoError(t, os.WriteFile(outside, []byte("not the store's"), 0o666))

	s = mustOpen(t, dir, 1<<20, nil)
	require.Equal(t, 1, s.Len())
	for _, p := range strays {
		require.NoFileExists(t, p)
	}
	require.FileExists(t, entry)
	require.FileExists(t, outside, "Open leaves the top of the directory alone")
}
