package pipeline_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// verSource answers key -> "key:version"; bump moves a key's version.
type verSource struct {
	mu  sync.Mutex
	ver map[string]int
}

func (s *verSource) get(k string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return k + ":" + strconv.Itoa(s.ver[k])
}

func (s *verSource) bump(k string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ver[k]++
	return s.ver[k]
}

func (s *verSource) Fetch(_ context.Context, k string) (string, error) { return s.get(k), nil }

func (s *verSource) bulk(_ context.Context, keys []string) (map[string]string, error) {
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = s.get(k)
	}
	return m, nil
}

func verOf(v string) int {
	_, n, _ := strings.Cut(v, ":")
	i, _ := strconv.Atoi(n)
	return i
}

// Readers, single and batch, cancellable or not, race invalidations of a
// source that moves on, through each of stressTopologies: one layer, direct
// stacks of two and three layers (identity dependents, invalidated at the
// top, in the middle or at the bottom) and a tree that mixes identity and
// recorded dependents. No read that starts after an Invalidate returned may see a
// version older than the one the source had before it.
func TestNoStaleReadAfterInvalidate(t *testing.T) {
	for _, topo := range stressTopologies() {
		for _, bulk := range []bool{false, true} {
			for _, lru := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/bulk=%v/lru=%v", topo.name, bulk, lru), func(t *testing.T) {
					t.Parallel()
					stress(t, topo, bulk, lru)
				})
			}
		}
	}
}

// layerMaker makes a cache layer named name over next.
type layerMaker func(name string, next pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string]

// stressTopology is a case of TestNoStaleReadAfterInvalidate: build makes
// its layers with mk over below and returns the layer read from, the layer
// invalidated, and how a key invalidated maps to a key read.
type stressTopology struct {
	name  string
	build func(mk layerMaker, below pipeline.Fetcher[string, string]) (read, inv pipeline.Fetcher[string, string], mapk func(string) string)
	// invalidateMapped invalidates the mapped key (the key read) rather
	// than the key itself.
	invalidateMapped bool
}

func identityKey(k string) string { return k }

// stressTopologies returns one layer, direct stacks of two and three layers
// (identity dependents, invalidated at the top, in the middle or at the
// bottom) and a tree that mixes identity and recorded dependents.
func stressTopologies() []stressTopology {
	return []stressTopology{
		{name: "one", invalidateMapped: true, build: func(mk layerMaker, below pipeline.Fetcher[string, string]) (read, inv pipeline.Fetcher[string, string], mapk func(string) string) {
			read = mk("c", below)
			return read, read, identityKey
		}},
		{name: "direct-inner", build: func(mk layerMaker, below pipeline.Fetcher[string, string]) (read, inv pipeline.Fetcher[string, string], mapk func(string) string) {
			in := mk("in", below)
			return mk("top", in), in, identityKey
		}},
		{name: "direct-top", invalidateMapped: true, build: func(mk layerMaker, below pipeline.Fetcher[string, string]) (read, inv pipeline.Fetcher[string, string], mapk func(string) string) {
			in := mk("in", below)
			read = mk("top", in)
			return read, read, identityKey
		}},
		{name: "three-mid", build: func(mk layerMaker, below pipeline.Fetcher[string, string]) (read, inv pipeline.Fetcher[string, string], mapk func(string) string) {
			in := mk("in", below)
			mid := mk("mid", in)
			return mk("top", mid), mid, identityKey
		}},
		{name: "three-inner", build: func(mk layerMaker, below pipeline.Fetcher[string, string]) (read, inv pipeline.Fetcher[string, string], mapk func(string) string) {
			in := mk("in", below)
			mid := mk("mid", in)
			return mk("top", mid), in, identityKey
		}},
		{name: "tree", build: func(mk layerMaker, below pipeline.Fetcher[string, string]) (read, inv pipeline.Fetcher[string, string], mapk func(string) string) {
			in := mk("in", below)
			mid := mk("mid", in)               // identity over in
			read = mk("top", upperNoCase{mid}) // recorded over mid
			_ = mk("other", upperNoCase{in})   // recorded over in
			return read, in, func(k string) string { return k + "/x" }
		}},
	}
}

func stress(t *testing.T, topo stressTopology, bulk, lru bool) {
	src := &verSource{ver: map[string]int{}}
	var below pipeline.Fetcher[string, string] = src
	if bulk {
		below = pipeline.BulkFunc[string, string](src.bulk)
	}
	mk := func(name string, next pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
		var st pipeline.Store[string, string]
		if lru {
			l, _ := stores.NewLRU[string, string](4)
			st = l
		} else {
			st = newMemStore[string, string]()
		}
		return pipeline.Cache(name, st, nil)(next)
	}
	read, inv, mapk := topo.build(mk, below)
	keys := []string{"a", "b", "c", "d", "e", "f"}
	var pub [6]atomic.Int64
	var bad atomic.Int64
	var firstBad atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 6 {
		wg.Go(func() {
			ctx := context.Background()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				cctx, cancel := ctx, context.CancelFunc(func() {})
				if (n+r)%2 == 0 {
					cctx, cancel = context.WithCancel(ctx)
				}
				if (n+r)%3 == 0 {
					i, j := n%6, (n+r)%6
					var want [2]int64
					want[0], want[1] = pub[i].Load(), pub[j].Load()
					res := pipeline.FetchMany(cctx, read, []string{mapk(keys[i]), mapk(keys[j]), mapk(keys[i])})
					for x, ix := range []int{0, 1, 0} {
						if res[x].Err != nil || int64(verOf(res[x].Value)) < want[ix] {
							bad.Add(1)
							firstBad.CompareAndSwap(nil, fmt.Sprintf("batch %v got %+v want >= %d", []int{i, j, i}, res[x], want[ix]))
						}
					}
				} else {
					i := (n * 7) % 6
					want := pub[i].Load()
					v, err := read.Fetch(cctx, mapk(keys[i]))
					if err != nil || int64(verOf(v)) < want {
						bad.Add(1)
						firstBad.CompareAndSwap(nil, fmt.Sprintf("single %s got %q %v want >= %d", keys[i], v, err, want))
					}
				}
				cancel()
			}
		})
	}
	ctx := context.Background()
	for n := range 3000 {
		i := n % 6
		v := src.bump(keys[i])
		k := keys[i]
		if topo.invalidateMapped {
			k = mapk(k)
		}
		if err := inv.(pipeline.Invalidator[string]).Invalidate(ctx, k); err != nil {
			t.Error(err)
		}
		pub[i].Store(int64(v))
	}
	close(stop)
	wg.Wait()
	for _, f := range []pipeline.Fetcher[string, string]{read, inv} {
		if c, ok := f.(pipeline.Closer); ok {
			c.Close()
		}
	}
	require.Zero(t, bad.Load(), "%v", firstBad.Load())
}
