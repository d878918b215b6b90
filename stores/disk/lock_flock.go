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
// released when f is closed or the process ends, however it ends.
//
// A process this one starts holds a copy of every open file from its fork
// to its exec (Go opens files close-on-exec, which ends the copies at exec),
// so a lock that a Close here released can look held for that moment. So
// lock waits for any fork under way (syscall.ForkLock) and tries again,
// for up to lockPatience, before it reports ErrLocked.
func lock(f *os.File) error {
	deadline := time.Now().Add(lockPatience)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case !errors.Is(err, syscall.EWOULDBLOCK):
			return err
		case time.Now().After(deadline):
			return ErrLocked
		}
		syscall.ForkLock.RLock() // a fork under way is over, its child's copies gone
		syscall.ForkLock.RUnlock()
		time.Sleep(lockPatience / 20)
	}
}

// lockPatience is how long lock tries again before it reports ErrLocked.
const lockPatience = 100 * time.Millisecond
