// Package typename writes Go types as their users write them, for the
// descriptions of layers: []byte, not []uint8; any, not interface {};
// stores.LRU[string, []byte], not the full package paths that reflect
// writes inside a generic type's arguments.
//
// Invariant: the result is reflect's String with three rewrites, each
// outside quoted struct tags: every identifier that holds a package path
// keeps what follows its last slash; uint8 becomes byte and interface {}
// becomes any; a comma is followed by a space. int32 stays int32: as a
// number it is as common as rune.
package typename

import (
	"reflect"
	"strings"
)

// Of returns the name of T as a user writes it, such as "[]byte" or
// "map[string]main.Doc".
func Of[T any]() string { return String(reflect.TypeFor[T]()) }

// String returns the name of t as a user writes it; "<nil>" for a nil t.
func String(t reflect.Type) string {
	if t == nil {
		return "<nil>"
	}
	return rewrite(t.String())
}

// rewrite applies the package's rewrites to s, a type as reflect writes it.
func rewrite(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '"' || c == '`':
			j := endOfQuote(s, i)
			b.WriteString(s[i:j])
			i = j
		case c == ',':
			b.WriteString(", ")
			i++
			for i < len(s) && s[i] == ' ' {
				i++
			}
		case strings.HasPrefix(s[i:], "interface {}"):
			b.WriteString("any")
			i += len("interface {}")
		case isIdent(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			b.WriteString(word(s[i:j]))
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// word rewrites one identifier, qualified or not.
func word(w string) string {
	if i := strings.LastIndexByte(w, '/'); i >= 0 {
		w = w[i+1:]
	}
	if w == "uint8" {
		return "byte"
	}
	return w
}

// isIdent reports whether c may be part of a qualified identifier, package
// path included (such as github.com/x/y-z.T).
func isIdent(c byte) bool {
	return c == '_' || c == '.' || c == '/' || c == '-' || c == '~' ||
		'0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
}

// endOfQuote returns the index just past the quoted string that starts at
// s[i].
func endOfQuote(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q == '"':
			j++
		case s[j] == q:
			return j + 1
		}
	}
	return len(s)
}
