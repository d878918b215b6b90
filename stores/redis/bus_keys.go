package redis

import (
	"fmt"
	"strconv"
	"unsafe"

	"github.com/multilayer-cache/multilayer/stores"
)

// StringKeys returns the key codec of a Bus whose keys are strings: a key
// is its own bytes. Decode accepts any bytes. It is safe for concurrent
// use.
func StringKeys[K ~string]() stores.Codec[K, []byte] { return stringKeys[K]{} }

type stringKeys[K ~string] struct{}

// Encode returns the bytes of k.
func (stringKeys[K]) Encode(k K) ([]byte, error) { return []byte(k), nil }

// Decode returns b as a K.
func (stringKeys[K]) Decode(b []byte) (K, error) { return K(b), nil }

// integer is the constraint of IntKeys.
type integer interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr
}

// IntKeys returns the key codec of a Bus whose keys are integers of any
// size, signed or not: a key is its decimal text ("42", "-7"). Decode
// returns an error wrapping ErrBadMessage for anything else, and for a
// number out of K's range. It is safe for concurrent use.
func IntKeys[K integer]() stores.Codec[K, []byte] { return intKeys[K]{} }

type intKeys[K integer] struct{}

// signed reports whether K is a signed integer type.
func signed[K integer]() bool { return ^K(0) < 0 }

// Encode returns k in decimal.
func (intKeys[K]) Encode(k K) ([]byte, error) {
	if signed[K]() {
		return strconv.AppendInt(nil, int64(k), 10), nil
	}
	return strconv.AppendUint(nil, uint64(k), 10), nil
}

// Decode parses the decimal text b as a K.
func (intKeys[K]) Decode(b []byte) (K, error) {
	bits := int(unsafe.Sizeof(K(0))) * 8
	if signed[K]() {
		n, err := strconv.ParseInt(string(b), 10, bits)
		if err != nil {
			return 0, fmt.Errorf("%w: key: %w", ErrBadMessage, err)
		}
		return K(n), nil
	}
	n, err := strconv.ParseUint(string(b), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%w: key: %w", ErrBadMessage, err)
	}
	return K(n), nil
}
