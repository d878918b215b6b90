package pipeline

import (
	"errors"
	"fmt"
)

// ErrNotFound is the error, or the cause of the error, that a Fetcher returns
// when the key has no value. Test for it with errors.Is.
var ErrNotFound = errors.New("pipeline: not found")

// ErrInvalidKey is the cause of the error a cache layer or a stock store
// returns for a key that cannot live in a map: one that cannot be hashed (an
// interface holding a slice, a map or a func) or that is not equal to itself
// (a NaN float, or a struct, array or interface holding one), which a map
// could store but never find or delete again. Test for it with errors.Is.
var ErrInvalidKey = errors.New("pipeline: invalid key")

// A PanicError is returned to every caller of a fetch whose next Fetcher or
// Store panicked. The layer recovers the panic, so that one bad key neither
// crashes the process from a shared fetch nor stays stuck: the next fetch of
// the key calls next again. (A panic in a single-key store read, or in an
// observer told of the hit it found, is what the layer does not
// recover; see Cache.)
type PanicError struct {
	Layer string // the layer that recovered the panic
	Value any    // the value passed to panic
	Stack []byte // the stack of the goroutine that panicked
}

// Error describes the panic.
func (e *PanicError) Error() string {
	return fmt.Sprintf("pipeline: %s: panic: %v", e.Layer, e.Value)
}

// Unwrap returns the panic value if it is an error, so that errors.Is and
// errors.As see through the panic.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// isNotFound reports whether err is, or wraps, ErrNotFound; it is quick for
// ErrNotFound itself, the most common case in a batch.
func isNotFound(err error) bool {
	return err == ErrNotFound || err != nil && errors.Is(err, ErrNotFound)
}
