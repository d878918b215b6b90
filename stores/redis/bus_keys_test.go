package redis_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/stores/redis"
)

func TestStringKeysRoundTripAnyBytes(t *testing.T) {
	t.Parallel()
	type ID string
	keys := redis.StringKeys[ID]()
	for _, k := range []ID{"", "user/42", "a:b{c}*", "é", "\x00\xff"} {
		b, err := keys.Encode(k)
		require.NoError(t, err)
		got, err := keys.Decode(b)
		require.NoError(t, err)
		require.Equal(t, k, got)
	}
}

func TestIntKeysRoundTripEveryIntegerTypeAtItsLimits(t *testing.T) {
	t.Parallel()
	type UserID uint32
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{name: "int64", run: func(t *testing.T) { roundTrip(t, redis.IntKeys[int64](), math.MinInt64, -1, 0, math.MaxInt64) }},
		{name: "int8", run: func(t *testing.T) { roundTrip(t, redis.IntKeys[int8](), math.MinInt8, 0, math.MaxInt8) }},
		{name: "uint64", run: func(t *testing.T) { roundTrip(t, redis.IntKeys[uint64](), 0, math.MaxUint64) }},
		{name: "a named uint32", run: func(t *testing.T) { roundTrip(t, redis.IntKeys[UserID](), 0, 42, math.MaxUint32) }},
		{name: "int", run: func(t *testing.T) { roundTrip(t, redis.IntKeys[int](), math.MinInt, 7, math.MaxInt) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t)
		})
	}
}

// roundTrip checks that each key decodes back from its encoding.
func roundTrip[K comparable](t *testing.T, keys interface {
	Encode(K) ([]byte, error)
	Decode([]byte) (K, error)
}, ks ...K) {
	t.Helper()
	for _, k := range ks {
		b, err := keys.Encode(k)
		require.NoError(t, err)
		got, err := keys.Decode(b)
		require.NoError(t, err)
		require.Equal(t, k, got, "%s", b)
	}
}

func TestIntKeysRejectWhatIsNotAnIntegerOfTheirType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		dec  func([]byte) error
	}{
		{name: "empty", in: "", dec: decodeErr(redis.IntKeys[int]())},
		{name: "text", in: "user", dec: decodeErr(redis.IntKeys[int]())},
		{name: "a fraction", in: "1.5", dec: decodeErr(redis.IntKeys[int64]())},
		{name: "out of range", in: "128", dec: decodeErr(redis.IntKeys[int8]())},
		{name: "negative unsigned", in: "-1", dec: decodeErr(redis.IntKeys[uint]())},
		{name: "past uint64", in: "18446744073709551616", dec: decodeErr(redis.IntKeys[uint64]())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.ErrorIs(t, tt.dec([]byte(tt.in)), redis.ErrBadMessage)
		})
	}
}

// decodeErr returns a function that returns the error of keys.Decode.
func decodeErr[K any](keys interface{ Decode([]byte) (K, error) }) func([]byte) error {
	return func(b []byte) error {
		_, err := keys.Decode(b)
		return err
	}
}
