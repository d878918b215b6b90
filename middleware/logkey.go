package middleware

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sync"
)

// MinHashKeySecret is the shortest secret HashKey accepts, in bytes.
const MinHashKeySecret = 16

// HashKey returns a LogOptions.Key that writes, in place of a key, a keyed
// hash of it: the first 128 bits of HMAC-SHA256(secret, key) as 32 hex
// digits. The key's text is what fmt.Sprint(key) returns (a string as it
// is), so keys with the same text get the same hash.
//
// What it protects against: a reader of the logs (a log pipeline, a vendor,
// a leaked archive) learns no key from its record, and cannot find one by
// guessing either, as it could with an unkeyed hash: hashing every user id
// or every email of a list with SHA-256 and comparing is quick, but without
// the secret the guesses cannot be checked.
//
// What it does not protect against:
//
//   - anyone who has the secret: they can hash any guess and compare, so
//     keep it with the service's other secrets, not in its code or its logs;
//   - linking: one key gets the same hash in every record, so a reader can
//     still follow one (unnamed) key through the logs, count its fetches and
//     match it across services that share the secret. That is what makes
//     the records useful ("which key keeps missing?"); give each service its
//     own secret if its records must not be matched with another's;
//   - keys written elsewhere: errors whose text names the key (a source's
//     "bucket: c: not found"), other layers' and other libraries' records.
//
// To find the records of a known key, hash it with the same secret:
// HashKey[K](secret)(key).String(). Rotating the secret changes every hash,
// so records from before and after no longer match.
//
// HashKey copies secret. The returned function is safe for concurrent use.
// HashKey panics if secret is shorter than MinHashKeySecret bytes: a short
// secret can itself be guessed. Use 32 random bytes.
func HashKey[K any](secret []byte) func(K) slog.Value {
	if len(secret) < MinHashKeySecret {
		panic(fmt.Sprintf("middleware: HashKey: secret of %d bytes, want at least %d", len(secret), MinHashKeySecret))
	}
	secret = append([]byte(nil), secret...)
	pool := &sync.Pool{New: func() any { return hmac.New(sha256.New, secret) }}
	return func(key K) slog.Value {
		h := pool.Get().(hash.Hash)
		defer pool.Put(h)
		h.Reset()
		if s, ok := any(key).(string); ok {
			_, _ = io.WriteString(h, s)
		} else {
			_, _ = fmt.Fprint(h, key)
		}
		var sum [sha256.Size]byte
		var out [2 * 16]byte // hex of the first 128 bits
		hex.Encode(out[:], h.Sum(sum[:0])[:16])
		return slog.StringValue(string(out[:]))
	}
}

// DropKey is a LogOptions.Key that leaves the key out of records: it
// returns an empty group value, and Log writes no "key" attribute for one.
// Use it as LogOptions[K]{Key: DropKey[K]}.
func DropKey[K any](K) slog.Value { return slog.GroupValue() }
