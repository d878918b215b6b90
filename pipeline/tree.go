package pipeline

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unsafe"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
)

// A Node is one layer of a [Tree]: what the layer says of itself (its
// [Description], with Stats as they were when the tree was made) and the
// layers that fetch from it.
type Node struct {
	Name   string `json:"name,omitempty"`
	Kind   string `json:"kind"`
	Detail string `json:"detail,omitempty"`
	Stats  *Stats `json:"stats,omitempty"`
	Usage  *Usage `json:"usage,omitempty"`
	// Latency, LastError, Settings and ReportsEvictions are as in the
	// layer's Description.
	Latency          *Histogram `json:"latency,omitempty"`
	LastError        *LastError `json:"last_error,omitempty"`
	Settings         []Setting  `json:"settings,omitempty"`
	ReportsEvictions bool       `json:"reports_evictions,omitempty"`
	// Dependents are the layers directly above this one, in the order they
	// were found; a shared layer has several.
	Dependents []*Node `json:"dependents,omitempty"`
}

// A Tree is a snapshot of one or more pipelines, turned the way values
// flow: its roots are the sources, and below each layer stand the layers
// that depend on it. A layer shared by several pipelines is one Node.
type Tree []*Node

// TreeOf returns the tree of the pipelines whose outermost Fetchers (of any
// key and value types) are given, walking each inward through
// Description.Next. A Fetcher that is not a Describer ends its path as an
// unnamed layer of kind "source" (see [Source] to name it).
//
// A Fetcher reached twice is one Node when TreeOf can tell it is the same:
// a pointer, map, channel, the same closure, or an equal comparable value.
// A value that cannot be compared is a new Node each time it is reached; a
// walk stops after 4096 Nodes, so that such layers describing a loop cannot
// make it endless. An inner layer given as well adds nothing. TreeOf calls
// Describe once per Node, from the calling goroutine; it is safe to call
// while the pipelines serve fetches.
func TreeOf(outer ...any) Tree {
	w := walker{seen: make(map[any]*Node), walking: make(map[*Node]bool)}
	for _, f := range outer {
		w.visit(f, 0)
	}
	return w.roots
}

// maxDepth bounds one path of the walk and maxNodes the whole walk, for
// layers without identity that describe a loop: with two ways back, each
// level would double the work.
const (
	maxDepth = 256
	maxNodes = 4096
)

type walker struct {
	seen    map[any]*Node  // by identity
	walking map[*Node]bool // on the current path, to break loops
	roots   Tree
	nodes   int // made so far
}

// visit returns the Node of f, making it and those below it if need be, or
// nil if f is nil or the walk went too far.
func (w *walker) visit(f any, depth int) *Node {
	if f == nil || depth > maxDepth || w.nodes >= maxNodes {
		return nil
	}
	id, hasID := identity(f)
	if n := w.seen[id]; hasID && n != nil {
		return n
	}
	n := &Node{Kind: "source"}
	w.nodes++
	if hasID {
		w.seen[id] = n
	}
	d, ok := f.(Describer)
	if !ok {
		w.roots = append(w.roots, n)
		return n
	}
	desc := d.Describe()
	n.Name, n.Kind, n.Detail, n.Stats, n.Usage = desc.Name, desc.Kind, desc.Detail, desc.Stats, desc.Usage
	n.Latency, n.LastError, n.Settings, n.ReportsEvictions = desc.Latency, desc.LastError, desc.Settings, desc.ReportsEvictions
	w.walking[n] = true
	isRoot := true
	for _, next := range desc.Next {
		in := w.visit(next, depth+1)
		if in == nil || w.walking[in] {
			continue // nothing there, or a loop back to a layer on this path
		}
		isRoot = false
		if !slices.Contains(in.Dependents, n) {
			in.Dependents = append(in.Dependents, n)
		}
	}
	delete(w.walking, n)
	if isRoot {
		w.roots = append(w.roots, n)
	}
	return n
}

// ref identifies a Fetcher held by reference.
type ref struct {
	t reflect.Type
	p unsafe.Pointer
}

// identity returns a map key that is equal for two values exactly when they
// are the same Fetcher, or false if there is none. A func value cannot be
// compared, and reflect gives only its code pointer, shared by every closure
// of one literal; so identity reads the closure pointer that the value is.
func identity(f any) (any, bool) {
	v := reflect.ValueOf(f)
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Chan, reflect.UnsafePointer:
		return ref{v.Type(), v.UnsafePointer()}, true
	case reflect.Func:
		p := reflect.New(v.Type())
		p.Elem().Set(v)
		return ref{v.Type(), *(*unsafe.Pointer)(p.UnsafePointer())}, true
	}
	if v.Comparable() {
		return f, true
	}
	return nil, false
}

// Nodes returns every node of the tree once, in the order String draws
// them: depth first, from the sources outward.
func (t Tree) Nodes() []*Node {
	var out []*Node
	done := make(map[*Node]bool)
	var walk func(nodes []*Node)
	walk = func(nodes []*Node) {
		for _, n := range nodes {
			if !done[n] {
				done[n] = true
				out = append(out, n)
				walk(n.Dependents)
			}
		}
	}
	walk(t)
	return out
}

// String draws the tree as text, one layer a line (see Node.String), with
// each layer's dependents below it:
//
//	bucket (source)
//	└── raw_files (cache) hits=3 misses=2 fills=2 hit_ratio=60.0%
//	    ├── map key
//	    │   └── parsed_files (cache) hits=1 misses=1 fills=1 hit_ratio=50.0%
//	    └── yaml_files (cache) hits=0 misses=1 fills=1 hit_ratio=0.0%
//
// A layer that stands in several places (it depends on several others) is
// drawn in full the first time, then as its line and "(see above)".
func (t Tree) String() string {
	var b strings.Builder
	done := make(map[*Node]bool)
	var draw func(n *Node, first, rest string)
	draw = func(n *Node, first, rest string) {
		b.WriteString(first + n.String())
		if done[n] {
			b.WriteString(" (see above)\n")
			return
		}
		done[n] = true
		b.WriteByte('\n')
		for i, d := range n.Dependents {
			if i < len(n.Dependents)-1 {
				draw(d, rest+"├── ", rest+"│   ")
			} else {
				draw(d, rest+"└── ", rest+"    ")
			}
		}
	}
	for _, n := range t {
		draw(n, "", "")
	}
	return b.String()
}

// String returns the node's line in a tree: its name, then its kind and
// detail in parentheses (a layer with no name shows its kind first), then
// its counts, such as
//
//	raw_files (cache, ttl 1m0s) hits=3 misses=2 fills=2 errors=1 hit_ratio=60.0%
//
// Hits, misses and fills are always shown, other counts only when not zero,
// and the hit ratio (see Stats.HitRatio) once there were lookups.
func (n *Node) String() string {
	var b strings.Builder
	switch {
	case n.Name == "" && n.Detail == "":
		b.WriteString(n.Kind)
	case n.Name == "":
		fmt.Fprintf(&b, "%s (%s)", n.Kind, n.Detail)
	case n.Detail == "":
		fmt.Fprintf(&b, "%s (%s)", n.Name, n.Kind)
	default:
		fmt.Fprintf(&b, "%s (%s, %s)", n.Name, n.Kind, n.Detail)
	}
	if u := n.Usage; u != nil {
		fmt.Fprintf(&b, " entries=%d", u.Entries)
		if u.Capacity > 0 {
			fmt.Fprintf(&b, "/%d", u.Capacity)
		}
		if u.MaxBytes > 0 {
			fmt.Fprintf(&b, " bytes=%d/%d", u.Bytes, u.MaxBytes)
		}
	}
	s := n.Stats
	if s == nil {
		return b.String()
	}
	fmt.Fprintf(&b, " hits=%d misses=%d fills=%d", s.Hits, s.Misses, s.Fills)
	for _, c := range [...]struct {
		name string
		n    uint64
	}{
		{"not_found", s.NotFound}, {"negative_hits", s.NegativeHits}, {"errors", s.Errors},
		{"shared_waits", s.SharedWaits}, {"stale_served", s.StaleServed},
		{"invalidated", s.Invalidated}, {"evicted", s.Evicted},
	} {
		if c.n != 0 {
			fmt.Fprintf(&b, " %s=%d", c.name, c.n)
		}
	}
	if s.Hits+s.NegativeHits+s.Misses > 0 {
		fmt.Fprintf(&b, " hit_ratio=%.1f%%", 100*s.HitRatio())
	}
	return b.String()
}

// Source returns f named name in a pipeline's tree (see TreeOf), as a layer
// of kind "source", for a source that is not a Describer, such as a
// FetcherFunc; what f would describe is not shown. The returned Fetcher
// fetches through f and keeps f's [EntryFetcher] and [BatchFetcher]; f's
// Invalidator, Clearer and Closer are not passed on. Source panics if name
// is empty or f is nil.
func Source[K, V any](name string, f Fetcher[K, V]) Fetcher[K, V] {
	if name == "" {
		panic("pipeline: Source: empty name")
	}
	plumbing.MustNext("pipeline: Source "+name, f)
	s := &source[K, V]{name: name, f: f, entries: Entries(f)}
	if b, ok := f.(BatchFetcher[K, V]); ok {
		return &batchSource[K, V]{s, b}
	}
	return s
}

// source is the Fetcher returned by Source; batchSource, when f can batch.
type source[K, V any] struct {
	name    string
	f       Fetcher[K, V]
	entries EntryFetcher[K, V]
}

func (s *source[K, V]) Fetch(ctx context.Context, key K) (V, error) { return s.f.Fetch(ctx, key) }

func (s *source[K, V]) FetchEntry(ctx context.Context, key K) (Entry[V], error) {
	return s.entries.FetchEntry(ctx, key)
}

func (s *source[K, V]) Describe() Description { return Description{Name: s.name, Kind: "source"} }

type batchSource[K, V any] struct {
	*source[K, V]
	batch BatchFetcher[K, V]
}

func (s *batchSource[K, V]) FetchBatch(ctx context.Context, keys []K, out []Result[V]) {
	s.batch.FetchBatch(ctx, keys, out)
}
