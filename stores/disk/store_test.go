package disk_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
	"github.com/multilayer-cache/multilayer/stores/disk"
)

func TestRoundTripKeepsValueAndExpiry(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock()
	now := clock.Now()
	for _, tc := range []struct {
		name    string
		key     string
		value   []byte
		expires time.Time
		fresh   bool // Get finds it
		sync    bool // Options.Sync
	}{
		{name: "unknown lifetime", key: "a", value: []byte("apple"), fresh: true},
		{name: "expires later", key: "b", value: []byte("banana"), expires: now.Add(time.Hour), fresh: true},
		{name: "expired", key: "c", value: []byte("cherry"), expires: now.Add(-time.Second)},
		{name: "expires now", key: "d", value: []byte("date"), expires: now},
		{name: "empty value", key: "e", value: []byte{}, fresh: true},
		{name: "nil value", key: "f", value: nil, fresh: true},
		{name: "empty key", key: "", value: []byte("nothing"), fresh: true},
		{name: "large value", key: "g", value: []byte(strings.Repeat("x", 1<<20)), fresh: true},
		{name: "far future", key: "h", value: []byte("h"), expires: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), fresh: true},
		{name: "synced", key: "i", value: []byte("fsynced"), expires: now.Add(time.Hour), fresh: true, sync: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := mustOpen(t, dir, 10<<20, &disk.Options{Clock: clock.Now, Sync: tc.sync})
			ctx := t.Context()
			require.NoError(t, s.SetEntry(ctx, tc.key, pipeline.Entry[[]byte]{Value: tc.value, Expires: tc.expires}))

			e, ok, err := s.GetEntry(ctx, tc.key)
			require.NoError(t, err)
			require.True(t, ok, "GetEntry returns every entry, expired or not")
			require.Equal(t, string(tc.value), string(e.Value))
			require.True(t, tc.expires.Equal(e.Expires), "expires %v, got %v", tc.expires, e.Expires)

			v, ok, err := s.Get(ctx, tc.key)
			require.NoError(t, err)
			require.Equal(t, tc.fresh, ok)
			if tc.fresh {
				require.Equal(t, string(tc.value), string(v))
			}

			// The entry survives a restart.
			require.NoError(t, s.Close())
			s = mustOpen(t, dir, 10<<20, &disk.Options{Clock: clock.Now})
			e, ok, err = s.GetEntry(ctx, tc.key)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, string(tc.value), string(e.Value))
			require.True(t, tc.expires.Equal(e.Expires))
		})
	}
}

func TestGetJudgesExpiryByTheClock(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock()
	s := mustOpen(t, t.TempDir(), 1<<20, &disk.Options{Clock: clock.Now})
	ctx := t.Context()
	require.NoError(t, s.SetEntry(ctx, "k", pipeline.Entry[[]byte]{Value: []byte("v"), Expires: clock.Now().Add(time.Minute)}))

	clock.Advance(59 * time.Second)
	_, ok, err := s.Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)

	clock.Advance(time.Second)
	_, ok, err = s.Get(ctx, "k")
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, 1, s.Len(), "an expired entry stays until it is evicted, deleted or cleared")
}

func TestSetReplacesTheValue(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "k", []byte("old value")))
	require.NoError(t, s.Set(ctx, "k", []byte("new")))
	v, ok, err := s.Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "new", string(v))
	require.Equal(t, pipeline.Usage{Entries: 1, Bytes: fileSize("k", 3), MaxBytes: 1 << 20}, s.Usage())
	require.Equal(t, fileSize("k", 3), totalSize(entryFiles(t, dir)))
}

func TestDeleteRemovesTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "a", []byte("1")))
	require.NoError(t, s.Set(ctx, "b", []byte("2")))
	require.NoError(t, s.Delete(ctx, "a"))
	require.NoError(t, s.Delete(ctx, "missing"))

	_, ok, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.False(t, ok)
	require.Len(t, entryFiles(t, dir), 1)
	require.Equal(t, pipeline.Usage{Entries: 1, Bytes: fileSize("b", 1), MaxBytes: 1 << 20}, s.Usage())
}

func TestClearRemovesEveryFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, s.Set(ctx, k, []byte(k)))
	}
	require.NoError(t, s.Clear(ctx))
	require.Empty(t, entryFiles(t, dir))
	require.Equal(t, 0, s.Len())
	require.Equal(t, int64(0), s.Usage().Bytes)
	require.NoError(t, s.Set(ctx, "a", []byte("again")))
	require.Equal(t, 1, s.Len())
}

func TestBatchesReadAndWriteEveryKey(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir(), 1<<20, nil)
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	require.NoError(t, s.SetBatch(ctx, []string{"a", "b"}, []pipeline.Entry[[]byte]{
		{Value: []byte("1")}, {Value: []byte("2"), Expires: exp},
	}))

	keys := []string{"a", "x", "b", "a"}
	out := make([]pipeline.Result[[]byte], len(keys))
	s.GetBatch(ctx, keys, out)
	require.NoError(t, out[0].Err)
	require.Equal(t, "1", string(out[0].Value))
	require.ErrorIs(t, out[1].Err, pipeline.ErrNotFound)
	require.NoError(t, out[2].Err)
	require.Equal(t, "2", string(out[2].Value))
	require.True(t, exp.Equal(out[2].Expires))
	require.Equal(t, "1", string(out[3].Value))
}

func TestBatchesStopWhenTheContextIsDone(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir(), 1<<20, nil)
	ctx, cancel := context.WithCancel(t.Context())
	require.NoError(t, s.Set(ctx, "a", []byte("1")))
	cancel()

	out := make([]pipeline.Result[[]byte], 2)
	s.GetBatch(ctx, []string{"a", "b"}, out)
	require.ErrorIs(t, out[0].Err, context.Canceled)
	require.ErrorIs(t, out[1].Err, context.Canceled)

	err := s.SetBatch(ctx, []string{"b"}, []pipeline.Entry[[]byte]{{Value: []byte("2")}})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, s.Len())
}

func TestClosedStoreReturnsErrClosed(t *testing.T) {
	t.Parallel()
	s, err := disk.Open(t.TempDir(), 1<<20, nil)
	require.NoError(t, err)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "a", []byte("1")))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "a second Close is a no-op")

	_, _, err = s.Get(ctx, "a")
	require.ErrorIs(t, err, disk.ErrClosed)
	require.ErrorIs(t, s.Set(ctx, "a", []byte("2")), disk.ErrClosed)
	require.ErrorIs(t, s.Delete(ctx, "a"), disk.ErrClosed)
	require.ErrorIs(t, s.Clear(ctx), disk.ErrClosed)
	out := make([]pipeline.Result[[]byte], 1)
	s.GetBatch(ctx, []string{"a"}, out)
	require.ErrorIs(t, out[0].Err, disk.ErrClosed)
}

func TestSetAfterCloseReturnsErrClosedAndWritesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := disk.Open(dir, 1000, nil)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	before := paths(t, dir)

	ctx := t.Context()
	require.ErrorIs(t, s.Set(ctx, "a", make([]byte, 2000)), disk.ErrClosed, "even for a value larger than the budget")
	require.ErrorIs(t, s.Set(ctx, "b", []byte("1")), disk.ErrClosed)
	require.ErrorIs(t, s.SetBatch(ctx, []string{"c"}, []pipeline.Entry[[]byte]{{Value: []byte("2")}}), disk.ErrClosed)
	require.Equal(t, before, paths(t, dir), "the directory is no longer the store's: another may hold it")
}

// paths returns the paths, relative to dir, of everything under dir,
// directories included.
func paths(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		out = append(out, rel)
		return err
	})
	require.NoError(t, err)
	return out
}

func TestBatchesPanicOnMismatchedLengthsBeforeWritingAnything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	ctx := t.Context()
	keys := []string{"a", "b"}
	require.PanicsWithValue(t, "disk: GetBatch: 1 results for 2 keys", func() {
		s.GetBatch(ctx, keys, make([]pipeline.Result[[]byte], 1))
	})
	require.PanicsWithValue(t, "disk: GetBatch: 3 results for 2 keys", func() {
		s.GetBatch(ctx, keys, make([]pipeline.Result[[]byte], 3))
	})
	require.PanicsWithValue(t, "disk: SetBatch: 1 entries for 2 keys", func() {
		_ = s.SetBatch(ctx, keys, []pipeline.Entry[[]byte]{{Value: []byte("1")}})
	})
	require.PanicsWithValue(t, "disk: SetBatch: 3 entries for 2 keys", func() {
		_ = s.SetBatch(ctx, keys, make([]pipeline.Entry[[]byte], 3))
	})
	require.Equal(t, 0, s.Len(), "a batch that panics writes nothing")
	require.Empty(t, entryFiles(t, dir))
}

func TestOpenRejectsBadSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		dir      string
		maxBytes int64
		opts     *disk.Options
		want     error
	}{
		{name: "zero budget", dir: "d", maxBytes: 0, want: stores.ErrInvalidSize},
		{name: "negative budget", dir: "d", maxBytes: -1, want: stores.ErrInvalidSize},
		{name: "negative TouchEvery", dir: "d", maxBytes: 1, opts: &disk.Options{TouchEvery: -time.Second}, want: stores.ErrInvalidOption},
		{name: "empty directory name", dir: "", maxBytes: 1, want: stores.ErrInvalidOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := tc.dir
			if dir != "" {
				dir = filepath.Join(t.TempDir(), dir)
			}
			s, err := disk.Open(dir, tc.maxBytes, tc.opts)
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, s)
		})
	}
}

func TestOpenDoesNotWriteIntoTheCallersOptions(t *testing.T) {
	t.Parallel()
	opts := &disk.Options{}
	mustOpen(t, t.TempDir(), 1, opts)
	require.Equal(t, disk.Options{}, *opts)
}

// With Sync, Delete and Clear also fsync the directories they remove files
// from (a power loss cannot be simulated here: this checks that they still
// remove, report no error, and that what they removed stays removed over a
// reopen).
func TestDeleteAndClearWithSyncStayRemovedAfterReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := &disk.Options{Sync: true}
	s := mustOpen(t, dir, 1<<20, opts)
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, s.Set(ctx, k, []byte(k)))
	}
	require.NoError(t, s.Delete(ctx, "a"))
	require.NoError(t, s.Close())

	s = mustOpen(t, dir, 1<<20, opts)
	_, ok, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.False(t, ok, "deleted")
	require.Equal(t, 2, s.Len())
	require.NoError(t, s.Clear(ctx))
	require.NoError(t, s.Close())

	s = mustOpen(t, dir, 1<<20, opts)
	require.Zero(t, s.Len(), "cleared")
}
