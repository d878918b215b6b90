package redis

import "errors"

// ErrCorrupt is the cause of the error ParseEnvelope returns for bytes that
// are not an envelope a Store can read, and of the error a Store reports
// through its Notifier when it finds such bytes under one of its keys. Test
// for it with errors.Is.
var ErrCorrupt = errors.New("stores/redis: corrupt envelope")

// ErrNoValue is the cause of the error ParseEnvelope returns for a
// tombstone or a lease: markers a Store writes in place of a value, which
// hold none. Test for it with errors.Is.
var ErrNoValue = errors.New("stores/redis: a marker, not a value")

// ErrBadKey is the cause of the error DecodeKey returns for a string that is
// not the encoding of any key. Test for it with errors.Is.
var ErrBadKey = errors.New("stores/redis: not an encoded key")

// ErrBreakerOpen is the cause of the error a Store returns, without calling
// Redis, while its circuit breaker is open. Test for it with errors.Is.
var ErrBreakerOpen = errors.New("stores/redis: circuit breaker open")

// ErrInvalidOption is the cause of the error New returns for a bad setting:
// a nil client, a namespace that is empty, too long or not made of plain
// bytes, a negative duration or count, or a client that ignores context
// deadlines. Test for it with errors.Is.
var ErrInvalidOption = errors.New("stores/redis: invalid option")

// ErrBadMessage is the cause of the error a Bus reports for a message on
// its channel that does not decode: not a bus message, a version it does
// not know, or a key its key codec rejects. The bus clears the local
// layers above it when it receives one. Test for it with errors.Is.
var ErrBadMessage = errors.New("stores/redis: bad bus message")

// ErrBusGap is the cause of the error a Bus reports when messages may have
// been lost: its subscription was renewed after a disconnection, or its
// heartbeat went unanswered. The bus clears the local layers above it when
// it reports one. Test for it with errors.Is.
var ErrBusGap = errors.New("stores/redis: bus messages may have been lost")
