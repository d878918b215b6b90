package pipeline_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// rvForkLayer is a Describer that cannot be compared (it holds a slice), so
// TreeOf cannot tell two sightings of it apart. Its Next lists itself twice:
// a loop with a fork, such as a fallback layer whose tiers lead back to it.
// It counts its Describe calls and, past limit, stops listing anything, so
// that the test ends even when the walk does not.
type rvForkLayer struct {
	calls *atomic.Int64
	limit int64
	_     []int // not comparable
}

func (l rvForkLayer) Fetch(context.Context, string) (string, error) { return "", nil }
func (l rvForkLayer) Describe() pipeline.Description {
	if l.calls.Add(1) > l.limit {
		return pipeline.Description{Kind: "fork"}
	}
	return pipeline.Description{Kind: "fork", Next: []any{l, l}}
}

// TestReviewTreeOfForkedLoopWithoutIdentity: a loop through a layer that
// has no identity, with two ways back at each step, was exponential in the
// depth bound (2^257 Describe calls: a hang). The walk now stops after 4096
// nodes.
func TestReviewTreeOfForkedLoopWithoutIdentity(t *testing.T) {
	t.Parallel()
	l := rvForkLayer{calls: new(atomic.Int64), limit: 100_000}
	_ = pipeline.TreeOf(l)
	require.LessOrEqual(t, l.calls.Load(), int64(4096), "Describe calls for a one-layer loop")
}

// TestReviewTreeOfLoops: loops through layers with identity end at once
// however they branch, and every node is printed and encoded once.
func TestReviewTreeOfLoops(t *testing.T) {
	t.Parallel()
	a, b, c := layer("a"), layer("b"), layer("c")
	src := pipeline.Source("src", sourceFrom("x"))
	a.desc.Next = []any{b, c, a}
	b.desc.Next = []any{a, c, src}
	c.desc.Next = []any{a, b, src, c}
	tree := pipeline.TreeOf(a, b, c)
	require.Len(t, tree.Nodes(), 4)
	s := tree.String()
	require.Equal(t, 1, strings.Count(s, "a (test)\n"), "drawn in full once, then \"(see above)\"")
	require.NotEmpty(t, s)
	_, err := json.Marshal(tree)
	require.NoError(t, err)
}

// TestReviewTreeOfSelfLoopValue: a non-comparable Describer whose only Next
// is itself does not hang.
func TestReviewTreeOfSelfLoopValue(t *testing.T) {
	t.Parallel()
	s := make(sliceLayer, 1)
	s[0] = s
	tree := pipeline.TreeOf(s)
	require.NotEmpty(t, tree.String())
	_, err := json.Marshal(tree)
	require.NoError(t, err)
}

// TestReviewTreeOfSharedThroughStock: two stacks sharing one cache layer
// through stock layers show it once, with both dependents.
func TestReviewTreeOfSharedThroughStock(t *testing.T) {
	t.Parallel()
	src := pipeline.Source("bucket", sourceFrom("x"))
	raw := pipeline.Cache("raw", newMemStore[string, string](), nil)(src)
	p := pipeline.Cache("p", newMemStore[string, string](), nil)(raw)
	q := pipeline.Cache("q", newMemStore[string, string](), nil)(raw)
	require.Equal(t, "bucket (source)\n"+
		"└── raw (cache)\n"+
		"    ├── p (cache)\n"+
		"    └── q (cache)\n", pipeline.TreeOf(p, q, raw).String())
}

// rvBoxLayer is a Describer held by value whose comparability depends on
// what its interface field holds.
type rvBoxLayer struct {
	name string
	held any
	next any
}

func (l rvBoxLayer) Fetch(context.Context, string) (string, error) { return "", nil }
func (l rvBoxLayer) Describe() pipeline.Description {
	return pipeline.Description{Name: l.name, Kind: "box", Next: []any{l.next}}
}

// TestReviewTreeOfUncomparableInside: a value whose type is comparable but
// which holds something that is not (a slice, a map, a func in an interface
// field, or in an array) must not make TreeOf panic on hashing it.
func TestReviewTreeOfUncomparableInside(t *testing.T) {
	t.Parallel()
	src := pipeline.Source("src", sourceFrom("x"))
	for name, held := range map[string]any{
		"slice":          []int{1},
		"map":            map[string]int{},
		"func":           func() {},
		"array of slice": [1]any{[]int{1}},
		"nested struct":  struct{ x any }{[]int{1}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var tree pipeline.Tree
			require.NotPanics(t, func() {
				tree = pipeline.TreeOf(layer("p", rvBoxLayer{"b", held, src}), layer("q", rvBoxLayer{"b", held, src}))
			})
			require.Contains(t, tree.String(), "b (box)")
		})
	}
}
