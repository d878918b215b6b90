package stores

import "errors"

// ErrInvalidSize is the cause of the error a constructor returns for a size
// that is not positive. Test for it with errors.Is.
var ErrInvalidSize = errors.New("stores: invalid size")

// ErrInvalidTTL is the cause of the error NewTTL returns for a ttl that is
// not positive. Test for it with errors.Is.
var ErrInvalidTTL = errors.New("stores: invalid ttl")

// ErrInvalidOption is the cause of the error NewTTL returns for an option
// out of range (Jitter outside [0, 1), a negative Grace), and of those the
// constructors of stores/otter and stores/disk return for theirs. Test for
// it with errors.Is.
var ErrInvalidOption = errors.New("stores: invalid option")
