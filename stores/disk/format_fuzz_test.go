package disk

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzDecodeAcceptsOnlyWhatEncodeWrites checks that decode never panics,
// that it fails only with ErrCorrupt, and that a file it accepts is exactly
// the file encode writes for the key, value and expiry decoded, with the
// value in b's memory after the key, and the key keyOfFile reads. It
// decodes b, and b with the checksum it should have, which the fuzzer could
// hardly guess.
func FuzzDecodeAcceptsOnlyWhatEncodeWrites(f *testing.F) {
	valid := [][]byte{
		encode(nil, "k", []byte("v"), time.Unix(1, 2)),
		encode(nil, "", nil, time.Time{}),
		encode(nil, strings.Repeat("long key ", 10), bytes.Repeat([]byte{0xff}, 100), time.Unix(0, math.MinInt64)),
	}
	for _, b := range valid {
		f.Add(b, "k")
		f.Add(b[:len(b)-1], "k")
		f.Add(b[:headerSize-1], "k")
		for _, i := range []int{5, 8, 16, 20, 28, len(b) - 1} {
			flipped := bytes.Clone(b)
			flipped[i] ^= 1
			f.Add(flipped, "k")
		}
	}
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, b []byte, key string) {
		files := [][]byte{b}
		if len(b) >= headerSize {
			summed := bytes.Clone(b)
			sum := crc32.Update(crc32.Checksum(b[:28], castagnoli), castagnoli, b[headerSize:])
			binary.LittleEndian.PutUint32(summed[28:], sum)
			files = append(files, summed)
		}
		for _, b := range files {
			requireDecodeCanonical(t, b, key)
			if k, ok := keyOfFile(b); ok {
				requireDecodeCanonical(t, b, k)
			}
		}
	})
}

// requireDecodeCanonical checks what decode(key, b) returns.
func requireDecodeCanonical(t *testing.T, b []byte, key string) {
	t.Helper()
	value, expires, err := decode(key, b)
	if err != nil {
		require.ErrorIs(t, err, ErrCorrupt)
		return
	}
	k, ok := keyOfFile(b)
	require.True(t, ok)
	require.Equal(t, key, k)
	require.Len(t, value, len(b)-headerSize-len(key))
	if len(value) > 0 {
		require.Same(t, &b[headerSize+len(key)], &value[0], "the value shares b's memory")
	}
	require.Equal(t, b, encode(nil, key, value, expires), "the file is canonical")
}

// FuzzEncodedFileDecodesToItsKeyValueAndExpiry checks that decode gives
// back the key, the value and the expiry encode wrote, the expiry as
// expiryNanos documents it, whether encode had a buffer large enough to
// reuse or not.
func FuzzEncodedFileDecodesToItsKeyValueAndExpiry(f *testing.F) {
	f.Add("k", []byte("v"), int64(1), int64(2), false)
	f.Add("", []byte{}, int64(0), int64(0), true)
	f.Add("epoch", []byte("v"), int64(0), int64(0), false)
	f.Add("before 1678", []byte("v"), int64(-1)<<40, int64(0), false)
	f.Add("after 2262", []byte("v"), int64(1)<<40, int64(5), false)
	f.Add(strings.Repeat("k", 300), bytes.Repeat([]byte{0}, 300), int64(math.MaxInt64), int64(math.MaxInt64), false)
	f.Fuzz(func(t *testing.T, key string, value []byte, sec, nsec int64, zero bool) {
		var in time.Time
		if !zero {
			in = time.Unix(sec, nsec)
		}
		want := documentedExpiry(in)
		dirty := bytes.Repeat([]byte{0xa5}, headerSize+len(key)+len(value)+7)
		for _, buf := range [][]byte{nil, dirty} {
			b := encode(buf, key, value, in)
			gotKey, ok := keyOfFile(b)
			require.True(t, ok)
			require.Equal(t, key, gotKey)
			got, expires, err := decode(key, b)
			require.NoError(t, err)
			require.Equal(t, value, got)
			require.Equal(t, want.IsZero(), expires.IsZero())
			require.True(t, want.Equal(expires), "want %v, got %v", want, expires)
		}
	})
}

// documentedExpiry returns the expiry a file written with expiry t holds,
// as expiryNanos documents it: the zero time stays zero, a time out of the
// years 1678 to 2262 is clamped to them, and a time at 0 Unix nanoseconds,
// the file's mark of no expiry, moves a nanosecond later.
func documentedExpiry(t time.Time) time.Time {
	first, last := time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
	switch {
	case t.IsZero():
		return time.Time{}
	case t.Before(first):
		return first
	case t.After(last):
		return last
	case t.Equal(time.Unix(0, 0)):
		return time.Unix(0, 1)
	}
	return t
}
