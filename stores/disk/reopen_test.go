package disk_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/disk"
)

// fill writes n entries of valueLen bytes, keys "key-0" to "key-<n-1>",
// with 8 writers.
func fill(t testing.TB, s *disk.Store, n, valueLen int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				if err := s.Set(t.Context(), fmt.Sprintf("key-%d", i), make([]byte, valueLen)); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

func TestReopenOfTenThousandEntriesRestoresTheIndexAndTheBudget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		crash bool // no index file: Open stats every file
	}{
		{name: "after Close"},
		{name: "after a crash", crash: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reopenTenThousand(t, tc.crash)
		})
	}
}

func reopenTenThousand(t *testing.T, crash bool) {
	const n, valueLen = 10_000, 100
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<30, nil)
	fill(t, s, n, valueLen)
	before := s.Usage()
	require.Equal(t, n, before.Entries)
	require.NoError(t, s.Close())
	if crash {
		require.NoError(t, os.Remove(filepath.Join(dir, "index")))
	}

	s = mustOpen(t, dir, 1<<30, nil)
	require.Equal(t, before, s.Usage())
	ctx := t.Context()
	for i := 0; i < n; i += 97 {
		_, ok, err := s.Get(ctx, fmt.Sprintf("key-%d", i))
		require.NoError(t, err)
		require.True(t, ok, i)
	}
	require.NoError(t, s.Close())

	// A smaller budget: Open evicts down to it.
	half := before.Bytes / 2
	s = mustOpen(t, dir, half, nil)
	u := s.Usage()
	require.LessOrEqual(t, u.Bytes, half)
	require.Greater(t, u.Bytes, half-fileSize("key-0000", valueLen))
	on := entryFiles(t, dir)
	require.Equal(t, u.Bytes, totalSize(on))
	require.Len(t, on, u.Entries)

	// The budget holds from then on.
	require.NoError(t, s.Set(ctx, "one more", make([]byte, valueLen)))
	require.LessOrEqual(t, totalSize(entryFiles(t, dir)), half)
}

func TestReopenEvictsTheFilesReadLeastRecentlyFirst(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock()
	dir := t.TempDir()
	opts := &disk.Options{Clock: clock.Now}
	s := mustOpen(t, dir, 1<<20, opts)
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c", "d"} {
		require.NoError(t, s.Set(ctx, k, make([]byte, 100)))
	}
	clock.Advance(2 * time.Minute)
	for _, k := range []string{"c", "a"} {
		_, ok, err := s.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok)
	}
	require.NoError(t, s.Close())

	s = mustOpen(t, dir, 2*fileSize("a", 100), opts)
	require.Equal(t, 2, s.Len())
	for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": false} {
		_, ok, err := s.Get(ctx, k)
		require.NoError(t, err)
		require.Equal(t, want, ok, k)
	}
}

func TestReadUpdatesTheModificationTimeAtMostEveryTouchEvery(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, &disk.Options{Clock: clock.Now, TouchEvery: time.Minute})
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "a", []byte("1")))
	p := onlyFile(t, dir)
	mtime := func() time.Time {
		info, err := os.Stat(p)
		require.NoError(t, err)
		return info.ModTime()
	}
	written := mtime()
	get := func() {
		_, ok, err := s.Get(ctx, "a")
		require.NoError(t, err)
		require.True(t, ok)
	}

	clock.Advance(30 * time.Second)
	get()
	require.Equal(t, written, mtime(), "read 30 s after the write")
	clock.Advance(31 * time.Second)
	get()
	require.True(t, clock.Now().Equal(mtime()), "read 61 s after the write")
	clock.Advance(30 * time.Second)
	get()
	require.True(t, clock.Now().Add(-30*time.Second).Equal(mtime()), "read 30 s after the touch")
}

func TestUsageReportsTheFillLevel(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir(), 1000, nil)
	require.Equal(t, pipeline.Usage{MaxBytes: 1000}, s.Usage())
	require.NoError(t, s.Set(t.Context(), "abc", make([]byte, 10)))
	require.Equal(t, pipeline.Usage{Entries: 1, Bytes: fileSize("abc", 10), MaxBytes: 1000}, s.Usage())
}
