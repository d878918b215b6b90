package disk_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// A least recently used file that cannot be removed (here a non-empty
// directory in its place, which even root cannot remove) does not stop the
// store from making room: eviction reports it as an Error, passes over it
// and evicts the next one, and the Sets succeed; it stays counted, as it
// stays on disk.
func TestFileThatCannotBeRemovedDoesNotStopSets(t *testing.T) {
	t.Parallel()
	value := []byte(strings.Repeat("v", 100))
	dir := t.TempDir()
	s := mustOpen(t, dir, 3*fileSize("k", len(value)), nil)
	ev := record(s)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "s", value))
	p := onlyFile(t, dir)
	require.NoError(t, os.Remove(p))
	require.NoError(t, os.Mkdir(p, 0o777))
	require.NoError(t, os.WriteFile(filepath.Join(p, "x"), nil, 0o666))

	for _, k := range []string{"a", "b", "c", "d", "e"} {
		require.NoError(t, s.Set(ctx, k, value), "set %s", k)
	}
	require.Equal(t, 3, s.Len(), "the stuck entry and the two newest")
	_, ok, err := s.Get(ctx, "e")
	require.NoError(t, err)
	require.True(t, ok)
	var stuck int
	for _, e := range ev.all() {
		if e.Kind == pipeline.Error {
			require.Equal(t, "s", e.Key)
			require.Error(t, e.Err)
			stuck++
		}
	}
	require.Positive(t, stuck, "the file that could not be removed is reported")
	require.Equal(t, []string{"a", "b", "c"}, ev.evicted())
}

// When no file can be removed, a Set that needs room fails with the
// removal's error instead of looping.
func TestSetFailsWhenNoFileCanBeRemoved(t *testing.T) {
	t.Parallel()
	value := []byte(strings.Repeat("v", 100))
	dir := t.TempDir()
	s := mustOpen(t, dir, 2*fileSize("k", len(value)), nil)
	ctx := t.Context()
	for _, k := range []string{"a", "b"} {
		require.NoError(t, s.Set(ctx, k, value))
	}
	for p := range entryFiles(t, dir) {
		p = filepath.Join(dir, p)
		require.NoError(t, os.Remove(p))
		require.NoError(t, os.Mkdir(p, 0o777))
		require.NoError(t, os.WriteFile(filepath.Join(p, "x"), nil, 0o666))
	}
	require.Error(t, s.Set(ctx, "c", value))
	require.Equal(t, 2, s.Len())
}
