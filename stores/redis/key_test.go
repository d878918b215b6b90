package redis_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/stores/redis"
)

func TestEncodeKeyKeepsPlainKeysAndEscapesTheRest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key, want string
	}{
		{name: "plain", key: "user/42.json", want: "user/42.json"},
		{name: "empty", key: "", want: ""},
		{name: "colon", key: "a:b", want: "a%3Ab"},
		{name: "percent", key: "100%", want: "100%25"},
		{name: "hash tag", key: "{user}", want: "%7Buser%7D"},
		{name: "glob", key: "a*?[b]", want: "a%2A%3F%5Bb%5D"},
		{name: "space and NUL", key: "a b\x00", want: "a%20b%00"},
		{name: "UTF-8", key: "é", want: "%C3%A9"},
		{name: "invalid UTF-8", key: "\xff", want: "%FF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := redis.EncodeKey(tt.key)
			require.Equal(t, tt.want, got)
			back, err := redis.DecodeKey(got)
			require.NoError(t, err)
			require.Equal(t, tt.key, back)
		})
	}
}

func TestDecodeKeyRejectsWhatEncodeKeyNeverReturns(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"a:b", "%", "%4", "%zz", "%3a", "%41", "a b", "{x}", "a%"} {
		_, err := redis.DecodeKey(s)
		require.ErrorIs(t, err, redis.ErrBadKey, "%q", s)
	}
}

// unsafeInKeys are the bytes an encoded key must never hold: the separator
// of the key's parts, Cluster hash-tag braces, glob metacharacters, and
// anything that is not printable ASCII.
func requireSafe(t *testing.T, enc string) {
	t.Helper()
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		require.True(t, c > ' ' && c < 0x7f, "byte %d of %q is not printable ASCII", i, enc)
		require.False(t, strings.ContainsRune(":{}*?[]\\", rune(c)), "byte %d of %q", i, enc)
	}
}

// FuzzEncodeKey checks that every key has an encoding that decodes back to
// it (so no two keys share a Redis key) and that holds no byte that could
// leave the key's place: a colon, a brace, a glob metacharacter.
func FuzzEncodeKey(f *testing.F) {
	for _, k := range []string{"", "a", "a:b", "%3A", "{a}", "ns:1:x", "\x00\xff", "é/ü"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		enc := redis.EncodeKey(key)
		requireSafe(t, enc)
		back, err := redis.DecodeKey(enc)
		require.NoError(t, err)
		require.Equal(t, key, back)
	})
}

// FuzzDecodeKey checks that DecodeKey accepts exactly the encodings: what
// it decodes encodes back to its input, so a Redis key names one key only.
func FuzzDecodeKey(f *testing.F) {
	for _, s := range []string{"", "a", "a%3Ab", "%", "%3a", "%41", "%FF%00", "a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := redis.DecodeKey(s)
		if err != nil {
			require.ErrorIs(t, err, redis.ErrBadKey)
			return
		}
		require.Equal(t, s, redis.EncodeKey(key))
	})
}
