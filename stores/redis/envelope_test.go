package redis_test

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

func TestEnvelopeRoundTripsValueAndExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		entry pipeline.Entry[[]byte]
		size  int
	}{
		{name: "unknown lifetime", entry: pipeline.Entry[[]byte]{Value: []byte("v")}, size: 3 + 1},
		{name: "with expiry", entry: pipeline.Entry[[]byte]{Value: []byte("v"), Expires: time.Unix(1700000000, 123)}, size: 3 + 8 + 1},
		{name: "empty value", entry: pipeline.Entry[[]byte]{Value: []byte{}}, size: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := redis.AppendEnvelope(nil, tt.entry)
			require.Len(t, b, tt.size)
			e, err := redis.ParseEnvelope(b)
			require.NoError(t, err)
			require.Equal(t, tt.entry.Value, e.Value)
			require.True(t, tt.entry.Expires.Equal(e.Expires))
		})
	}
}

func TestEnvelopeClampsExpiryBeyondTheYearsOfUnixNanoseconds(t *testing.T) {
	t.Parallel()
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	e, err := redis.ParseEnvelope(redis.AppendEnvelope(nil, pipeline.Entry[[]byte]{Expires: far}))
	require.NoError(t, err)
	require.Equal(t, int64(math.MaxInt64), e.Expires.UnixNano())
}

func TestParseEnvelopeRejectsWhatIsNotAnEnvelope(t *testing.T) {
	t.Parallel()
	for _, b := range []string{"", "\xb7", "\xb7\x01", "plain", "\xb7\x02\x00", "\xb7\x01\x08", "\xb7\x01\x03", "\xb7\x01\x01\x00", "\xb7\x01\x02v", "\xb7\x01\x04v"} {
		_, err := redis.ParseEnvelope([]byte(b))
		require.ErrorIs(t, err, redis.ErrCorrupt, "%q", b)
	}
}

func TestParseEnvelopeSaysATombstoneOrALeaseHoldsNoValue(t *testing.T) {
	t.Parallel()
	for _, b := range []string{tombstoneBytes, leaseBytes} {
		_, err := redis.ParseEnvelope([]byte(b))
		require.ErrorIs(t, err, redis.ErrNoValue, "%q", b)
		require.NotErrorIs(t, err, redis.ErrCorrupt, "%q", b)
	}
}

// FuzzParseEnvelope checks that any bytes either parse, or are one of the
// two markers (ErrNoValue), or are an error wrapping ErrCorrupt, never a
// panic, and that what parses is exactly what AppendEnvelope writes for the
// entry parsed.
func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("plain text"))
	f.Add(redis.AppendEnvelope(nil, pipeline.Entry[[]byte]{Value: []byte("v")}))
	f.Add(redis.AppendEnvelope(nil, pipeline.Entry[[]byte]{Value: []byte("v"), Expires: time.Unix(1, 2)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := redis.ParseEnvelope(b)
		if errors.Is(err, redis.ErrNoValue) {
			require.Contains(t, []string{tombstoneBytes, leaseBytes}, string(b))
			return
		}
		if err != nil {
			require.ErrorIs(t, err, redis.ErrCorrupt)
			return
		}
		require.True(t, bytes.Equal(b, redis.AppendEnvelope(nil, e)), "the envelope is canonical")
	})
}

// FuzzEnvelopeRoundTrip checks that every entry comes back from its
// envelope, expiry included.
func FuzzEnvelopeRoundTrip(f *testing.F) {
	f.Add([]byte("v"), int64(0), false)
	f.Add([]byte{}, int64(-1), true)
	f.Add([]byte("\xb7\x01\x00"), int64(math.MaxInt64), true)
	f.Fuzz(func(t *testing.T, value []byte, nanos int64, expires bool) {
		in := pipeline.Entry[[]byte]{Value: value}
		if expires {
			in.Expires = time.Unix(0, nanos)
		}
		out, err := redis.ParseEnvelope(redis.AppendEnvelope([]byte("prefix"), in)[len("prefix"):])
		require.NoError(t, err)
		require.True(t, bytes.Equal(in.Value, out.Value))
		require.True(t, in.Expires.Equal(out.Expires))
		require.Equal(t, in.Expires.IsZero(), out.Expires.IsZero())
	})
}
