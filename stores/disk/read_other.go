//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package disk

import "os"

// readFile returns the contents of the file at path.
func readFile(path string) ([]byte, error) { return os.ReadFile(path) }
