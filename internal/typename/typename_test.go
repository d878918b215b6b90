package typename_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/typename"
	"github.com/multilayer-cache/multilayer/pipeline"
)

type pair[A, B any] struct {
	a A
	b B
}

type tagged struct{ Raw []uint8 }

func TestStringWritesTypesAsUsersDo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		typ  reflect.Type
		want string
	}{
		{name: "bytes", typ: reflect.TypeFor[[]byte](), want: "[]byte"},
		{name: "a byte", typ: reflect.TypeFor[byte](), want: "byte"},
		{name: "int32 stays", typ: reflect.TypeFor[[]int32](), want: "[]int32"},
		{name: "a map", typ: reflect.TypeFor[map[string]int](), want: "map[string]int"},
		{name: "a map of bytes", typ: reflect.TypeFor[map[string][]byte](), want: "map[string][]byte"},
		{name: "any", typ: reflect.TypeFor[any](), want: "any"},
		{name: "a slice of any", typ: reflect.TypeFor[[]any](), want: "[]any"},
		{name: "a pointer to a named type", typ: reflect.TypeFor[*tagged](), want: "*typename_test.tagged"},
		{name: "a func", typ: reflect.TypeFor[func(int, []byte) (string, error)](), want: "func(int, []byte) (string, error)"},
		{name: "a channel", typ: reflect.TypeFor[<-chan []byte](), want: "<-chan []byte"},
		{name: "generic, paths cut", typ: reflect.TypeFor[pair[pipeline.Stats, []byte]](),
			want: "typename_test.pair[pipeline.Stats, []byte]"},
		{name: "generic, nested", typ: reflect.TypeFor[pipeline.Entry[pair[int, map[string]uint8]]](),
			want: "pipeline.Entry[typename_test.pair[int, map[string]byte]]"},
		{name: "a struct tag is left alone", typ: reflect.TypeFor[struct {
			A []uint8 `x:"p/q,uint8"`
		}](), want: "struct { A []byte \"x:\\\"p/q,uint8\\\"\" }"},
		{name: "an empty interface in a struct tag is left alone", typ: reflect.TypeFor[struct {
			A any `x:"interface {}"`
		}](), want: "struct { A any \"x:\\\"interface {}\\\"\" }"},
		{name: "nil", typ: nil, want: "<nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, typename.String(tt.typ))
		})
	}
}
