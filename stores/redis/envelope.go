package redis

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// Envelope layout, version 1. Every value a Store writes is
//
//	byte 0      envelopeMagic
//	byte 1      envelopeVersion
//	byte 2      flags: bit 0 set if an expiry follows; the other bits are 0
//	bytes 3-10  the expiry, if bit 0 is set: Unix nanoseconds, big-endian
//	the rest    the value's bytes
//
// A reader rejects any other magic, version or flag bit: a later version
// changes the version byte, and a Store that does not know it treats the
// entry as corrupt (a miss that is deleted), never as data.
const (
	envelopeMagic   = 0xB7
	envelopeVersion = 1
	flagExpires     = 1
	headerLen       = 3
	expiresLen      = 8
)

// AppendEnvelope appends to dst the envelope a Store writes to Redis for e:
// a header of 3 bytes (a magic byte, the format version, flags), then, if
// e.Expires is not the zero time, e.Expires in Unix nanoseconds (8 bytes,
// big-endian; an instant outside the years 1678 to 2262 is clamped to
// them), then e.Value. It returns the extended slice.
func AppendEnvelope(dst []byte, e pipeline.Entry[[]byte]) []byte {
	if e.Expires.IsZero() {
		dst = append(dst, envelopeMagic, envelopeVersion, 0)
		return append(dst, e.Value...)
	}
	dst = append(dst, envelopeMagic, envelopeVersion, flagExpires)
	dst = binary.BigEndian.AppendUint64(dst, uint64(unixNanos(e.Expires)))
	return append(dst, e.Value...)
}

// ParseEnvelope returns the entry in the envelope b, which AppendEnvelope
// made. The entry's Value aliases b. For anything else it returns an error
// wrapping ErrCorrupt, never a panic. A parsed Expires is in the Local
// location and has no monotonic clock reading.
func ParseEnvelope(b []byte) (pipeline.Entry[[]byte], error) {
	exp, n, err := parseHeader(b)
	if err != nil {
		return pipeline.Entry[[]byte]{}, err
	}
	return pipeline.Entry[[]byte]{Value: b[n:], Expires: exp}, nil
}

// parseHeader checks the header of the envelope b and returns its expiry
// and the length of the header.
func parseHeader[T string | []byte](b T) (expires time.Time, n int, err error) {
	if len(b) < headerLen {
		return time.Time{}, 0, fmt.Errorf("%w: %d bytes, shorter than a header", ErrCorrupt, len(b))
	}
	if b[0] != envelopeMagic {
		return time.Time{}, 0, fmt.Errorf("%w: not an envelope (first byte %#x)", ErrCorrupt, b[0])
	}
	if b[1] != envelopeVersion {
		return time.Time{}, 0, fmt.Errorf("%w: unknown version %d", ErrCorrupt, b[1])
	}
	switch b[2] {
	case 0:
		return time.Time{}, headerLen, nil
	case flagExpires:
		if len(b) < headerLen+expiresLen {
			return time.Time{}, 0, fmt.Errorf("%w: expiry cut short", ErrCorrupt)
		}
		var ns uint64
		for i := range expiresLen {
			ns = ns<<8 | uint64(b[headerLen+i])
		}
		return time.Unix(0, int64(ns)), headerLen + expiresLen, nil
	default:
		return time.Time{}, 0, fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, b[2])
	}
}

// unixNanos returns t in Unix nanoseconds, clamped to what an int64 holds.
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)
