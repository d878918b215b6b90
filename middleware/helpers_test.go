package middleware_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

// expiring is a pipeline.ExpiringStore over a map, for tests of lifetimes.
// It keeps entries whatever their expiry; the cache layer judges them.
type expiring[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]pipeline.Entry[V]
}

func newExpiring[K comparable, V any]() *expiring[K, V] {
	return &expiring[K, V]{m: make(map[K]pipeline.Entry[V])}
}

func (s *expiring[K, V]) GetEntry(_ context.Context, k K) (pipeline.Entry[V], bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	return e, ok, nil
}

func (s *expiring[K, V]) SetEntry(_ context.Context, k K, e pipeline.Entry[V]) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = e
	return nil
}

// Get reports an expired entry as absent, as the Store contract asks.
func (s *expiring[K, V]) Get(ctx context.Context, k K) (V, bool, error) {
	e, ok, err := s.GetEntry(ctx, k)
	if ok && !e.Expires.IsZero() && !time.Now().Before(e.Expires) {
		var zero V
		return zero, false, nil
	}
	return e.Value, ok, err
}

func (s *expiring[K, V]) Set(ctx context.Context, k K, v V) error {
	return s.SetEntry(ctx, k, pipeline.Entry[V]{Value: v})
}

func (s *expiring[K, V]) Delete(_ context.Context, k K) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
	return nil
}

func (s *expiring[K, V]) entry(k K) (pipeline.Entry[V], bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	return e, ok
}

// probe is a Fetcher that records what reaches it: the keys of fetches,
// invalidations and clears. Keys in notFound are not found; the rest map to
// themselves with the lifetime expires.
type probe struct {
	expires time.Time

	mu          sync.Mutex
	fetched     []string
	invalidated []string
	cleared     int
}

var errMissing = fmt.Errorf("probe: %w", pipeline.ErrNotFound)

func (p *probe) FetchEntry(_ context.Context, key string) (pipeline.Entry[string], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fetched = append(p.fetched, key)
	if key == "missing" || key == "MISSING" {
		return pipeline.Entry[string]{}, errMissing
	}
	return pipeline.Entry[string]{Value: key, Expires: p.expires}, nil
}

func (p *probe) Fetch(ctx context.Context, key string) (string, error) {
	e, err := p.FetchEntry(ctx, key)
	return e.Value, err
}

func (p *probe) Invalidate(_ context.Context, key string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.invalidated = append(p.invalidated, key)
	return nil
}

func (p *probe) Clear(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cleared++
	return nil
}

// newBucket returns the seed's bucket with a file that does not parse,
// "bad".
func newBucket() *testkit.Bucket {
	b := testkit.NewBucket()
	b.Put("bad", `{"key": `)
	return b
}

// parsedFile is the seed's ParsedFile.
type parsedFile struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func parseFile(s string) (parsedFile, error) {
	var f parsedFile
	err := json.Unmarshal([]byte(s), &f)
	return f, err
}

// docKey is the seed's ParsedFilesKey: a blob and a parser version.
type docKey struct {
	Blob, Version string
}

func (k docKey) String() string { return k.Blob + "@" + k.Version }

// seed is the seed's two-layer pipeline: parsed files over raw files over
// a bucket.
type seed struct {
	bucket *testkit.Bucket
	raw    *testkit.Map[string, string]
	parsed *testkit.Map[docKey, parsedFile]
	top    pipeline.Fetcher[docKey, parsedFile]
}

func newSeed() *seed {
	s := &seed{bucket: newBucket(), raw: testkit.NewMap[string, string](), parsed: testkit.NewMap[docKey, parsedFile]()}
	raw := pipeline.Cache("raw_files", s.raw, nil)(s.bucket)
	parse := middleware.Parse[string](parseFile)
	mapKey := middleware.MapKey[parsedFile](func(k docKey) string { return k.Blob })
	s.top = pipeline.Cache("parsed_files", s.parsed, nil)(mapKey(parse(raw)))
	return s
}

// panicValue returns what f panics with, or nil.
func panicValue(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}
