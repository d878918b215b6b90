package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// flakySource is a versioned source over the keys "a".."f" whose keys may
// come and go (a key is absent at some versions: not found) and which fails
// one call in failEvery with errBoom (not a not-found error).
type flakySource struct {
	mu        sync.Mutex
	ver       [6]int
	absent    [6]bool
	lastAbs   [6]atomic.Int64 // latest version at which the key was absent; -1 if never
	failEvery int64           // 0: never fails
	calls     atomic.Int64
}

func newFlakySource(failEvery int64) *flakySource {
	s := &flakySource{failEvery: failEvery}
	for i := range s.lastAbs {
		s.lastAbs[i].Store(-1)
	}
	return s
}

func flakyIdx(k string) int { return int(k[0] - 'a') }

func (s *flakySource) fails() bool {
	return s.failEvery > 0 && s.calls.Add(1)%s.failEvery == 0
}

// lookupLocked answers k as the source holds it now; under s.mu.
func (s *flakySource) lookupLocked(k string) (string, bool) {
	i := flakyIdx(k)
	if s.absent[i] {
		return "", false
	}
	return k + ":" + strconv.Itoa(s.ver[i]), true
}

func (s *flakySource) Fetch(_ context.Context, k string) (string, error) {
	if s.fails() {
		return "", errBoom
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.lookupLocked(k)
	if !ok {
		return "", fmt.Errorf("flaky: %q: %w", k, pipeline.ErrNotFound)
	}
	return v, nil
}

func (s *flakySource) bulk(_ context.Context, keys []string) (map[string]string, error) {
	if s.fails() {
		return nil, errBoom
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		if v, ok := s.lookupLocked(k); ok {
			m[k] = v
		}
	}
	return m, nil
}

// bump moves key i to its next version, present or (if toggle) flipped
// between present and absent, and returns the version. lastAbs moves before
// the source answers with the new state, so that a not-found answer is
// always covered by it.
func (s *flakySource) bump(i int, toggle bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ver[i]++
	if toggle {
		s.absent[i] = !s.absent[i]
	}
	if s.absent[i] {
		s.lastAbs[i].Store(int64(s.ver[i]))
	}
	return s.ver[i]
}

// stressReader is a place to read from, with the key mapping it needs.
type stressReader struct {
	f    pipeline.Fetcher[string, string]
	mapk func(string) string
}

// The guarantee of Invalidate and Clear (see the Cache doc and deps.go)
// under the options that TestNoStaleReadAfterInvalidate (coherence_test.go)
// leaves out: TTL with stale-if-error over a source that fails now and then,
// negative caching of keys that come and go, refresh-ahead, all of them
// together; over map-like stores and over a small TTL LRU (evictions, its
// own expiry and grace); in a single layer, direct stacks invalidated at the
// bottom or the top, a batch layer that fetches key by key (perKeyBatch)
// between two cache layers (with an identity layer over it, or invalidated
// through it from the top), and a tree; with Invalidate, or Clear of the
// inner layer. Readers, single and batch, through every layer at or above
// the invalidated one, some with contexts that the writer cancels while they
// run. A read that starts after an Invalidate (Clear) returned must get a
// value not older than the version the source had before it, or not found
// only if the key was absent at such a version, or errBoom from the source
// (when it fails), or the reader's own cancellation.
func TestStressInvalidationGuarantee(t *testing.T) {
	for _, op := range []string{"invalidate", "clear"} {
		for _, topo := range guaranteeTopologies(op) {
			for _, opts := range []string{"sie", "neg", "ra", "all"} {
				for _, st := range []string{"map", "ttl"} {
					t.Run(op+"/"+topo.name+"/"+opts+"/"+st, func(t *testing.T) {
						t.Parallel()
						stressGuarantee(t, op, topo, opts, st, 1200)
					})
				}
			}
		}
	}
}

// guaranteeTopology is a case of TestStressInvalidationGuarantee: build
// makes its layers with mk over below and returns the layers to read (each
// with its key mapping), the layer invalidated or cleared, and the mapping
// of the keys invalidated.
type guaranteeTopology struct {
	name  string
	bulk  bool // the source answers batches in one call
	build func(mk layerMaker, below pipeline.Fetcher[string, string]) (reads []stressReader, target pipeline.Fetcher[string, string], tkey func(string) string)
}

// guaranteeTopologies returns the topologies op ("invalidate" or "clear")
// runs over: a single layer (over a single or a bulk source), direct stacks
// invalidated at the bottom or the top, a batch layer that fetches key by
// key (perKeyBatch) between two cache layers (with an identity layer over
// it, or invalidated through it from the top), and a tree.
func guaranteeTopologies(op string) []guaranteeTopology {
	id := func(k string) string { return k }
	slash := func(k string) string { return k + "/x" }
	one := guaranteeTopology{name: "one", build: func(mk layerMaker, below pipeline.Fetcher[string, string]) ([]stressReader, pipeline.Fetcher[string, string], func(string) string) {
		c := mk("c", below)
		return []stressReader{{c, id}}, c, id
	}}
	oneBulk := one
	oneBulk.name, oneBulk.bulk = "one-bulk", true
	directInner := guaranteeTopology{name: "direct-inner", build: func(mk layerMaker, below pipeline.Fetcher[string, string]) ([]stressReader, pipeline.Fetcher[string, string], func(string) string) {
		in := mk("in", below)
		top := mk("top", in)
		return []stressReader{{top, id}, {in, id}}, in, id
	}}
	directTop := guaranteeTopology{name: "direct-top", build: func(mk layerMaker, below pipeline.Fetcher[string, string]) ([]stressReader, pipeline.Fetcher[string, string], func(string) string) {
		in := mk("in", below)
		top := mk("top", in)
		return []stressReader{{top, id}}, top, id
	}}
	perkey := guaranteeTopology{name: "perkey", build: func(mk layerMaker, below pipeline.Fetcher[string, string]) ([]stressReader, pipeline.Fetcher[string, string], func(string) string) {
		in := mk("in", below)
		top := mk("top", perKeyBatch{upperNoCase{in}})
		return []stressReader{{top, slash}, {in, id}}, in, id
	}}
	perkeyIdentity := guaranteeTopology{name: "perkey-identity", build: func(mk layerMaker, below pipeline.Fetcher[string, string]) ([]stressReader, pipeline.Fetcher[string, string], func(string) string) {
		in := mk("in", below)
		top := mk("top", perKeyBatch{upperNoCase{in}})
		top2 := mk("top2", top)
		return []stressReader{{top2, slash}, {top, slash}, {in, id}}, in, id
	}}
	perkeyTop := guaranteeTopology{name: "perkey-top", build: func(mk layerMaker, below pipeline.Fetcher[string, string]) ([]stressReader, pipeline.Fetcher[string, string], func(string) string) {
		in := mk("in", below)
		top := mk("top", perKeyBatch{upperNoCase{in}})
		return []stressReader{{top, slash}}, top, slash
	}}
	tree := guaranteeTopology{name: "tree", build: func(mk layerMaker, below pipeline.Fetcher[string, string]) ([]stressReader, pipeline.Fetcher[string, string], func(string) string) {
		in := mk("in", below)
		mid := mk("mid", in)                            // identity over in
		top := mk("top", perKeyBatch{upperNoCase{mid}}) // key by key, over mid
		other := mk("other", upperNoCase{in})           // recorded over in
		return []stressReader{{top, slash}, {other, slash}, {mid, id}, {in, id}}, in, id
	}}
	if op == "clear" {
		direct := directInner
		direct.name = "direct"
		return []guaranteeTopology{one, oneBulk, direct, perkey, perkeyIdentity, tree}
	}
	return []guaranteeTopology{one, oneBulk, directInner, directTop, perkey, perkeyIdentity, perkeyTop, tree}
}

func stressGuarantee(t *testing.T, op string, topo guaranteeTopology, optsName, storeKind string, rounds int) {
	// Each key is invalidated every 6 rounds, some 700µs of the fake clock
	// (see below): a shorter TTL lets values expire, fall due and be served
	// stale between invalidations.
	const ttl = 300 * time.Microsecond
	var failEvery int64
	var o pipeline.CacheOptions[string]
	toggle := false
	switch optsName {
	case "sie":
		o.TTL, o.StaleIfError = ttl, time.Hour
		failEvery = 5
	case "neg":
		o.NegativeTTL = 5 * time.Millisecond
		toggle = true
	case "ra":
		o.TTL, o.RefreshAhead = ttl, ttl/2
	case "all":
		o.TTL, o.StaleIfError, o.RefreshAhead, o.NegativeTTL = ttl, time.Hour, ttl/2, ttl
		o.Jitter = 0.3
		failEvery = 7
		toggle = true
	default:
		t.Fatalf("options %q", optsName)
	}
	// A fake clock, moved by the writer and the readers: entries expire,
	// fall due and go stale many times in a run, without sleeps.
	var now atomic.Int64
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return base.Add(time.Duration(now.Load())) }
	o.Clock = clock
	// Count what the options made happen, to show they were exercised.
	var stale, negHits, shared atomic.Int64
	o.Observer = pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
		switch e.Kind {
		case pipeline.StaleServed:
			stale.Add(1)
		case pipeline.NegativeHit:
			negHits.Add(1)
		case pipeline.SharedWait:
			shared.Add(1)
		}
	})

	src := newFlakySource(failEvery)
	var below pipeline.Fetcher[string, string] = src
	if topo.bulk {
		below = pipeline.BulkFunc[string, string](src.bulk)
	}
	var layers []pipeline.Fetcher[string, string]
	mk := func(name string, next pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
		var st pipeline.Store[string, string]
		if storeKind == "ttl" {
			l, err := stores.NewTTL[string, string](4, time.Hour, &stores.TTLOptions{Clock: clock, Grace: 2 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			st = l
		} else {
			st = clearStore{newMemStore[string, string]()}
		}
		c := pipeline.Cache(name, st, &o)(next)
		layers = append(layers, c)
		return c
	}
	reads, target, tkey := topo.build(mk, below)

	keys := []string{"a", "b", "c", "d", "e", "f"}
	var pub [6]atomic.Int64
	var bad, served, notFound, failed, cancelled atomic.Int64
	var firstBad atomic.Value
	check := func(cctx context.Context, what string, i int, want int64, v string, err error) {
		var ok bool
		switch {
		case err == nil:
			ok = strings.HasPrefix(v, keys[i]+":") && int64(verOf(v)) >= want
			served.Add(1)
		case errors.Is(err, pipeline.ErrNotFound):
			ok = src.lastAbs[i].Load() >= want
			notFound.Add(1)
		case errors.Is(err, errBoom):
			ok = failEvery > 0
			failed.Add(1)
		case errors.Is(err, context.Canceled):
			ok = cctx.Err() != nil
			cancelled.Add(1)
		}
		if !ok {
			bad.Add(1)
			firstBad.CompareAndSwap(nil, fmt.Sprintf("%s %s: got %q, %v; want version >= %d (last absent at %d)",
				what, keys[i], v, err, want, src.lastAbs[i].Load()))
		}
	}
	// The writer cancels, at each round, the context of a reader that left
	// it here, most likely while that reader runs.
	var slot atomic.Pointer[context.CancelFunc]
	// ops paces the writer: each round waits for a few reader operations,
	// so that reads and invalidations interleave all along the run.
	var ops atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			ctx := context.Background()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				now.Add(int64(10 * time.Microsecond))
				if ops.Add(1)%16 == 0 {
					runtime.Gosched() // lets the writer in with a single P
				}
				rd := reads[(n+r)%len(reads)]
				cctx, cancel := ctx, context.CancelFunc(func() {})
				if (n+r)%2 == 0 {
					cctx, cancel = context.WithCancel(ctx)
					if n%4 == 0 {
						slot.Store(&cancel)
					}
				}
				if (n+r)%3 == 0 {
					i, j := n%6, (n+r+1)%6
					want := [2]int64{pub[i].Load(), pub[j].Load()}
					res := pipeline.FetchMany(cctx, rd.f, []string{rd.mapk(keys[i]), rd.mapk(keys[j]), rd.mapk(keys[i])})
					for x, ix := range []int{0, 1, 0} {
						k := [2]int{i, j}[ix]
						check(cctx, fmt.Sprintf("batch[%d] of %v", x, []int{i, j, i}), k, want[ix], res[x].Value, res[x].Err)
					}
				} else {
					i := (n * 7) % 6
					want := pub[i].Load()
					v, err := rd.f.Fetch(cctx, rd.mapk(keys[i]))
					check(cctx, "single", i, want, v, err)
				}
				cancel()
			}
		})
	}
	ctx := context.Background()
	for n := range rounds {
		for ops.Load() < int64(2*n) {
			runtime.Gosched()
		}
		i := n % 6
		v := src.bump(i, toggle && (n/6)%2 == 0)
		var err error
		if op == "clear" {
			err = target.(pipeline.Clearer).Clear(ctx)
		} else {
			err = target.(pipeline.Invalidator[string]).Invalidate(ctx, tkey(keys[i]))
		}
		if err != nil {
			t.Error(err)
		}
		pub[i].Store(int64(v))
		now.Add(int64(100 * time.Microsecond))
		if p := slot.Swap(nil); p != nil {
			(*p)()
		}
	}
	close(stop)
	wg.Wait()
	for _, l := range layers {
		if err := l.(pipeline.Closer).Close(); err != nil {
			t.Error(err)
		}
	}
	if n := bad.Load(); n > 0 {
		t.Fatalf("%d violations (served %d, not found %d, failed %d, cancelled %d); first: %v",
			n, served.Load(), notFound.Load(), failed.Load(), cancelled.Load(), firstBad.Load())
	}
	if testing.Verbose() {
		t.Logf("served %d (stale %d), not found %d (remembered %d), failed %d, cancelled %d, shared waits %d",
			served.Load(), stale.Load(), notFound.Load(), negHits.Load(), failed.Load(), cancelled.Load(), shared.Load())
	}
}
