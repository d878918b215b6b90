package middleware_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
)

// hmacHex is HMAC-SHA256(secret, text) cut to 128 bits, in hex: what
// HashKey is documented to write.
func hmacHex(secret []byte, text string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(text))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func TestHashKeyWritesTruncatedHMACOfTheKeyText(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	type userKey struct {
		Tenant string
		ID     int
	}
	tests := []struct {
		name string
		got  slog.Value
		text string
	}{
		{name: "a string as it is", got: middleware.HashKey[string](secret)("alice@example.com"), text: "alice@example.com"},
		{name: "an empty string", got: middleware.HashKey[string](secret)(""), text: ""},
		{name: "an int as fmt prints it", got: middleware.HashKey[int](secret)(42), text: "42"},
		{name: "a struct as fmt prints it", got: middleware.HashKey[userKey](secret)(userKey{"acme", 7}), text: "{acme 7}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, slog.KindString, tt.got.Kind())
			require.Len(t, tt.got.String(), 32)
			require.Equal(t, hmacHex(secret, tt.text), tt.got.String())
		})
	}
}

func TestHashKeyDependsOnTheSecretAndTheKey(t *testing.T) {
	t.Parallel()
	one := middleware.HashKey[string]([]byte("0123456789abcdef"))
	other := middleware.HashKey[string]([]byte("0123456789abcdeF"))

	require.Equal(t, one("a").String(), one("a").String())
	require.NotEqual(t, one("a").String(), one("b").String())
	require.NotEqual(t, one("a").String(), other("a").String())
	// Unkeyed SHA-256 of the key, which anyone can compute from a guess,
	// is not what is written.
	plain := sha256.Sum256([]byte("a"))
	require.NotEqual(t, hex.EncodeToString(plain[:16]), one("a").String())
}

func TestHashKeyCopiesTheSecret(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef")
	hashed := middleware.HashKey[string](secret)
	before := hashed("a").String()
	secret[0] = 'X'
	require.Equal(t, before, hashed("a").String())
}

func TestHashKeyIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef")
	hashed := middleware.HashKey[string](secret)
	keys := []string{"a", "b", "c", "d"}
	got := make([][]string, 8)
	var wg sync.WaitGroup
	for g := range got {
		wg.Go(func() {
			for range 100 {
				for _, k := range keys {
					got[g] = append(got[g], hashed(k).String())
				}
			}
		})
	}
	wg.Wait()
	for _, hashes := range got {
		for i, h := range hashes {
			require.Equal(t, hmacHex(secret, keys[i%len(keys)]), h)
		}
	}
}

func TestHashKeyPanicsOnAShortSecret(t *testing.T) {
	t.Parallel()
	require.PanicsWithValue(t, "middleware: HashKey: secret of 15 bytes, want at least 16", func() {
		middleware.HashKey[string]([]byte("0123456789abcde"))
	})
	require.PanicsWithValue(t, "middleware: HashKey: secret of 0 bytes, want at least 16", func() {
		middleware.HashKey[string](nil)
	})
}

func TestDropKeyIsAnEmptyGroup(t *testing.T) {
	t.Parallel()
	v := middleware.DropKey("alice@example.com")
	require.Equal(t, slog.KindGroup, v.Kind())
	require.Empty(t, v.Group())
}
