// Package keys checks that a key can live in a Go map: that it can be hashed
// and that it is equal to itself.
//
// A key of an interface type holding a slice, a map or a func cannot be
// hashed: a map operation with it panics. A NaN float (or a struct, array or
// interface holding one) is not equal to itself: a map can store it but never
// find or delete it again, so every write leaks an entry. The cache layer and
// the stock stores answer both with an error for their caller alone.
//
// Only types that hold interfaces, floats or complex numbers can go wrong
// ([MayBeInvalid]); for every other key type the check is skipped at build
// time and costs nothing.
package keys

import "reflect"

// MayBeInvalid reports whether some value of K cannot be hashed or is not
// equal to itself: whether K is, or holds in a field or an array element, an
// interface, a float or a complex type. It uses reflection; call it once,
// when a layer or store is built.
func MayBeInvalid[K comparable]() bool { return mayBeInvalid(reflect.TypeFor[K]()) }

func mayBeInvalid(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Interface, reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return mayBeInvalid(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if mayBeInvalid(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// Valid reports whether key can be hashed and is equal to itself, so that a
// map can store it and find it again.
func Valid[K comparable](key K) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false // comparing an interface that holds a slice, map or func
		}
	}()
	return key == key //nolint:staticcheck // false for NaN, the point of the check
}
