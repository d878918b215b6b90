package redis

import (
	"encoding/binary"
	"fmt"
)

// Bus message layout, version 1. Every message a Bus publishes is
//
//	byte 0      busMagic
//	byte 1      busVersion
//	byte 2      the kind: 'I' an invalidation, 'C' a Clear, 'H' a heartbeat
//	bytes 3-10  the sender's id, big-endian
//	the rest    for an invalidation, the key as the bus's key codec
//	            encodes it (possibly empty); for the other kinds, nothing
//
// A reader rejects any other magic, version or kind, and a Clear or a
// heartbeat with bytes after the id: a later version changes the version
// byte, and a bus that does not know it treats the message as lost data
// (it clears), never as an instruction.
const (
	busMagic   = 0xB8
	busVersion = 1
	busHeader  = 11
)

// A msgKind is what a bus message says.
type msgKind byte

const (
	kindInvalidate msgKind = 'I'
	kindClear      msgKind = 'C'
	kindHeartbeat  msgKind = 'H'
)

// A message is a decoded bus message. key aliases the bytes it was parsed
// from.
type message struct {
	kind   msgKind
	sender uint64
	key    []byte
}

// appendMessage appends the encoding of m to dst.
func appendMessage(dst []byte, m message) []byte {
	dst = append(dst, busMagic, busVersion, byte(m.kind))
	dst = binary.BigEndian.AppendUint64(dst, m.sender)
	if m.kind == kindInvalidate {
		dst = append(dst, m.key...)
	}
	return dst
}

// parseMessage decodes b. Its error wraps ErrBadMessage.
func parseMessage(b []byte) (message, error) {
	switch {
	case len(b) < busHeader:
		return message{}, fmt.Errorf("%w: %d bytes, shorter than a header", ErrBadMessage, len(b))
	case b[0] != busMagic:
		return message{}, fmt.Errorf("%w: magic byte %#x", ErrBadMessage, b[0])
	case b[1] != busVersion:
		return message{}, fmt.Errorf("%w: version %d", ErrBadMessage, b[1])
	}
	m := message{kind: msgKind(b[2]), sender: binary.BigEndian.Uint64(b[3:busHeader])}
	switch m.kind {
	case kindInvalidate:
		m.key = b[busHeader:]
	case kindClear, kindHeartbeat:
		if len(b) != busHeader {
			return message{}, fmt.Errorf("%w: %d bytes after a %q", ErrBadMessage, len(b)-busHeader, byte(m.kind))
		}
	default:
		return message{}, fmt.Errorf("%w: kind %#x", ErrBadMessage, b[2])
	}
	return m, nil
}
