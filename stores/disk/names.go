package disk

import (
	"crypto/sha256"
	"encoding/base32"
	"hash/crc32"
	"strconv"
)

// File names. Invariant: a name is made only of the characters
// [0-9a-v] after a one-letter prefix, so no key can make it a path (no
// separator, no dot, no empty name), it is the same on case-insensitive
// file systems, and it is at most 1+maxKeyInName*8/5 characters long. The
// name of a key of at most maxKeyInName bytes is 'k' and the key itself in
// base32hex, so the key can be read back from it; a longer key's is 'h'
// and its SHA-256 in base32hex. The two prefixes keep the two kinds apart.

// maxKeyInName is the longest key kept in its file name: 104 characters.
const maxKeyInName = 64

// fanOut is how many subdirectories hold the files.
const fanOut = 256

// enc is base32hex in lower case without padding: 0-9 and a-v.
var enc = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// fileName returns the file name of key.
func fileName(key string) string {
	if len(key) <= maxKeyInName {
		b := make([]byte, 1+enc.EncodedLen(len(key)))
		b[0] = 'k'
		enc.Encode(b[1:], []byte(key))
		return string(b)
	}
	sum := sha256.Sum256([]byte(key))
	b := make([]byte, 1+enc.EncodedLen(len(sum)))
	b[0] = 'h'
	enc.Encode(b[1:], sum[:])
	return string(b)
}

// keyInName returns the key a 'k' name holds, and false for a hashed name
// or a name that is not one of ours.
func keyInName(name string) (string, bool) {
	if len(name) == 0 || name[0] != 'k' {
		return "", false
	}
	b, err := enc.DecodeString(name[1:])
	if err != nil {
		return "", false
	}
	return string(b), true
}

// validName reports whether name can be a file name that fileName made.
// It allocates nothing: Open calls it for every file.
func validName(name string) bool {
	if len(name) < 1 || (name[0] != 'k' && name[0] != 'h') {
		return false
	}
	digits := name[1:]
	if name[0] == 'h' && len(digits) != enc.EncodedLen(sha256.Size) {
		return false
	}
	if len(digits) > enc.EncodedLen(maxKeyInName) {
		return false
	}
	switch len(digits) % 8 { // a partial group of 8 digits encodes 1 to 4 bytes
	case 1, 3, 6:
		return false
	}
	var last byte
	for i := 0; i < len(digits); i++ {
		switch c := digits[i]; {
		case '0' <= c && c <= '9':
			last = c - '0'
		case 'a' <= c && c <= 'v':
			last = c - 'a' + 10
		default:
			return false
		}
	}
	// Only the name fileName gives its key: the bits of the last digit
	// beyond the last byte are zero, or base32 would decode other
	// spellings of the same key.
	unused := len(digits) * 5 % 8
	return last&(1<<unused-1) == 0
}

// subdirs holds the names of the fan-out subdirectories, "00" to "ff".
var subdirs = func() (s [fanOut]string) {
	for i := range s {
		s[i] = strconv.FormatUint(uint64(0x100|i), 16)[1:]
	}
	return s
}()

// subdirOf returns the index of the subdirectory that holds name.
func subdirOf(name string) int {
	return int(crc32.ChecksumIEEE([]byte(name)) % fanOut)
}
