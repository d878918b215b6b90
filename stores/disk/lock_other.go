//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package disk

import "os"

// lockWorks says whether Open locks its directory on this system.
const lockWorks = false

// lock does nothing: on this system Open does not lock its directory, and
// two stores on one directory are not detected (see the package doc).
func lock(*os.File) error { return nil }

// release closes f.
func release(f *os.File) error { return f.Close() }
