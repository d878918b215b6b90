// End-to-end stacks and trees across all packages: the seed's scenarios,
// and what the design promises of whole pipelines.
package multilayer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

// parsedKey is the seed's ParsedFilesKey: (blob id, parser version).
type parsedKey struct {
	Blob, Version string
}

func (k parsedKey) String() string { return "(" + k.Blob + "," + k.Version + ")" }

// parsedFile keeps only the key field, as the seed's parsed layer does.
type parsedFile struct {
	Key string `json:"key"`
}

func parseFile(raw string) (parsedFile, error) {
	var p parsedFile
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return parsedFile{}, fmt.Errorf("parse: %w", err)
	}
	return parsedFile{Key: p.Key}, nil
}

// seedEvents is the seed's shared inspect list: hits and misses of every
// layer, in order, as "Kind layer key".
type seedEvents struct {
	mu   sync.Mutex
	list []string
}

func seedObserver[K any](e *seedEvents) pipeline.Observer[K] {
	return pipeline.ObserverFunc[K](func(_ context.Context, ev pipeline.Event[K]) {
		var kind string
		switch ev.Kind {
		case pipeline.Hit:
			kind = "Hit"
		case pipeline.Miss:
			kind = "Miss"
		default:
			return // the seed's inspect records hits and misses only
		}
		e.mu.Lock()
		e.list = append(e.list, fmt.Sprintf("%s %s %v", kind, ev.Layer, ev.Key))
		e.mu.Unlock()
	})
}

// take returns the events so far and clears the list.
func (e *seedEvents) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.list
	e.list = nil
	return l
}

// seedPipeline builds the seed's two layers: L0 cached_files (blob id → raw
// string, in a map) over the bucket, and L1 parsed_cached_files ((blob id,
// version) → parsed file, kept as JSON text) over L0.
type seedPipeline struct {
	bucket   *testkit.Bucket
	events   *seedEvents
	rawStore *stores.Map[string, string]
	jsonText *stores.Map[parsedKey, []byte]
	l0       pipeline.Fetcher[string, string]
	l1       pipeline.Fetcher[parsedKey, parsedFile]
}

func newSeedPipeline() *seedPipeline {
	p := &seedPipeline{
		bucket:   testkit.NewBucket(),
		events:   &seedEvents{},
		rawStore: stores.NewMap[string, string](),
		jsonText: stores.NewMap[parsedKey, []byte](),
	}
	p.l0 = pipeline.Cache("cached_files", p.rawStore,
		&pipeline.CacheOptions[string]{Observer: seedObserver[string](p.events)})(p.bucket)
	p.l1 = pipeline.Cache("parsed_cached_files", stores.Encoded(p.jsonText, stores.JSON[parsedFile]()),
		&pipeline.CacheOptions[parsedKey]{Observer: seedObserver[parsedKey](p.events)})(
		middleware.MapKey[parsedFile](func(k parsedKey) string { return k.Blob })(
			middleware.Parse[string](parseFile)(p.l0)))
	return p
}

// TestSeed ports the seed's main test step by step.
func TestSeed(t *testing.T) {
	t.Parallel()
	p := newSeedPipeline()
	ctx := t.Context()

	raw, err := p.l0.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, `{"key": "a", "value": "a"}`, raw)
	require.Equal(t, []string{"Miss cached_files a"}, p.events.take())

	parsed, err := p.l1.Fetch(ctx, parsedKey{"a", "0"})
	require.NoError(t, err)
	require.Equal(t, parsedFile{Key: "a"}, parsed)
	require.Equal(t, []string{"Miss parsed_cached_files (a,0)", "Hit cached_files a"}, p.events.take())

	parsed, err = p.l1.Fetch(ctx, parsedKey{"a", "0"})
	require.NoError(t, err)
	require.Equal(t, parsedFile{Key: "a"}, parsed)
	require.Equal(t, []string{"Hit parsed_cached_files (a,0)"}, p.events.take())

	_, err = p.l1.Fetch(ctx, parsedKey{"c", "0"})
	require.ErrorIs(t, err, pipeline.ErrNotFound)
	require.Equal(t, []string{"Miss parsed_cached_files (c,0)", "Miss cached_files c"}, p.events.take())
	_, held, _ := p.rawStore.Get(ctx, "c")
	require.False(t, held, "L0 does not hold c")
	_, held, _ = p.jsonText.Get(ctx, parsedKey{"c", "0"})
	require.False(t, held, "L1 does not hold (c,0)")

	// The parsed layer keeps JSON text, as the seed's does.
	text, held, _ := p.jsonText.Get(ctx, parsedKey{"a", "0"})
	require.True(t, held)
	require.JSONEq(t, `{"key": "a"}`, string(text))
	require.EqualValues(t, 2, p.bucket.Calls.Load(), "a once, c once")
}

// failingStore is a Store whose writes fail.
type failingStore struct{ *stores.Map[string, string] }

var errDiskFull = errors.New("disk full")

func (failingStore) Set(context.Context, string, string) error { return errDiskFull }
func (failingStore) SetEntry(context.Context, string, pipeline.Entry[string]) error {
	return errDiskFull
}

func TestFailingStoreWriteKeepsTheValue(t *testing.T) {
	t.Parallel()
	var reported []error
	var mu sync.Mutex
	obs := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
		if e.Kind == pipeline.Error {
			mu.Lock()
			reported = append(reported, e.Err)
			mu.Unlock()
		}
	})
	src := testkit.NewBucket()
	f := pipeline.Cache("files", failingStore{stores.NewMap[string, string]()},
		&pipeline.CacheOptions[string]{Observer: obs})(src)
	v, err := f.Fetch(t.Context(), "a")
	require.NoError(t, err, "the value is not lost")
	require.Equal(t, `{"key": "a", "value": "a"}`, v)
	require.Len(t, reported, 1)
	require.ErrorIs(t, reported[0], errDiskFull)
}

func TestSourceErrorIsWrappedAndNotCached(t *testing.T) {
	t.Parallel()
	p := newSeedPipeline()
	errDown := errors.New("bucket unavailable")
	p.bucket.Fail(errDown)
	_, err := p.l1.Fetch(t.Context(), parsedKey{"a", "0"})
	require.ErrorIs(t, err, errDown)
	require.NotErrorIs(t, err, pipeline.ErrNotFound)
	require.Contains(t, err.Error(), "cached_files", "wrapped with the layer's name")
	require.Zero(t, p.rawStore.Len())
	require.Zero(t, p.jsonText.Len())

	p.bucket.Fail(nil)
	v, err := p.l1.Fetch(t.Context(), parsedKey{"a", "0"})
	require.NoError(t, err, "the error was not cached")
	require.Equal(t, "a", v.Key)
}

// yamlView is a second view of a raw file: its length, standing in for a
// YAML parse.
type yamlView struct{ Size int }

// tree builds two branches over one shared raw layer.
type tree struct {
	bucket  *testkit.Bucket
	raw     pipeline.Fetcher[string, string]
	parsed  pipeline.Fetcher[parsedKey, parsedFile]
	yaml    pipeline.Fetcher[string, yamlView]
	stores  [3]interface{ Len() int }
	rawLRU  *stores.LRU[string, string]
	yamlLRU *stores.LRU[string, yamlView]
}

func newTree(t *testing.T) *tree {
	rawLRU, err := stores.NewLRU[string, string](100)
	require.NoError(t, err)
	parsedLRU, err := stores.NewLRU[parsedKey, parsedFile](100)
	require.NoError(t, err)
	yamlLRU, err := stores.NewLRU[string, yamlView](100)
	require.NoError(t, err)
	tr := &tree{bucket: testkit.NewBucket(), rawLRU: rawLRU, yamlLRU: yamlLRU}
	tr.raw = pipeline.Cache("raw", rawLRU, nil)(tr.bucket)
	tr.parsed = pipeline.Cache("parsed", parsedLRU, nil)(
		middleware.MapKey[parsedFile](func(k parsedKey) string { return k.Blob })(
			middleware.Parse[string](parseFile)(tr.raw)))
	tr.yaml = pipeline.Cache("yaml", yamlLRU, nil)(
		middleware.Transform[string](func(s string) yamlView { return yamlView{len(s)} })(tr.raw))
	tr.stores = [3]interface{ Len() int }{rawLRU, parsedLRU, yamlLRU}
	return tr
}

func TestTreeSharedLayerWarmsBothBranches(t *testing.T) {
	t.Parallel()
	tr := newTree(t)
	_, err := tr.parsed.Fetch(t.Context(), parsedKey{"a", "0"})
	require.NoError(t, err)
	require.EqualValues(t, 1, tr.bucket.Calls.Load())
	v, err := tr.yaml.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, yamlView{26}, v)
	require.EqualValues(t, 1, tr.bucket.Calls.Load(), "the second branch's first fetch hits the shared layer")
}

func TestTreeInvalidateSharedKey(t *testing.T) {
	t.Parallel()
	tr := newTree(t)
	ctx := t.Context()
	_, err := tr.parsed.Fetch(ctx, parsedKey{"a", "0"})
	require.NoError(t, err)
	_, err = tr.yaml.Fetch(ctx, "a")
	require.NoError(t, err)

	tr.bucket.Put("a", `{"key": "A2"}`)
	err = pipeline.Invalidate(ctx, tr.raw, "a")
	require.NoError(t, err)
	p, err := tr.parsed.Fetch(ctx, parsedKey{"a", "0"})
	require.NoError(t, err)
	require.Equal(t, "A2", p.Key, "the parsed branch fetched again")
	y, err := tr.yaml.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, yamlView{len(`{"key": "A2"}`)}, y, "the yaml branch fetched again")
	require.EqualValues(t, 2, tr.bucket.Calls.Load())
}

func TestSeedInvalidateFromTheTop(t *testing.T) {
	t.Parallel()
	p := newSeedPipeline()
	ctx := t.Context()
	_, err := p.l1.Fetch(ctx, parsedKey{"a", "0"})
	require.NoError(t, err)
	require.Equal(t, 1, p.rawStore.Len())

	err = pipeline.Invalidate(ctx, p.l1, parsedKey{"a", "0"})
	require.NoError(t, err)
	require.Zero(t, p.rawStore.Len(), "a is gone from L0")
	require.Zero(t, p.jsonText.Len(), "(a,0) is gone from L1")
	_, err = p.l1.Fetch(ctx, parsedKey{"a", "0"})
	require.NoError(t, err)
	require.EqualValues(t, 2, p.bucket.Calls.Load(), "the next fetch reaches the source")
}

func TestTTLExpiryWithInjectedClock(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	bucket := testkit.NewBucket()
	raw, err := stores.NewTTL[string, string](100, time.Hour, &stores.TTLOptions{Clock: clock})
	require.NoError(t, err)
	f := pipeline.Cache("raw", raw, &pipeline.CacheOptions[string]{TTL: time.Minute, Clock: clock})(bucket)
	for range 3 {
		_, err = f.Fetch(t.Context(), "a")
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, bucket.Calls.Load())
	advance(time.Minute)
	_, err = f.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.EqualValues(t, 2, bucket.Calls.Load(), "expired after the layer's TTL")
}

// expiringBucket reports a lifetime with each value, as a Cache-Control
// header would.
type expiringBucket struct {
	*testkit.Bucket
	lifetime time.Duration
}

func (b expiringBucket) FetchEntry(ctx context.Context, id string) (pipeline.Entry[string], error) {
	v, err := b.Fetch(ctx, id)
	return pipeline.Entry[string]{Value: v, Expires: time.Now().Add(b.lifetime)}, err
}

func TestExpiryFlowsThroughAStack(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bucket := expiringBucket{testkit.NewBucket(), 10 * time.Second}
		rawLRU, _ := stores.NewLRU[string, string](10)
		docLRU, _ := stores.NewLRU[parsedKey, parsedFile](10)
		topLRU, _ := stores.NewLRU[parsedKey, parsedFile](10)
		opts := func() *pipeline.CacheOptions[parsedKey] {
			return &pipeline.CacheOptions[parsedKey]{TTL: time.Minute}
		}
		raw := pipeline.Cache("raw", rawLRU, &pipeline.CacheOptions[string]{TTL: time.Minute})(bucket)
		docs := pipeline.Cache("docs", docLRU, opts())(
			middleware.MapKey[parsedFile](func(k parsedKey) string { return k.Blob })(
				middleware.Parse[string](parseFile)(raw)))
		top := pipeline.Cache("top", topLRU, opts())(docs)

		key := parsedKey{"a", "0"}
		_, err := top.Fetch(t.Context(), key)
		require.NoError(t, err)
		time.Sleep(9 * time.Second)
		_, err = top.Fetch(t.Context(), key)
		require.NoError(t, err)
		require.EqualValues(t, 1, bucket.Calls.Load())

		time.Sleep(time.Second) // the source's 10 s are up; the layers' 60 s are not
		for _, layer := range []pipeline.Fetcher[parsedKey, parsedFile]{top, docs} {
			_, err = layer.Fetch(t.Context(), key)
			require.NoError(t, err)
		}
		_, err = raw.Fetch(t.Context(), "a")
		require.NoError(t, err)
		require.EqualValues(t, 2, bucket.Calls.Load(), "no layer served the value after 10 s: one new source call refilled all")
	})
}

// BenchmarkInvalidationHit shows that dependents tracking adds nothing to a
// hit at the top of a tree, and what a hit on a shared inner layer pays.
func BenchmarkInvalidationHit(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		tree bool
	}{{"deps=none", false}, {"deps=tree", true}} {
		b.Run(bc.name, func(b *testing.B) {
			rawLRU, _ := stores.NewLRU[string, string](10)
			raw := pipeline.Cache("raw", rawLRU, nil)(testkit.NewBucket())
			var top pipeline.Fetcher[string, string] = raw
			if bc.tree {
				topLRU, _ := stores.NewLRU[string, string](10)
				top = pipeline.Cache("top", topLRU, nil)(middleware.MapKey[string](func(k string) string { return k })(raw))
			}
			_, _ = top.Fetch(ctx, "a")
			b.Run("at=top", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					sinkString, _ = top.Fetch(ctx, "a")
				}
			})
			b.Run("at=shared", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					sinkString, _ = raw.Fetch(ctx, "a")
				}
			})
		})
	}
}

var sinkString string
