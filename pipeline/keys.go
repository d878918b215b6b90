package pipeline

import (
	"hash/maphash"
	"reflect"
)

// MayHoldUnhashable reports whether a value of the comparable type K can
// fail to hash, as a Go map key or with hash/maphash: whether K is, or
// holds in a field or an array element, an interface type, whose dynamic
// value may be a slice, a map or a func. It is false for strings, numbers,
// pointers and structs of them.
//
// A cache layer over such a K checks each key and answers one that cannot
// be hashed with an error wrapping ErrUnhashableKey; a store that keeps
// keys in a map can hash such keys before it takes its lock, so that a bad
// key fails its caller and leaves the store usable, as the stock stores do.
func MayHoldUnhashable[K comparable]() bool { return mayNotHash(reflect.TypeFor[K]()) }

func mayNotHash(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Array:
		return mayNotHash(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if mayNotHash(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// keySeed hashes keys: to check them, and for batch markers (keySum).
var keySeed = maphash.MakeSeed()

// hashable reports whether key can be hashed.
func hashable[K comparable](key K) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	maphash.Comparable(keySeed, key)
	return true
}
