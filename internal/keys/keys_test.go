package keys_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/keys"
)

type withFloat struct {
	Name string
	F    float64
}

func TestMayBeInvalidOnlyForInterfacesAndFloats(t *testing.T) {
	t.Parallel()
	require.False(t, keys.MayBeInvalid[string]())
	require.False(t, keys.MayBeInvalid[int]())
	require.False(t, keys.MayBeInvalid[struct{ A, B string }]())
	require.False(t, keys.MayBeInvalid[*int]())
	require.True(t, keys.MayBeInvalid[any]())
	require.True(t, keys.MayBeInvalid[float64]())
	require.True(t, keys.MayBeInvalid[withFloat]())
	require.True(t, keys.MayBeInvalid[[2]complex64]())
}

func TestValidRejectsNaNAndUnhashable(t *testing.T) {
	t.Parallel()
	require.True(t, keys.Valid(1.5))
	require.False(t, keys.Valid(math.NaN()))
	require.False(t, keys.Valid(withFloat{"a", math.NaN()}))
	require.True(t, keys.Valid[any]("a"))
	require.False(t, keys.Valid[any]([]int{1}))
	require.False(t, keys.Valid[any](math.NaN()))
	require.False(t, keys.Valid[any](map[string]int{}))
}
