//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package disk

import "os"

// readFile returns the contents of the file at path.
func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

// writeNew writes b to a new file at path, which must not exist, and with
// sync fsyncs it. On error the file may be left behind.
func writeNew(path string, b []byte, sync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// rename renames the file from to to, replacing it.
func rename(from, to string) error { return os.Rename(from, to) }
