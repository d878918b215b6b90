//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package disk

import (
	"errors"
	"io/fs"
	"syscall"
)

// errNotRegular is the cause of the error of a read of a file that is not
// a regular file.
var errNotRegular = errors.New("not a regular file")

// readFile returns the contents of the file at path, as os.ReadFile does.
//
// It is a fast path for the target for Get (at most 1.3 times
// os.ReadFile of the same 4 KiB): os.Open registers every file with the
// runtime's poller, which costs two system calls more than open, fstat,
// read and close, about 40% of the whole read on the VM it was measured
// on. A regular file gains nothing from the poller.
func readFile(path string) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errNotRegular}
	}
	b := make([]byte, st.Size)
	for n := 0; n < len(b); {
		m, err := syscall.Read(fd, b[n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		case m == 0: // shorter than it was: the header check fails it
			return b[:n], nil
		}
		n += m
	}
	return b, nil
}
