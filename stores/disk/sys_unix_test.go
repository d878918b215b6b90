//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package disk_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

func TestNamedPipeInAFilesPlaceIsAMissThatDoesNotBlock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	ev := record(s)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "a", []byte("1")))
	p := onlyFile(t, dir)
	require.NoError(t, os.Remove(p))
	require.NoError(t, syscall.Mkfifo(p, 0o666))

	_, ok, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.False(t, ok)
	require.Len(t, ev.all(), 1)
	require.Equal(t, pipeline.Error, ev.all()[0].Kind)
}
