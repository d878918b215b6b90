package redis

import (
	"fmt"
	"strings"
)

// Key layout. Every Redis key of a Store is one of
//
//	<namespace>:g                          the namespace's generation (a counter)
//	<namespace>:<generation>:<EncodeKey(key)>  the entry of key
//
// The namespace consists of plain bytes only (see plainByte), so it holds no
// ':'; the generation is a decimal number; EncodeKey's output holds no ':'.
// So the parts of a Redis key are found by splitting it at its first two
// colons, every key maps to one Redis key and back, and no key can reach
// another namespace, another generation or the generation counter. The
// encoded key also holds no '{' or '}', so no key picks its own Cluster hash
// slot: entries spread over the slots by their whole name, and no glob
// metacharacter, so "<namespace>:*" is a safe SCAN pattern.

// plainByte reports whether EncodeKey keeps c as it is: ASCII letters and
// digits and "-._~/", the characters of URI paths that need no escaping.
func plainByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '/'
}

const upperHex = "0123456789ABCDEF"

// EncodeKey returns the form of key that a Store puts in its Redis keys:
// key itself if every byte of it is an ASCII letter or digit or one of
// "-._~/", and otherwise key with every other byte written as '%' and two
// upper-case hexadecimal digits, as in a URL. Any string, valid UTF-8 or
// not, has an encoding, and no two strings have the same one. See
// DecodeKey.
func EncodeKey(key string) string { return redisKey("", key) }

// redisKey returns the Redis key of key under prefix, prefix followed by
// EncodeKey(key), with one allocation at most (none for a plain key and an
// empty prefix).
func redisKey(prefix, key string) string {
	n := encodedLen(key)
	if n == len(key) {
		return prefix + key
	}
	var b strings.Builder
	b.Grow(len(prefix) + n)
	b.WriteString(prefix)
	appendKey(&b, key)
	return b.String()
}

// appendKey writes the encoding of key to b.
func appendKey(b *strings.Builder, key string) {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if plainByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&0xF])
	}
}

// encodedLen returns len(EncodeKey(key)).
func encodedLen(key string) int {
	n := len(key)
	for i := 0; i < len(key); i++ {
		if !plainByte(key[i]) {
			n += 2
		}
	}
	return n
}

// DecodeKey returns the key whose encoding is s: DecodeKey(EncodeKey(k))
// returns k for every k. It returns an error wrapping ErrBadKey for a
// string that EncodeKey does not return for any key: one with a byte that
// is neither plain nor part of an escape, a malformed or lower-case escape,
// or an escape of a plain byte.
func DecodeKey(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plainByte(c) {
			b.WriteByte(c)
			continue
		}
		if c != '%' || i+2 >= len(s) {
			return "", fmt.Errorf("%w: %q: byte %d", ErrBadKey, s, i)
		}
		hi, lo := unhex(s[i+1]), unhex(s[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("%w: %q: escape at byte %d", ErrBadKey, s, i)
		}
		d := byte(hi<<4 | lo)
		if plainByte(d) {
			return "", fmt.Errorf("%w: %q: needless escape at byte %d", ErrBadKey, s, i)
		}
		b.WriteByte(d)
		i += 2
	}
	return b.String(), nil
}

// unhex returns the value of an upper-case hexadecimal digit, or -1.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// validNamespace reports whether ns can be a namespace: 1 to 64 plain
// bytes.
func validNamespace(ns string) bool {
	if ns == "" || len(ns) > maxNamespace {
		return false
	}
	for i := 0; i < len(ns); i++ {
		if !plainByte(ns[i]) {
			return false
		}
	}
	return true
}

// maxNamespace is the longest namespace, in bytes.
const maxNamespace = 64
