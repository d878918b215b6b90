package pipeline_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// fixedLayer is a Describer that says what it is told, for building trees
// without fetching.
type fixedLayer struct {
	desc pipeline.Description
}

func (l *fixedLayer) Fetch(context.Context, string) (string, error) { return "", nil }
func (l *fixedLayer) Describe() pipeline.Description                { return l.desc }

func layer(name string, next ...any) *fixedLayer {
	return &fixedLayer{pipeline.Description{Name: name, Kind: "test", Next: next}}
}

// valueLayer is a comparable Describer held by value.
type valueLayer struct {
	name string
	next any
}

func (l valueLayer) Fetch(context.Context, string) (string, error) { return "", nil }
func (l valueLayer) Describe() pipeline.Description {
	return pipeline.Description{Name: l.name, Kind: "value", Next: []any{l.next}}
}

// sliceLayer is a Describer that cannot be compared.
type sliceLayer []any

func (l sliceLayer) Fetch(context.Context, string) (string, error) { return "", nil }
func (l sliceLayer) Describe() pipeline.Description {
	return pipeline.Description{Kind: "slice", Next: l}
}

// sourceFrom returns a source; every call is a new closure of the same
// function literal.
func sourceFrom(v string) pipeline.FetcherFunc[string, string] {
	return func(context.Context, string) (string, error) { return v, nil }
}

func TestTreeOf(t *testing.T) {
	t.Parallel()
	shared := sourceFrom("x")
	bucket := pipeline.Source("bucket", shared)
	raw := layer("raw", bucket)
	loop := layer("loop")
	loop.desc.Next = []any{loop, bucket}
	twoSources := layer("merge", pipeline.Source("a", shared), pipeline.Source("b", shared))

	tests := []struct {
		name  string
		outer []any
		want  string
	}{
		{
			name:  "nothing",
			outer: nil,
			want:  "",
		},
		{
			name:  "a source alone",
			outer: []any{shared},
			want:  "source\n",
		},
		{
			name:  "a named source alone",
			outer: []any{bucket},
			want:  "bucket (source)\n",
		},
		{
			name:  "a chain",
			outer: []any{layer("outer", layer("middle", raw))},
			want: "bucket (source)\n" +
				"└── raw (test)\n" +
				"    └── middle (test)\n" +
				"        └── outer (test)\n",
		},
		{
			name:  "a shared layer shows once, with its dependents in order",
			outer: []any{layer("p", raw), layer("q", layer("r", raw)), layer("s", raw)},
			want: "bucket (source)\n" +
				"└── raw (test)\n" +
				"    ├── p (test)\n" +
				"    ├── r (test)\n" +
				"    │   └── q (test)\n" +
				"    └── s (test)\n",
		},
		{
			name:  "an inner layer given as well adds nothing",
			outer: []any{raw, layer("p", raw), bucket},
			want: "bucket (source)\n" +
				"└── raw (test)\n" +
				"    └── p (test)\n",
		},
		{
			name:  "the same closure is one source",
			outer: []any{layer("p", shared), layer("q", shared)},
			want: "source\n" +
				"├── p (test)\n" +
				"└── q (test)\n",
		},
		{
			name:  "two closures of one function literal are two sources",
			outer: []any{layer("p", sourceFrom("x")), layer("q", sourceFrom("y"))},
			want: "source\n" +
				"└── p (test)\n" +
				"source\n" +
				"└── q (test)\n",
		},
		{
			name:  "equal comparable values are one layer",
			outer: []any{layer("p", valueLayer{"v", bucket}), layer("q", valueLayer{"v", bucket})},
			want: "bucket (source)\n" +
				"└── v (value)\n" +
				"    ├── p (test)\n" +
				"    └── q (test)\n",
		},
		{
			name:  "values that cannot be compared are a layer each",
			outer: []any{layer("p", sliceLayer{bucket}), layer("q", sliceLayer{bucket})},
			want: "bucket (source)\n" +
				"├── slice\n" +
				"│   └── p (test)\n" +
				"└── slice\n" +
				"    └── q (test)\n",
		},
		{
			name:  "a layer over two sources shows in full once",
			outer: []any{layer("top", twoSources)},
			want: "a (source)\n" +
				"└── merge (test)\n" +
				"    └── top (test)\n" +
				"b (source)\n" +
				"└── merge (test) (see above)\n",
		},
		{
			name:  "a loop is cut",
			outer: []any{layer("top", loop)},
			want: "bucket (source)\n" +
				"└── loop (test)\n" +
				"    └── top (test)\n",
		},
		{
			name:  "nil entries are skipped",
			outer: []any{nil, layer("p", nil, bucket)},
			want: "bucket (source)\n" +
				"└── p (test)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, pipeline.TreeOf(tt.outer...).String())
		})
	}
}

func TestNodeString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		node pipeline.Node
		want string
	}{
		{
			name: "kind only",
			node: pipeline.Node{Kind: "map key"},
			want: "map key",
		},
		{
			name: "kind and detail",
			node: pipeline.Node{Kind: "timeout", Detail: "1s"},
			want: "timeout (1s)",
		},
		{
			name: "name, kind and detail",
			node: pipeline.Node{Name: "raw", Kind: "cache", Detail: "ttl 1m0s"},
			want: "raw (cache, ttl 1m0s)",
		},
		{
			name: "no lookups yet",
			node: pipeline.Node{Name: "raw", Kind: "cache", Stats: &pipeline.Stats{}},
			want: "raw (cache) hits=0 misses=0 fills=0",
		},
		{
			name: "every count",
			node: pipeline.Node{Name: "raw", Kind: "cache", Stats: &pipeline.Stats{
				Hits: 6, Misses: 3, Fills: 1, NotFound: 2, NegativeHits: 1, Errors: 3,
				SharedWaits: 4, StaleServed: 5, Invalidated: 7, Evicted: 8,
			}},
			want: "raw (cache) hits=6 misses=3 fills=1 not_found=2 negative_hits=1 errors=3 " +
				"shared_waits=4 stale_served=5 invalidated=7 evicted=8 hit_ratio=100.0%",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.node.String())
		})
	}
}

func TestTreeNodes(t *testing.T) {
	t.Parallel()
	bucket := pipeline.Source("bucket", sourceFrom("x"))
	raw := layer("raw", bucket)
	merge := layer("merge", raw, pipeline.Source("other", sourceFrom("y")))
	tree := pipeline.TreeOf(layer("p", raw), layer("q", merge))

	var names []string
	for _, n := range tree.Nodes() {
		names = append(names, n.Name)
	}
	require.Equal(t, []string{"bucket", "raw", "p", "merge", "q", "other"}, names)
}

func TestTreeJSON(t *testing.T) {
	t.Parallel()
	src := newSource("a", "1")
	obs := &statsCounter[string]{}
	raw := pipeline.Cache("raw", newMemStore[string, string](), &pipeline.CacheOptions[string]{Observer: obs, TTL: time.Minute})(
		pipeline.Source("bucket", src))
	top := layer("top", raw)
	_, err := raw.Fetch(t.Context(), "a")
	require.NoError(t, err)
	_, err = raw.Fetch(t.Context(), "a")
	require.NoError(t, err)

	got, err := json.Marshal(pipeline.TreeOf(top))
	require.NoError(t, err)
	require.JSONEq(t, `[{
		"name": "bucket", "kind": "source",
		"dependents": [{
			"name": "raw", "kind": "cache", "detail": "ttl 1m0s",
			"settings": [
				{"name": "key", "value": "string"}, {"name": "value", "value": "string"},
				{"name": "store", "value": "*pipeline_test.memStore[string, string]"},
				{"name": "TTL", "value": "1m0s"}, {"name": "NegativeTTL", "value": "off"},
				{"name": "StaleIfError", "value": "off"}, {"name": "RefreshAhead", "value": "off"},
				{"name": "coalescing", "value": "on"}, {"name": "FetchTimeout", "value": "30s"}
			],
			"stats": {"hits": 1, "misses": 1, "fills": 1, "not_found": 0, "negative_hits": 0,
				"errors": 0, "shared_waits": 0, "stale_served": 0, "invalidated": 0, "evicted": 0,
				"hit_ratio": 0.5},
			"dependents": [{"name": "top", "kind": "test"}]
		}]
	}]`, string(got))

	var back pipeline.Tree
	require.NoError(t, json.Unmarshal(got, &back))
	require.Equal(t, pipeline.TreeOf(top).String(), back.String())
}

// TestTreeOfWhileFetching takes trees while the layers serve fetches, for
// the race detector, and checks the final counts.
func TestTreeOfWhileFetching(t *testing.T) {
	t.Parallel()
	src := newSource()
	for i := range 10 {
		src.set(strconv.Itoa(i), "v")
	}
	raw := pipeline.Cache("raw", newMemStore[string, string](),
		&pipeline.CacheOptions[string]{Observer: &statsCounter[string]{}})(src)
	top := pipeline.Cache("top", newMemStore[string, string](),
		&pipeline.CacheOptions[string]{Observer: &statsCounter[string]{}})(raw)

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for g := range errs {
		wg.Go(func() {
			for i := range 100 {
				if _, err := top.Fetch(context.Background(), strconv.Itoa(i%10)); err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	for range 20 {
		_ = pipeline.TreeOf(top).String()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	nodes := pipeline.TreeOf(top).Nodes()
	require.Len(t, nodes, 3)
	require.Equal(t, uint64(10), nodes[1].Stats.Fills)
	require.Equal(t, uint64(10), nodes[2].Stats.Fills)
	require.Equal(t, uint64(400), nodes[2].Stats.Hits+nodes[2].Stats.Misses)
}

func TestSource(t *testing.T) {
	t.Parallel()
	expires := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
		m := make(map[string]string)
		for _, k := range keys {
			m[k] = "bulk " + k
		}
		return m, nil
	})
	expiring := pipeline.EntryFetcherFunc[string, string](func(_ context.Context, k string) (pipeline.Entry[string], error) {
		return pipeline.Entry[string]{Value: "entry " + k, Expires: expires}, nil
	})
	tests := []struct {
		name      string
		f         pipeline.Fetcher[string, string]
		batches   bool
		want      string
		wantEntry pipeline.Entry[string]
	}{
		{
			name:      "plain",
			f:         sourceFrom("v"),
			want:      "v",
			wantEntry: pipeline.Entry[string]{Value: "v"},
		},
		{
			name:      "keeps batches",
			f:         bulk,
			batches:   true,
			want:      "bulk k",
			wantEntry: pipeline.Entry[string]{Value: "bulk k"},
		},
		{
			name:      "keeps lifetimes",
			f:         expiring,
			want:      "entry k",
			wantEntry: pipeline.Entry[string]{Value: "entry k", Expires: expires},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := pipeline.Source("src", tt.f)
			v, err := s.Fetch(t.Context(), "k")
			require.NoError(t, err)
			require.Equal(t, tt.want, v)

			ef, ok := s.(pipeline.EntryFetcher[string, string])
			require.True(t, ok)
			e, err := ef.FetchEntry(t.Context(), "k")
			require.NoError(t, err)
			require.Equal(t, tt.wantEntry, e)

			bf, ok := s.(pipeline.BatchFetcher[string, string])
			require.Equal(t, tt.batches, ok)
			if ok {
				out := make([]pipeline.Result[string], 2)
				bf.FetchBatch(t.Context(), []string{"x", "y"}, out)
				require.Equal(t, "bulk y", out[1].Value)
			}

			require.Equal(t, pipeline.Description{Name: "src", Kind: "source"}, s.(pipeline.Describer).Describe())
			require.Equal(t, "src (source)\n", pipeline.TreeOf(s).String())
		})
	}

	t.Run("bad arguments panic", func(t *testing.T) {
		t.Parallel()
		require.PanicsWithValue(t, "pipeline: Source: empty name", func() {
			pipeline.Source[string, string]("", sourceFrom("v"))
		})
		require.PanicsWithValue(t, "pipeline: Source src: nil next Fetcher", func() {
			pipeline.Source[string, string]("src", nil)
		})
	})
}

// forkLayer is a Describer that cannot be compared (it holds a slice), so
// TreeOf cannot tell two sightings of it apart. Its Next lists itself twice:
// a loop with a fork, such as a fallback layer whose tiers lead back to it.
// It counts its Describe calls and, past limit, stops listing anything, so
// that the test ends even when the walk does not.
type forkLayer struct {
	calls *atomic.Int64
	limit int64
	_     []int // not comparable
}

func (l forkLayer) Fetch(context.Context, string) (string, error) { return "", nil }

func (l forkLayer) Describe() pipeline.Description {
	if l.calls.Add(1) > l.limit {
		return pipeline.Description{Kind: "fork"}
	}
	return pipeline.Description{Kind: "fork", Next: []any{l, l}}
}

// TestTreeOfStopsForkedLoopWithoutIdentity: a loop through a layer that
// has no identity, with two ways back at each step, would take a number of
// Describe calls exponential in the depth bound (2^257: a hang); the walk
// stops after 4096 nodes.
func TestTreeOfStopsForkedLoopWithoutIdentity(t *testing.T) {
	t.Parallel()
	l := forkLayer{calls: new(atomic.Int64), limit: 100_000}
	_ = pipeline.TreeOf(l)
	require.LessOrEqual(t, l.calls.Load(), int64(4096), "Describe calls for a one-layer loop")
}

// TestTreeOfEndsLoopsThroughLayersWithIdentity: loops through layers with
// identity end at once however they branch, and every node is printed and
// encoded once.
func TestTreeOfEndsLoopsThroughLayersWithIdentity(t *testing.T) {
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

// TestTreeOfEndsSelfLoopOfValue: a non-comparable Describer whose only Next
// is itself does not hang.
func TestTreeOfEndsSelfLoopOfValue(t *testing.T) {
	t.Parallel()
	s := make(sliceLayer, 1)
	s[0] = s
	tree := pipeline.TreeOf(s)
	require.NotEmpty(t, tree.String())
	_, err := json.Marshal(tree)
	require.NoError(t, err)
}

// TestTreeOfFindsLayerSharedThroughStockLayers: two stacks sharing one
// cache layer through stock layers show it once, with both dependents.
func TestTreeOfFindsLayerSharedThroughStockLayers(t *testing.T) {
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

// boxLayer is a Describer held by value whose comparability depends on
// what its interface field holds.
type boxLayer struct {
	name string
	held any
	next any
}

func (l boxLayer) Fetch(context.Context, string) (string, error) { return "", nil }

func (l boxLayer) Describe() pipeline.Description {
	return pipeline.Description{Name: l.name, Kind: "box", Next: []any{l.next}}
}

// TestTreeOfDoesNotHashUncomparableInsideComparable: a value whose type is
// comparable but which holds something that is not (a slice, a map, a func
// in an interface field, or in an array) must not make TreeOf panic on
// hashing it.
func TestTreeOfDoesNotHashUncomparableInsideComparable(t *testing.T) {
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
				tree = pipeline.TreeOf(layer("p", boxLayer{"b", held, src}), layer("q", boxLayer{"b", held, src}))
			})
			require.Contains(t, tree.String(), "b (box)")
		})
	}
}
