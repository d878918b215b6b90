//go:build linux

package disk_test

import (
	"os/exec"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReopenAfterCloseWhileTheProcessStartsOthers closes and reopens a
// directory while other goroutines start processes: a child that was
// forked, and has not yet run exec, holds a copy of the lock's file for a
// moment, and a reopen in that moment must still succeed.
func TestReopenAfterCloseWhileTheProcessStartsOthers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = exec.Command("true").Run()
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	s := mustOpen(t, dir, 1<<20, nil)
	for range 100 {
		require.NoError(t, s.Close())
		s = mustOpen(t, dir, 1<<20, nil)
	}
	require.NoError(t, s.Close())
}
