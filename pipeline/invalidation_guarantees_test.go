package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// guaranteeSource is a source whose values carry a version that set moves.
type guaranteeSource struct {
	mu    sync.Mutex
	ver   map[string]int
	calls atomic.Int64
}

func newGuaranteeSource() *guaranteeSource { return &guaranteeSource{ver: map[string]int{}} }

func (s *guaranteeSource) Fetch(_ context.Context, k string) (string, error) {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%s@%d", k, s.ver[k]), nil
}

func (s *guaranteeSource) bump(k string) {
	s.mu.Lock()
	s.ver[k]++
	s.mu.Unlock()
}

// hookStore is a Map store whose Delete and Get can be made to block, fail
// or panic.
type hookStore struct {
	*stores.Map[string, string]
	deleteGate chan struct{} // if set, Delete and Clear wait for it
	deleteErr  error
	getPanic   any
}

func newHookStore() *hookStore { return &hookStore{Map: stores.NewMap[string, string]()} }

func (s *hookStore) Delete(ctx context.Context, k string) error {
	if s.deleteGate != nil {
		<-s.deleteGate
	}
	if s.deleteErr != nil {
		return s.deleteErr
	}
	return s.Map.Delete(ctx, k)
}

func (s *hookStore) Clear(ctx context.Context) error {
	if s.deleteGate != nil {
		<-s.deleteGate
	}
	return s.Map.Clear(ctx)
}

func (s *hookStore) Get(ctx context.Context, k string) (string, bool, error) {
	if s.getPanic != nil {
		panic(s.getPanic)
	}
	return s.Map.Get(ctx, k)
}

func (s *hookStore) GetEntry(ctx context.Context, k string) (pipeline.Entry[string], bool, error) {
	if s.getPanic != nil {
		panic(s.getPanic)
	}
	return s.Map.GetEntry(ctx, k)
}

func (s *hookStore) GetBatch(ctx context.Context, keys []string, out []pipeline.Result[string]) {
	if s.getPanic != nil {
		panic(s.getPanic)
	}
	s.Map.GetBatch(ctx, keys, out)
}

// bare is a user's layer written the way the README describes a layer: a
// func(next) Fetcher returning a FetcherFunc that passes ctx along. It
// implements nothing.
func bare(next pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
	return pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
		v, err := next.Fetch(ctx, strings.TrimSuffix(k, "/x"))
		return strings.ToUpper(v), err
	})
}

func TestBareFetcherFuncBetweenCacheLayersKeepsTheTreeCoherent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newGuaranteeSource()
	inner := pipeline.Cache("inner", stores.NewMap[string, string](), nil)(src)
	outer := pipeline.Cache("outer", stores.NewMap[string, string](), nil)(bare(inner))
	for _, k := range []string{"a/x", "a/x"} {
		v, err := outer.Fetch(ctx, k)
		require.NoError(t, err)
		require.Equal(t, "A@0", v)
	}
	src.bump("a")
	require.NoError(t, pipeline.Invalidate(ctx, inner, "a"))
	v, err := outer.Fetch(ctx, "a/x")
	require.NoError(t, err)
	require.Equal(t, "A@1", v, "the outer layer above a bare closure dropped what it derived")
}

// treeWithGatedDependent builds a shared inner layer with two dependents;
// the second one's store blocks in Delete until gate closes.
func treeWithGatedDependent(t *testing.T, gate chan struct{}) (src *guaranteeSource, inner, fast, slow pipeline.Fetcher[string, string]) {
	src = newGuaranteeSource()
	inner = pipeline.Cache("inner", stores.NewMap[string, string](), nil)(src)
	fast = pipeline.Cache("fast", stores.NewMap[string, string](), nil)(bare(inner))
	hs := newHookStore()
	slow = pipeline.Cache("slow", hs, nil)(bare(inner))
	for _, f := range []pipeline.Fetcher[string, string]{fast, slow} {
		_, err := f.Fetch(t.Context(), "a/x")
		require.NoError(t, err)
	}
	hs.deleteGate = gate
	return src, inner, fast, slow
}

func TestOverlappingInvalidationsReturnOnlyOnceEveryDependentDroppedTheKey(t *testing.T) {
	for _, first := range []string{"invalidate", "clear"} {
		t.Run(first+" then invalidate", func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				gate := make(chan struct{})
				src, inner, _, slow := treeWithGatedDependent(t, gate)
				src.bump("a")
				ctx := context.Background()
				done, other := make(chan error, 1), make(chan error, 1)
				go func() {
					if first == "clear" {
						done <- pipeline.Clear(ctx, inner)
						return
					}
					done <- pipeline.Invalidate(ctx, inner, "a")
				}()
				synctest.Wait() // the first is dropping slow's key, blocked
				go func() { other <- pipeline.Invalidate(ctx, inner, "a") }()
				synctest.Wait()
				select {
				case err := <-other:
					t.Fatalf("the second returned (%v) while a dependent still held the old value", err)
				default:
				}
				close(gate)
				require.NoError(t, <-done)
				require.NoError(t, <-other)
				v, err := slow.Fetch(ctx, "a/x")
				require.NoError(t, err)
				require.Equal(t, "A@1", v)
			})
		})
	}
}

func TestInvalidateReturnsTheErrorOfEveryDependentThatFailedToDrop(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newGuaranteeSource()
	inner := pipeline.Cache("inner", stores.NewMap[string, string](), nil)(src)
	errA, errB := errors.New("a's delete failed"), errors.New("b's delete failed")
	var outers []pipeline.Fetcher[string, string]
	for i, err := range []error{errA, errB} {
		hs := newHookStore()
		hs.deleteErr = err
		o := pipeline.Cache(fmt.Sprint("outer", i), hs, nil)(bare(inner))
		_, ferr := o.Fetch(ctx, "a/x")
		require.NoError(t, ferr)
		outers = append(outers, o)
	}
	err := pipeline.Invalidate(ctx, inner, "a")
	require.ErrorIs(t, err, errA)
	require.ErrorIs(t, err, errB)
	require.Contains(t, err.Error(), "outer0", "wrapped with the layer's name")
}

func TestFailedDependentDropIsRetriedByTheNextInvalidation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newGuaranteeSource()
	inner := pipeline.Cache("inner", stores.NewMap[string, string](), nil)(src)
	hs := newHookStore()
	outer := pipeline.Cache("outer", hs, nil)(bare(inner))
	_, err := outer.Fetch(ctx, "a/x")
	require.NoError(t, err)
	boom := errors.New("delete failed")
	hs.deleteErr = boom
	src.bump("a")
	require.ErrorIs(t, pipeline.Invalidate(ctx, inner, "a"), boom)
	hs.deleteErr = nil
	require.NoError(t, pipeline.Invalidate(ctx, inner, "a"))
	v, err := outer.Fetch(ctx, "a/x")
	require.NoError(t, err)
	require.Equal(t, "A@1", v, "the record of the failed drop stayed, and the retry dropped the old value")
}

// A single-key read of the store runs in the caller's goroutine with no
// recover (the hit path's cost; see Cache): its panic reaches the caller as
// a panic. A batch recovers its read, and every key gets a *PanicError.
// Either way the layer stays usable.
func TestPanickingStoreReadPanicsInFetchAndFailsEveryKeyOfABatch(t *testing.T) {
	for _, ttl := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprint("ttl=", ttl), func(t *testing.T) {
			t.Parallel()
			hs := newHookStore()
			hs.getPanic = "store bug"
			f := pipeline.Cache("l", hs, &pipeline.CacheOptions[string]{TTL: ttl})(newGuaranteeSource())
			require.PanicsWithValue(t, "store bug", func() { _, _ = f.Fetch(t.Context(), "a") })
			require.PanicsWithValue(t, "store bug", func() {
				_, _ = f.(pipeline.EntryFetcher[string, string]).FetchEntry(t.Context(), "a")
			})
			var perr *pipeline.PanicError
			for _, r := range pipeline.FetchMany(t.Context(), f, []string{"a", "b", "a"}) {
				require.ErrorAs(t, r.Err, &perr)
				require.Equal(t, "store bug", perr.Value)
			}
			hs.getPanic = nil
			v, err := f.Fetch(t.Context(), "a")
			require.NoError(t, err, "the layer stays usable")
			require.Equal(t, "a@0", v)
		})
	}
}

func TestKeysNotEqualToThemselvesAreErrorsThatLeakNothing(t *testing.T) {
	t.Parallel()
	type withNaN struct {
		Name string
		F    float64
	}
	ctx := t.Context()
	var calls atomic.Int64
	src := pipeline.FetcherFunc[withNaN, string](func(_ context.Context, k withNaN) (string, error) {
		calls.Add(1)
		return k.Name, nil
	})
	store := stores.NewMap[withNaN, string]()
	f := pipeline.Cache("l", store, nil)(src)
	bad := withNaN{"a", math.NaN()}
	for range 1000 {
		_, err := f.Fetch(ctx, bad)
		require.ErrorIs(t, err, pipeline.ErrInvalidKey)
		require.ErrorIs(t, pipeline.Invalidate(ctx, f, bad), pipeline.ErrInvalidKey)
	}
	res := pipeline.FetchMany(ctx, f, []withNaN{bad, {"b", 1}, bad})
	require.ErrorIs(t, res[0].Err, pipeline.ErrInvalidKey)
	require.ErrorIs(t, res[2].Err, pipeline.ErrInvalidKey)
	require.Equal(t, "b", res[1].Value)
	require.EqualValues(t, 1, calls.Load(), "a NaN key never reaches below")
	require.Equal(t, 1, store.Len(), "nor the store")
}

func TestBatchCountsEveryPositionOfARepeatedKeyTheSameWay(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var hits, misses atomic.Int64
	obs := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
		switch e.Kind {
		case pipeline.Hit:
			hits.Add(1)
		case pipeline.Miss:
			misses.Add(1)
		}
	})
	src := newGuaranteeSource()
	f := pipeline.Cache("l", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{Observer: obs})(src)
	pipeline.FetchMany(ctx, f, []string{"m", "m", "m"})
	require.EqualValues(t, 3, misses.Load(), "a repeated miss counts at every position")
	require.EqualValues(t, 1, src.calls.Load(), "and is fetched once")
	pipeline.FetchMany(ctx, f, []string{"m", "m", "m"})
	require.EqualValues(t, 3, hits.Load(), "a repeated hit counts at every position")
}

func TestDropDerivedDropsAboveAndLeavesTheLayerAndBelow(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := newGuaranteeSource()
	below := pipeline.Cache("shared", stores.NewMap[string, string](), nil)(src)
	origin := pipeline.Cache("origin", stores.NewMap[string, string](), nil)(below)
	local := pipeline.Cache("local", stores.NewMap[string, string](), nil)(bare(origin))
	_, err := local.Fetch(ctx, "a/x")
	require.NoError(t, err)
	src.bump("a")
	require.NoError(t, origin.(pipeline.Origin[string]).DropDerived(ctx, "a"))
	before := src.calls.Load()
	v, err := local.Fetch(ctx, "a/x")
	require.NoError(t, err)
	require.Equal(t, "A@0", v, "the local value was dropped and refilled from the origin, which kept its own")
	require.Equal(t, before, src.calls.Load(), "nothing below the origin was touched")

	require.NoError(t, origin.(pipeline.Origin[string]).ClearDerived(ctx))
	v, err = origin.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a@0", v, "ClearDerived left the origin itself")
}

func TestRefreshBackoffIsBounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var fail atomic.Bool
		src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
			if fail.Load() {
				return "", errors.New("down")
			}
			return k, nil
		})
		store, err := stores.NewLRU[string, string](100)
		require.NoError(t, err)
		f := pipeline.Cache("l", store, &pipeline.CacheOptions[string]{
			TTL: time.Minute, RefreshAhead: 30 * time.Second, NegativeSize: 50, Clock: time.Now,
		})(src)
		defer pipeline.Close(f)
		for i := range 2000 {
			k := fmt.Sprint(i)
			fail.Store(false)
			_, err := f.Fetch(ctx, k)
			require.NoError(t, err)
			fail.Store(true)
			time.Sleep(45 * time.Second) // due
			_, err = f.Fetch(ctx, k)     // a refresh starts, and fails
			require.NoError(t, err)
			synctest.Wait()
			time.Sleep(time.Minute) // expired: gone
		}
		n := pipeline.BackoffLen(f)
		require.Positive(t, n, "failed refreshes were remembered")
		require.LessOrEqual(t, n, 50, "but no more than NegativeSize of them")
	})
}

func TestDependencyIndexStaysWithinItsByteBound(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return "v", nil })
	const bound = 256 << 10
	inner := pipeline.Cache("inner", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{DependentsBytes: bound})(src)
	outerStore, err := stores.NewLRU[string, string](64)
	require.NoError(t, err)
	outer := pipeline.Cache("outer", outerStore, nil)(
		middleware.MapKey[string](func(k string) string { return k[:8] })(inner))
	pad := strings.Repeat("x", 4<<10)
	for i := range 2000 {
		_, err := outer.Fetch(ctx, fmt.Sprintf("%08d", i%500)+pad+fmt.Sprint(i))
		require.NoError(t, err)
	}
	n := pipeline.DependentsBytes(inner)
	require.Positive(t, n)
	require.LessOrEqual(t, n, bound, "2000 outer keys of 4 KiB recorded, within the bound")
}

// Invalidating keys that nothing above recorded (here, in a layer that
// also has a cache built right over it, which needs no records) does not
// lower the index's estimate of its size: the records made afterwards
// still count against the bound, and the bound still drops values.
func TestDependencyIndexBoundHoldsAfterInvalidatingUnrecordedKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return "v", nil })
	const bound = 4 << 10
	inner := pipeline.Cache("inner", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{DependentsBytes: bound})(src)
	direct := pipeline.Cache("direct", stores.NewMap[string, string](), nil)(inner)
	m := middleware.NewMetrics(nil)
	outer := pipeline.Cache("outer", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{Metrics: m})(
		middleware.MapKey[string](func(k string) string { return "inner/" + k })(inner))
	_, err := direct.Fetch(ctx, "d")
	require.NoError(t, err)

	pad := strings.Repeat("x", 4<<10)
	for i := range 100 {
		require.NoError(t, pipeline.Invalidate(ctx, inner, fmt.Sprint(i)+pad))
	}
	require.Zero(t, pipeline.DependentsBytes(inner), "nothing was recorded")

	for i := range 500 {
		_, err := outer.Fetch(ctx, fmt.Sprint(i))
		require.NoError(t, err)
	}
	require.LessOrEqual(t, pipeline.DependentsBytes(inner), bound)
	require.Positive(t, m.Layer("outer").Stats().Evicted, "500 records are past the bound: it dropped values")
}

// The values the index drops to stay within its bound are reported by the
// outer layer as evictions, not as invalidations, which nobody asked for.
func TestValuesDroppedForTheIndexBoundCountAsEvictions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return "v", nil })
	inner := pipeline.Cache("inner", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{DependentsBytes: 4 << 10})(src)
	outerStore := stores.NewMap[string, string]() // unbounded: it evicts nothing itself
	m := middleware.NewMetrics(nil)
	outer := pipeline.Cache("outer", outerStore, &pipeline.CacheOptions[string]{Metrics: m})(
		middleware.MapKey[string](func(k string) string { return "inner/" + k })(inner))
	const fills = 500
	for i := range fills {
		_, err := outer.Fetch(ctx, fmt.Sprint(i))
		require.NoError(t, err)
	}
	s := m.Layer("outer").Stats()
	require.Positive(t, s.Evicted, "the bound dropped values")
	// A fill whose own record the bound forgot at once is voided: served,
	// not stored, and dropped all the same.
	require.EqualValues(t, fills-outerStore.Len(), s.Evicted, "each key dropped counts once")
	require.Zero(t, s.Invalidated)
}

// By default the index makes room for twice the entries the layers
// recording into it can hold, past DefaultDependentsBytes, so that it drops
// nothing they still hold; a bound given in the options stays as given.
func TestDefaultIndexBoundMakesRoomForTheLayersAbove(t *testing.T) {
	t.Parallel()
	const capacity, fills = 3000, 5000
	pad := strings.Repeat("x", 4<<10) // 5000 records of 4 KiB: past 16 MiB
	for _, tt := range []struct {
		name    string
		bytes   int
		dropped func(t require.TestingT, e1, e2 any, msgAndArgs ...any)
	}{
		{name: "default", bytes: 0, dropped: require.Equal},
		{name: "given", bytes: pipeline.DefaultDependentsBytes, dropped: require.Greater},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return "v", nil })
			inner := pipeline.Cache("inner", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{DependentsBytes: tt.bytes})(src)
			outerStore, err := stores.NewLRU[string, string](capacity)
			require.NoError(t, err)
			m := middleware.NewMetrics(nil)
			outer := pipeline.Cache("outer", outerStore, &pipeline.CacheOptions[string]{Metrics: m})(
				middleware.MapKey[string](func(k string) string { return k[:8] })(inner))
			for i := range fills {
				_, err := outer.Fetch(ctx, fmt.Sprintf("%08d", i)+pad)
				require.NoError(t, err)
			}
			if tt.bytes == 0 {
				require.Greater(t, pipeline.DependentsBytes(inner), pipeline.DefaultDependentsBytes, "the index grew")
			} else {
				require.LessOrEqual(t, pipeline.DependentsBytes(inner), tt.bytes)
			}
			tt.dropped(t, m.Layer("outer").Stats().Evicted, uint64(fills-capacity),
				"evictions: the store's own, and any value the index dropped")
		})
	}
}

// A cache layer over layers that keep keys (Parse, Transform, Log, Inspect,
// Timeout) down to a cache layer of the same keys is dropped by that layer
// with its own keys, as if it were built right over it: the index below
// records nothing for it, single fetches and batches alike, and every
// invalidation and Clear still reaches it.
func TestCacheOverLayersThatKeepKeysNeedsNoRecords(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	chains := []struct {
		name  string
		chain func(pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string]
	}{
		{name: "parse", chain: middleware.Parse[string](func(s string) (string, error) { return "parsed " + s, nil })},
		{name: "log, inspect, timeout, transform", chain: func(next pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
			return middleware.Log[string, string](quiet, "log", nil)(
				middleware.Inspect[string](func(context.Context, string, []pipeline.Event[any], error) {})(
					middleware.Timeout[string, string](time.Minute)(
						middleware.Transform[string](func(s string) string { return "parsed " + s })(next))))
		}},
	}
	for _, tt := range chains {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			src := newGuaranteeSource()
			inner := pipeline.Cache("inner", stores.NewMap[string, string](), nil)(src)
			outerStore := stores.NewMap[string, string]()
			outer := pipeline.Cache("outer", outerStore, nil)(tt.chain(inner))
			for _, k := range []string{"a", "b"} {
				_, err := outer.Fetch(ctx, k)
				require.NoError(t, err)
			}
			for _, r := range pipeline.FetchMany(ctx, outer, []string{"c", "d", "c"}) {
				require.NoError(t, r.Err)
			}
			require.Equal(t, 4, outerStore.Len())
			require.Zero(t, pipeline.DependentsBytes(inner), "nothing recorded")

			src.bump("a")
			require.NoError(t, pipeline.Invalidate(ctx, inner, "a"))
			require.Equal(t, 3, outerStore.Len(), "the inner layer dropped the outer key")
			v, err := outer.Fetch(ctx, "a")
			require.NoError(t, err)
			require.Equal(t, "parsed a@1", v)

			src.bump("b")
			require.NoError(t, pipeline.Invalidate(ctx, outer, "b"), "inward through the chain")
			v, err = outer.Fetch(ctx, "b")
			require.NoError(t, err)
			require.Equal(t, "parsed b@1", v)

			require.NoError(t, pipeline.Clear(ctx, inner))
			require.Zero(t, outerStore.Len(), "Clear below clears the layer above")
		})
	}
}

func TestDropDerivedKeepsNoFillOfTheOriginThatWasUnderWay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		drop func(ctx context.Context, o pipeline.Origin[string]) error
	}{
		{name: "DropDerived", drop: func(ctx context.Context, o pipeline.Origin[string]) error { return o.DropDerived(ctx, "k") }},
		{name: "ClearDerived", drop: func(ctx context.Context, o pipeline.Origin[string]) error { return o.ClearDerived(ctx) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			var version atomic.Int64
			entered, release := make(chan int64, 2), make(chan struct{})
			free := sync.OnceFunc(func() { close(release) })
			t.Cleanup(free)
			src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
				v := version.Load()
				entered <- v
				if v == 0 {
					<-release // the old value, held until the drop is done
				}
				return fmt.Sprintf("%s@%d", k, v), nil
			})
			store := stores.NewMap[string, string]()
			origin := pipeline.Cache("origin", store, nil)(src)

			old := make(chan string, 1)
			go func() {
				v, _ := origin.Fetch(context.Background(), "k")
				old <- v
			}()
			require.Equal(t, int64(0), <-entered)
			version.Store(1)
			require.NoError(t, tt.drop(ctx, origin.(pipeline.Origin[string])))

			wait, cancel := context.WithTimeout(ctx, 10*time.Second) // a fetch that joined the old fill would wait for it
			defer cancel()
			v, err := origin.Fetch(wait, "k")
			require.NoError(t, err, "a fetch after the drop does not join the fill that read the old value")
			require.Equal(t, "k@1", v)
			require.Equal(t, int64(1), <-entered)
			free()
			require.Equal(t, "k@0", <-old, "the callers of the old fill get its value")
			got, _, _ := store.Get(ctx, "k")
			require.Equal(t, "k@1", got, "and the old fill is not kept")
		})
	}
}
