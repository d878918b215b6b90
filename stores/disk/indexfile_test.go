package disk_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/disk"
)

func TestCloseWritesTheIndexAndOpenTakesIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	index := filepath.Join(dir, "index")
	s := mustOpen(t, dir, 1<<20, nil)
	require.NoFileExists(t, index)
	require.NoError(t, s.Set(t.Context(), "a", []byte("1")))
	require.NoError(t, s.Close())
	require.FileExists(t, index)

	s = mustOpen(t, dir, 1<<20, nil)
	require.NoFileExists(t, index, "once the store may write, the index would go stale")
	require.Equal(t, pipeline.Usage{Entries: 1, Bytes: fileSize("a", 1), MaxBytes: 1 << 20}, s.Usage())
}

func TestOpenChecksTheIndexAgainstTheDirectory(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	require.NoError(t, s.Set(ctx, "a", []byte("1")))
	aFile := onlyFile(t, dir)
	require.NoError(t, s.Set(ctx, "b", []byte("2")))
	require.NoError(t, s.Close())

	// Behind the store's back: a's file goes, and c's file (made by
	// another store) comes.
	otherDir := t.TempDir()
	other := mustOpen(t, otherDir, 1<<20, nil)
	require.NoError(t, other.Set(ctx, "c", []byte("3")))
	cFile := onlyFile(t, otherDir)
	rel, err := filepath.Rel(otherDir, cFile)
	require.NoError(t, err)
	c, err := os.ReadFile(cFile)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o777))
	require.NoError(t, os.WriteFile(filepath.Join(dir, rel), c, 0o666))
	require.NoError(t, os.Remove(aFile))

	s = mustOpen(t, dir, 1<<20, nil)
	on := entryFiles(t, dir)
	require.Equal(t, pipeline.Usage{Entries: 2, Bytes: totalSize(on), MaxBytes: 1 << 20}, s.Usage())
	for k, want := range map[string]string{"a": "", "b": "2", "c": "3"} {
		v, ok, err := s.Get(ctx, k)
		require.NoError(t, err)
		require.Equal(t, want != "", ok, k)
		require.Equal(t, want, string(v), k)
	}
}

func TestDamagedIndexMeansOpenStatsEveryFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func(index []byte) []byte
	}{
		{name: "truncated", damage: func(b []byte) []byte { return b[:len(b)-3] }},
		{name: "flipped byte", damage: func(b []byte) []byte { b[20] ^= 1; return b }},
		{name: "empty", damage: func([]byte) []byte { return nil }},
		{name: "another version", damage: func(b []byte) []byte { b[4] = 9; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := mustOpen(t, dir, 1<<20, nil)
			for _, k := range []string{"a", "b", "c"} {
				require.NoError(t, s.Set(t.Context(), k, []byte(k)))
			}
			want := s.Usage()
			require.NoError(t, s.Close())
			index := filepath.Join(dir, "index")
			b, err := os.ReadFile(index)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(index, tc.damage(b), 0o666))

			s = mustOpen(t, dir, 1<<20, nil)
			require.Equal(t, want, s.Usage())
			require.NoFileExists(t, index)
		})
	}
}

func TestReopenAfterCloseKeepsTheExactOrderOfUse(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock() // it never moves: every entry has the same time
	dir := t.TempDir()
	opts := &disk.Options{Clock: clock.Now}
	s := mustOpen(t, dir, 1<<20, opts)
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c", "d"} {
		require.NoError(t, s.Set(ctx, k, make([]byte, 100)))
	}
	for _, k := range []string{"b", "a"} { // c d b a, least recent first
		_, ok, err := s.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok)
	}
	require.NoError(t, s.Close())

	s = mustOpen(t, dir, 4*fileSize("a", 100), opts)
	ev := record(s)
	for _, k := range []string{"e", "f", "g"} {
		require.NoError(t, s.Set(ctx, k, make([]byte, 100)))
	}
	require.Equal(t, []string{"c", "d", "b"}, ev.evicted())
}

func TestCloseDuringWritesLeavesAConsistentDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := disk.Open(dir, 64<<10, nil)
	require.NoError(t, err)
	ctx := t.Context()
	var wg sync.WaitGroup
	started := make(chan struct{})
	errs := make([]error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				if w == 0 && i == 10 {
					close(started)
				}
				if err := s.Set(ctx, fmt.Sprintf("w%d-%d", w, i%50), make([]byte, 1000)); err != nil {
					if !errors.Is(err, disk.ErrClosed) {
						errs[w] = err
					}
					return
				}
			}
		})
	}
	<-started
	require.NoError(t, s.Close())
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}

	require.Empty(t, tempFiles(t, dir), "a write that met the Close removed its temporary file")
	s = mustOpen(t, dir, 64<<10, nil)
	on := entryFiles(t, dir)
	require.Equal(t, pipeline.Usage{Entries: len(on), Bytes: totalSize(on), MaxBytes: 64 << 10}, s.Usage())
}
