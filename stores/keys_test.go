package stores_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// anyStore is a stock store over any keys, with Len.
type anyStore interface {
	pipeline.BatchStore[any, string]
	Len() int
}

// anyKeyStores returns one of each stock store over any keys.
func anyKeyStores(t *testing.T) map[string]anyStore {
	t.Helper()
	lru := mustLRU[any, []byte](t, 4)
	return map[string]anyStore{
		"Map":      stores.NewMap[any, string](),
		"zero Map": new(stores.Map[any, string]),
		"LRU":      mustLRU[any, string](t, 4),
		"TTL":      mustTTL[any, string](t, 4, time.Minute, nil),
		"2Q":       mustTwoQueue[any, string](t, 4),
		"ARC":      mustARC[any, string](t, 4),
		"Encoded LRU": anyLenStore{
			stores.Encoded(lru, stringCodec{}).(pipeline.BatchStore[any, string]), lru.Len,
		},
	}
}

type anyLenStore struct {
	pipeline.BatchStore[any, string]
	len func() int
}

func (s anyLenStore) Len() int { return s.len() }

// pair is a struct key that holds an interface.
type pair struct {
	a string
	b any
}

// invalidKeys are keys that cannot live in a map: they cannot be hashed, or
// are not equal to themselves.
var invalidKeys = map[string]any{
	"slice":             []int{1},
	"map in a struct":   pair{"x", map[int]int{}},
	"NaN":               math.NaN(),
	"NaN in a struct":   pair{"x", math.NaN()},
	"NaN in an array":   [2]float64{1, math.NaN()},
	"complex with NaN":  complex(math.NaN(), 0),
	"float32 NaN":       float32(math.NaN()),
	"func in an any":    func() {},
	"NaN behind an any": any(math.NaN()),
}

// A key that cannot be hashed, or is not equal to itself (NaN), is an error
// wrapping pipeline.ErrInvalidKey for its caller alone, from every method of
// every stock store; it is never stored, and the store goes on working.
func TestInvalidKeyIsAnErrorForItsCaller(t *testing.T) {
	t.Parallel()
	for name, s := range anyKeyStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			for keyName, bad := range invalidKeys {
				for op, call := range map[string]func() error{
					"Get":      func() error { _, _, err := s.Get(ctx, bad); return err },
					"GetEntry": func() error { _, _, err := s.GetEntry(ctx, bad); return err },
					"Set":      func() error { return s.Set(ctx, bad, "v") },
					"SetEntry": func() error { return s.SetEntry(ctx, bad, pipeline.Entry[string]{Value: "v"}) },
					"Delete":   func() error { return s.Delete(ctx, bad) },
				} {
					err := call()
					require.ErrorIs(t, err, pipeline.ErrInvalidKey, "%s %s", op, keyName)
					require.Regexp(t, `^stores: `, err.Error())
				}
				require.Zero(t, s.Len(), "%s: nothing stored", keyName)

				keys := []any{"a", bad, "b"}
				err := s.SetBatch(ctx, keys, []pipeline.Entry[string]{{Value: "A"}, {Value: "X"}, {Value: "B"}})
				require.ErrorIs(t, err, pipeline.ErrInvalidKey, "SetBatch %s", keyName)
				require.Equal(t, 2, s.Len(), "SetBatch stores the valid keys")

				out := make([]pipeline.Result[string], len(keys))
				s.GetBatch(ctx, keys, out)
				require.NoError(t, out[0].Err)
				require.Equal(t, "A", out[0].Value)
				require.ErrorIs(t, out[1].Err, pipeline.ErrInvalidKey, "GetBatch %s", keyName)
				require.False(t, errors.Is(out[1].Err, pipeline.ErrNotFound))
				require.NoError(t, out[2].Err)
				require.Equal(t, "B", out[2].Value)

				require.NoError(t, s.Delete(ctx, "a"))
				require.NoError(t, s.Delete(ctx, "b"))
			}

			require.NoError(t, s.Set(ctx, pair{"p", 1}, "hashable"), "an interface holding a valid key is fine")
			v, ok, err := s.Get(ctx, pair{"p", 1})
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "hashable", v)
		})
	}
}
