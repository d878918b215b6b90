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
// Two markers hold no value and are exactly a header: a tombstone (flags
// 0x02), which a Delete leaves and which no write but another Delete
// replaces (see guard.go), and a lease (flags 0x04), which a Store that
// missed takes while it loads (see lease.go).
//
// A reader rejects any other magic, version or flag bits: a later version
// changes the version byte, and a Store that does not know it treats the
// entry as corrupt (a miss that is deleted), never as data.
const (
	envelopeMagic   = 0xB7
	envelopeVersion = 1
	flagExpires     = 0x01
	flagTombstone   = 0x02
	flagLease       = 0x04
	headerLen       = 3
	expiresLen      = 8
)

// The markers, as stored.
const (
	tombstone = "\xB7\x01\x02"
	lease     = "\xB7\x01\x04"
)

// A kind is what a stored envelope holds.
type kind uint8

const (
	valueKind     kind = iota // a value
	tombstoneKind             // a tombstone: no value, and no write but a Delete until it ends
	leaseKind                 // a lease: no value yet, a Store loads it
	missingKind               // no envelope at all (what a Store read, never what one parses)
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
// made. The entry's Value aliases b. For a tombstone or a lease, which a
// Store writes in place of a value (see the package documentation), it
// returns an error wrapping ErrNoValue; for anything else, an error
// wrapping ErrCorrupt, never a panic. A parsed Expires is in the Local
// location and has no monotonic clock reading.
func ParseEnvelope(b []byte) (pipeline.Entry[[]byte], error) {
	exp, n, k, err := parseHeader(b)
	switch {
	case err != nil:
		return pipeline.Entry[[]byte]{}, err
	case k == tombstoneKind:
		return pipeline.Entry[[]byte]{}, fmt.Errorf("%w: a tombstone", ErrNoValue)
	case k == leaseKind:
		return pipeline.Entry[[]byte]{}, fmt.Errorf("%w: a lease", ErrNoValue)
	}
	return pipeline.Entry[[]byte]{Value: b[n:], Expires: exp}, nil
}

// parseHeader checks the header of the envelope b and returns what it
// holds, its expiry and the length of the header.
func parseHeader[T string | []byte](b T) (expires time.Time, n int, k kind, err error) {
	if len(b) < headerLen {
		return time.Time{}, 0, 0, fmt.Errorf("%w: %d bytes, shorter than a header", ErrCorrupt, len(b))
	}
	if b[0] != envelopeMagic {
		return time.Time{}, 0, 0, fmt.Errorf("%w: not an envelope (first byte %#x)", ErrCorrupt, b[0])
	}
	if b[1] != envelopeVersion {
		return time.Time{}, 0, 0, fmt.Errorf("%w: unknown version %d", ErrCorrupt, b[1])
	}
	switch b[2] {
	case 0:
		return time.Time{}, headerLen, valueKind, nil
	case flagTombstone, flagLease:
		if len(b) != headerLen {
			return time.Time{}, 0, 0, fmt.Errorf("%w: a marker with %d bytes after it", ErrCorrupt, len(b)-headerLen)
		}
		if b[2] == flagTombstone {
			return time.Time{}, headerLen, tombstoneKind, nil
		}
		return time.Time{}, headerLen, leaseKind, nil
	case flagExpires:
		if len(b) < headerLen+expiresLen {
			return time.Time{}, 0, 0, fmt.Errorf("%w: expiry cut short", ErrCorrupt)
		}
		var ns uint64
		for i := range expiresLen {
			ns = ns<<8 | uint64(b[headerLen+i])
		}
		return time.Unix(0, int64(ns)), headerLen + expiresLen, valueKind, nil
	default:
		return time.Time{}, 0, 0, fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, b[2])
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
