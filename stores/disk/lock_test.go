//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package disk_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/stores/disk"
)

func TestSecondOpenInTheSameProcessIsErrLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	_, err := disk.Open(dir, 1<<20, nil)
	require.ErrorIs(t, err, disk.ErrLocked)

	require.NoError(t, s.Close())
	s2, err := disk.Open(dir, 1<<20, nil)
	require.NoError(t, err, "Close releases the lock")
	require.NoError(t, s2.Close())
}

func TestOpenInAnotherProcessIsErrLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	require.NoError(t, s.Set(t.Context(), "a", []byte("1")))
	require.Equal(t, "locked", startHelper(t, dir).said)

	require.NoError(t, s.Close())
	h := startHelper(t, dir)
	require.Equal(t, "opened", h.said)
	_, err := disk.Open(dir, 1<<20, nil)
	require.ErrorIs(t, err, disk.ErrLocked, "the other process holds it now")

	require.NoError(t, h.stdin.Close())
	require.NoError(t, h.cmd.Wait())
	s = mustOpen(t, dir, 1<<20, nil)
	v, ok, err := s.Get(t.Context(), "a")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "1", string(v))
}

func TestLockOfAKilledProcessIsReleased(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startHelper(t, dir)
	require.Equal(t, "opened", h.said)
	require.NoError(t, h.cmd.Process.Kill())
	_ = h.cmd.Wait() // killed: the exit status is an error

	mustOpen(t, dir, 1<<20, nil)
}
