package disk_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/disk"
)

func TestCorruptFileIsAMissRemovedAndReported(t *testing.T) {
	t.Parallel()
	const key, value = "blob", "the value of the blob"
	flip := func(at int) func([]byte) []byte {
		return func(b []byte) []byte { b[at] ^= 0x01; return b }
	}
	for _, tc := range []struct {
		name   string
		mutate func(file []byte) []byte
	}{
		{name: "truncated in the value", mutate: func(b []byte) []byte { return b[:len(b)-1] }},
		{name: "truncated in the header", mutate: func(b []byte) []byte { return b[:10] }},
		{name: "empty", mutate: func([]byte) []byte { return nil }},
		{name: "longer than its header says", mutate: func(b []byte) []byte { return append(b, 0) }},
		{name: "flipped byte in the value", mutate: flip(32 + len(key) + 3)},
		{name: "flipped byte in the key", mutate: flip(32)},
		{name: "flipped byte in the expiry", mutate: flip(9)},
		{name: "flipped byte in the checksum", mutate: flip(29)},
		{name: "flipped byte in the magic", mutate: flip(0)},
		{name: "another format version", mutate: func(b []byte) []byte { b[4] = 2; return b }},
		{name: "foreign file", mutate: func([]byte) []byte { return []byte("#!/bin/sh\necho hello, this is not a cache file at all\n") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := mustOpen(t, dir, 1<<20, nil)
			ev := record(s)
			ctx := t.Context()
			require.NoError(t, s.Set(ctx, key, []byte(value)))
			p := onlyFile(t, dir)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p, tc.mutate(b), 0o666))

			v, ok, err := s.Get(ctx, key)
			require.NoError(t, err, "a corrupt file is a miss, not an error")
			require.False(t, ok)
			require.Nil(t, v)
			require.NoFileExists(t, p)
			require.Equal(t, pipeline.Usage{MaxBytes: 1 << 20}, s.Usage())

			got := ev.all()
			require.Len(t, got, 1)
			require.Equal(t, pipeline.Error, got[0].Kind)
			require.Equal(t, key, got[0].Key)
			require.ErrorIs(t, got[0].Err, disk.ErrCorrupt)

			require.NoError(t, s.Set(ctx, key, []byte(value)), "the key can be stored again")
			v, ok, err = s.Get(ctx, key)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, value, string(v))
		})
	}
}

func TestFileOfAnotherKeyIsAMissAndRemoved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	ev := record(s)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "a", []byte("value of a")))
	pa := onlyFile(t, dir)
	a, err := os.ReadFile(pa)
	require.NoError(t, err)
	require.NoError(t, s.Set(ctx, "b", []byte("value of b")))
	var pb string
	for p := range entryFiles(t, dir) {
		if filepath.Join(dir, p) != pa {
			pb = filepath.Join(dir, p)
		}
	}
	require.NoError(t, os.WriteFile(pb, a, 0o666)) // a's file, valid, under b's name

	_, ok, err := s.Get(ctx, "b")
	require.NoError(t, err)
	require.False(t, ok)
	require.NoFileExists(t, pb)
	require.Len(t, ev.all(), 1)
	require.ErrorIs(t, ev.all()[0].Err, disk.ErrCorrupt)
}

func TestUnreadableFileIsAMissAndReported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	ev := record(s)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "a", []byte("1")))
	p := onlyFile(t, dir)
	require.NoError(t, os.Remove(p))
	require.NoError(t, os.Mkdir(p, 0o777)) // reading a directory fails

	v, ok, err := s.Get(ctx, "a")
	require.NoError(t, err, "a read error is a miss")
	require.False(t, ok)
	require.Nil(t, v)
	got := ev.all()
	require.Len(t, got, 1)
	require.Equal(t, pipeline.Error, got[0].Kind)
	require.Equal(t, "a", got[0].Key)
	require.NotErrorIs(t, got[0].Err, disk.ErrCorrupt)
}

func TestFileRemovedBehindTheStoreIsAMissAndLeavesTheIndex(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	ev := record(s)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "a", []byte("1")))
	require.NoError(t, os.Remove(onlyFile(t, dir)))

	_, ok, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, pipeline.Usage{MaxBytes: 1 << 20}, s.Usage())
	require.Empty(t, ev.all())
}

func TestCorruptFileFoundAfterReopenIsAMissAndRemoved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "a", []byte("1")))
	require.NoError(t, s.Close())
	p := onlyFile(t, dir)
	require.NoError(t, os.Truncate(p, 20))

	s = mustOpen(t, dir, 1<<20, nil)
	ev := record(s)
	require.Equal(t, 1, s.Len(), "Open reads no file")
	_, ok, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.False(t, ok)
	require.NoFileExists(t, p)
	require.Equal(t, 0, s.Len())
	require.Len(t, ev.all(), 1)
}
