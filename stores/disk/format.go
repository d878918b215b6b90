package disk

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

// The file format, version 1. Every file is a header, the key, the value:
//
//	offset size
//	0      4    magic "mlcd"
//	4      1    format version (1)
//	5      3    zero
//	8      8    expiry, Unix nanoseconds, little endian; 0: unknown lifetime
//	16     4    key length, little endian
//	20     8    value length, little endian
//	28     4    CRC-32C of bytes 0-27, the key and the value
//	32          the key, then the value
//
// Invariant: decode accepts a file only if it is exactly as long as its
// header says, its magic, version and zero bytes are right, its checksum
// matches, and it holds the key asked for. Anything else is corrupt.

const (
	headerSize    = 32
	formatVersion = 1
	magic         = "mlcd"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encode returns the file of key and value in buf's memory if it is large
// enough, in new memory if not.
func encode(buf []byte, key string, value []byte, expires time.Time) []byte {
	b := buf[:0]
	if n := headerSize + len(key) + len(value); cap(b) >= n {
		b = b[:n]
		clear(b[:headerSize])
	} else {
		b = make([]byte, n)
	}
	copy(b, magic)
	b[4] = formatVersion
	binary.LittleEndian.PutUint64(b[8:], uint64(expiryNanos(expires)))
	binary.LittleEndian.PutUint32(b[16:], uint32(len(key)))
	binary.LittleEndian.PutUint64(b[20:], uint64(len(value)))
	copy(b[headerSize:], key)
	copy(b[headerSize+len(key):], value)
	sum := crc32.Update(crc32.Checksum(b[:28], castagnoli), castagnoli, b[headerSize:])
	binary.LittleEndian.PutUint32(b[28:], sum)
	return b
}

// decode returns the value and expiry the file b holds for key. The value
// shares b's memory.
func decode(key string, b []byte) (value []byte, expires time.Time, err error) {
	if len(b) < headerSize {
		return nil, time.Time{}, fmt.Errorf("%w: %d bytes, shorter than a header", ErrCorrupt, len(b))
	}
	if string(b[:4]) != magic || b[4] != formatVersion || b[5]|b[6]|b[7] != 0 {
		return nil, time.Time{}, fmt.Errorf("%w: not a version %d file", ErrCorrupt, formatVersion)
	}
	klen := uint64(binary.LittleEndian.Uint32(b[16:]))
	vlen := binary.LittleEndian.Uint64(b[20:])
	if rest := uint64(len(b) - headerSize); klen > rest || vlen != rest-klen {
		return nil, time.Time{}, fmt.Errorf("%w: %d bytes, header says %d+%d+%d", ErrCorrupt, len(b), headerSize, klen, vlen)
	}
	sum := crc32.Update(crc32.Checksum(b[:28], castagnoli), castagnoli, b[headerSize:])
	if sum != binary.LittleEndian.Uint32(b[28:]) {
		return nil, time.Time{}, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	if string(b[headerSize:headerSize+klen]) != key {
		return nil, time.Time{}, fmt.Errorf("%w: holds another key", ErrCorrupt)
	}
	if n := int64(binary.LittleEndian.Uint64(b[8:])); n != 0 {
		expires = time.Unix(0, n)
	}
	return b[headerSize+klen:], expires, nil
}

// expiryNanos returns t in Unix nanoseconds, clamped to the years 1678 to
// 2262; 0 for the zero time, and 1 for a time that would be 0.
func expiryNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	case t.UnixNano() == 0:
		return 1
	}
	return t.UnixNano()
}

// keyOfFile returns the key a file's beginning holds, if b is long enough.
func keyOfFile(b []byte) (string, bool) {
	if len(b) < headerSize || string(b[:4]) != magic || b[4] != formatVersion {
		return "", false
	}
	klen := uint64(binary.LittleEndian.Uint32(b[16:]))
	if klen > uint64(len(b)-headerSize) {
		return "", false
	}
	return string(b[headerSize : headerSize+klen]), true
}
