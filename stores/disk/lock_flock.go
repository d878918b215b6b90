//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package disk

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// lockWorks says whether Open locks its directory on this system.
const lockWorks = true

// lock takes an exclusive flock(2) on f without waiting. The lock goes with
// the open file, so a second Open fails even in the same process, and it is
// released when release unlocks it, or when the last copy of the open file
// is closed: when the process ends, however it ends, and the processes it
// was starting have run exec (Go opens files close-on-exec). A lock can
// look held for that moment, so lock tries again every lockPatience/20,
// for up to lockPatience, before it reports ErrLocked.
func lock(f *os.File) error {
	deadline := time.Now().Add(lockPatience)
	for {
		err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, syscall.EWOULDBLOCK):
			return err
		case time.Now().After(deadline):
			return ErrLocked
		}
		time.Sleep(lockPatience / 20)
	}
}

// lockPatience is how long lock tries again before it reports ErrLocked.
const lockPatience = 100 * time.Millisecond

// release unlocks f and closes it. It unlocks first: a process this one is
// starting shares the open file from its fork until its exec, which under
// load may take seconds after the fork returned here, and closing f alone
// would leave the directory locked until then.
func release(f *os.File) error {
	err := flock(f, syscall.LOCK_UN)
	return errors.Join(err, f.Close())
}

// flock calls flock(2) on f with how, again if a signal interrupted it.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
