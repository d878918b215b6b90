package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"

	"github.com/multilayer-cache/multilayer/pipeline"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

// memStore is a BatchStore over a map with failure injection.
type memStore[K comparable, V any] struct {
	mu        sync.Mutex
	m         map[K]pipeline.Entry[V]
	getErr    error
	setErr    error
	afterGet  func() // if set, called after every GetEntry and GetBatch, outside the lock
	beforeSet func() // if set, called before every SetEntry and SetBatch writes, outside the lock
	afterSet  func() // if set, called after every SetEntry and SetBatch wrote, outside the lock
	gets      atomic.Int64
	sets      atomic.Int64
	batchGets atomic.Int64
	batchSets atomic.Int64
}

func newMemStore[K comparable, V any]() *memStore[K, V] {
	return &memStore[K, V]{m: make(map[K]pipeline.Entry[V])}
}

func (s *memStore[K, V]) GetEntry(_ context.Context, key K) (pipeline.Entry[V], bool, error) {
	s.gets.Add(1)
	if s.afterGet != nil {
		defer s.afterGet()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErr != nil {
		return pipeline.Entry[V]{}, false, s.getErr
	}
	e, ok := s.m[key]
	return e, ok, nil
}

func (s *memStore[K, V]) GetBatch(_ context.Context, keys []K, out []pipeline.Result[V]) {
	s.batchGets.Add(1)
	if s.afterGet != nil {
		defer s.afterGet()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range keys {
		e, ok := s.m[k]
		switch {
		case s.getErr != nil:
			out[i] = pipeline.Result[V]{Err: s.getErr}
		case !ok:
			out[i] = pipeline.Result[V]{Err: pipeline.ErrNotFound}
		default:
			out[i] = pipeline.Result[V]{Entry: e}
		}
	}
}

func (s *memStore[K, V]) SetBatch(_ context.Context, keys []K, entries []pipeline.Entry[V]) error {
	s.batchSets.Add(1)
	if s.beforeSet != nil {
		s.beforeSet()
	}
	if s.afterSet != nil {
		defer s.afterSet()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.setErr != nil {
		return s.setErr
	}
	for i, k := range keys {
		s.m[k] = entries[i]
	}
	return nil
}

func (s *memStore[K, V]) SetEntry(_ context.Context, key K, e pipeline.Entry[V]) error {
	s.sets.Add(1)
	if s.beforeSet != nil {
		s.beforeSet()
	}
	if s.afterSet != nil {
		defer s.afterSet()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.setErr != nil {
		return s.setErr
	}
	s.m[key] = e
	return nil
}

// Get reports an expired entry as absent, as the ExpiringStore contract says.
func (s *memStore[K, V]) Get(ctx context.Context, key K) (V, bool, error) {
	e, ok, err := s.GetEntry(ctx, key)
	if ok && !e.Expires.IsZero() && !time.Now().Before(e.Expires) {
		var zero V
		return zero, false, nil
	}
	return e.Value, ok, err
}

func (s *memStore[K, V]) Set(ctx context.Context, key K, v V) error {
	return s.SetEntry(ctx, key, pipeline.Entry[V]{Value: v})
}

func (s *memStore[K, V]) Delete(_ context.Context, key K) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

func (s *memStore[K, V]) has(key K) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[key]
	return ok
}

// keyStore hides the BatchStore methods of a memStore: a cache layer over
// it reads and writes a batch one key at a time.
type keyStore[K comparable, V any] struct{ s *memStore[K, V] }

func (k keyStore[K, V]) Get(ctx context.Context, key K) (V, bool, error) { return k.s.Get(ctx, key) }
func (k keyStore[K, V]) Set(ctx context.Context, key K, v V) error       { return k.s.Set(ctx, key, v) }
func (k keyStore[K, V]) Delete(ctx context.Context, key K) error         { return k.s.Delete(ctx, key) }
func (k keyStore[K, V]) GetEntry(ctx context.Context, key K) (pipeline.Entry[V], bool, error) {
	return k.s.GetEntry(ctx, key)
}
func (k keyStore[K, V]) SetEntry(ctx context.Context, key K, e pipeline.Entry[V]) error {
	return k.s.SetEntry(ctx, key, e)
}

// source is a counting source over a map; missing keys are not found.
type source struct {
	calls atomic.Int64
	mu    sync.Mutex
	data  map[string]string
	err   error
	gate  chan struct{} // if set, Fetch waits for it to close
	panic any
}

func newSource(kv ...string) *source {
	s := &source{data: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.data[kv[i]] = kv[i+1]
	}
	return s
}

func (s *source) Fetch(ctx context.Context, key string) (string, error) {
	s.calls.Add(1)
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if s.panic != nil {
		panic(s.panic)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return "", s.err
	}
	v, ok := s.data[key]
	if !ok {
		return "", fmt.Errorf("source: %q: %w", key, pipeline.ErrNotFound)
	}
	return v, nil
}

func (s *source) set(key, value string) {
	s.mu.Lock()
	s.data[key] = value
	s.mu.Unlock()
}

func (s *source) fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// recorder is an Observer that keeps events.
type recorder[K any] struct {
	mu     sync.Mutex
	events []pipeline.Event[K]
}

func (r *recorder[K]) Observe(_ context.Context, e pipeline.Event[K]) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// list returns the events as "kind layer key" strings and forgets them.
func (r *recorder[K]) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.events))
	for i, e := range r.events {
		out[i] = fmt.Sprintf("%v %s %v", e.Kind, e.Layer, e.Key)
	}
	r.events = nil
	return out
}

func (r *recorder[K]) count(kind pipeline.EventKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func (r *recorder[K]) errs() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []error
	for _, e := range r.events {
		if e.Err != nil {
			out = append(out, e.Err)
		}
	}
	return out
}

var errBoom = errors.New("boom")

// upper is a test layer mapping "blob/version" keys to "blob", as a key
// mapper does; it describes itself so that cache layers see through it.
type upper struct {
	next pipeline.Fetcher[string, string]
}

func (u upper) inner(k string) string { b, _, _ := strings.Cut(k, "/"); return b }

func (u upper) Fetch(ctx context.Context, k string) (string, error) {
	v, err := u.next.Fetch(ctx, u.inner(k))
	return strings.ToUpper(v), err
}

func (u upper) Describe() pipeline.Description {
	return pipeline.Description{Kind: "map key", Next: []any{u.next}}
}

func (u upper) Clear(ctx context.Context) error {
	if c, ok := u.next.(pipeline.Clearer); ok {
		return c.Clear(ctx)
	}
	return nil
}

func (u upper) Invalidate(ctx context.Context, k string) error {
	err := pipeline.Invalidate(ctx, u.next, u.inner(k))
	return err
}

type clearStore struct{ *memStore[string, string] }

func (c clearStore) Clear(context.Context) error {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
	return nil
}

// upperNoCase maps "k/x" to "k", describing itself.
type upperNoCase struct {
	next pipeline.Fetcher[string, string]
}

func (u upperNoCase) inner(k string) string { b, _, _ := strings.Cut(k, "/"); return b }

func (u upperNoCase) Fetch(ctx context.Context, k string) (string, error) {
	return u.next.Fetch(ctx, u.inner(k))
}

func (u upperNoCase) Describe() pipeline.Description {
	return pipeline.Description{Kind: "map key", Next: []any{u.next}}
}

func (u upperNoCase) Invalidate(ctx context.Context, k string) error {
	err := pipeline.Invalidate(ctx, u.next, u.inner(k))
	return err
}

// deleteHookStore runs beforeDelete before every Delete.
type deleteHookStore struct {
	*memStore[string, string]
	beforeDelete func()
}

func (s deleteHookStore) Delete(ctx context.Context, k string) error {
	if s.beforeDelete != nil {
		s.beforeDelete()
	}
	return s.memStore.Delete(ctx, k)
}

// gatedSource returns a source that answers every key with one value, "a1"
// until set changes it, and whose first call waits for gate to close.
func gatedSource(gate <-chan struct{}) (src pipeline.Fetcher[string, string], set func(string)) {
	var calls atomic.Int64
	var mu sync.Mutex
	val := "a1"
	src = pipeline.FetcherFunc[string, string](func(context.Context, string) (string, error) {
		if calls.Add(1) == 1 {
			<-gate
		}
		mu.Lock()
		defer mu.Unlock()
		return val, nil
	})
	return src, func(v string) {
		mu.Lock()
		val = v
		mu.Unlock()
	}
}

// racingSource returns a source that answers every key with one value,
// "a1" at first. Its first call changes the value to "a2" and invalidates
// the key in *raw (the layer built over it) while a1 is on its way up.
func racingSource(raw *pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
	var mu sync.Mutex
	val := "a1"
	var fired atomic.Bool
	return pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
		mu.Lock()
		v := val
		mu.Unlock()
		if fired.CompareAndSwap(false, true) {
			mu.Lock()
			val = "a2"
			mu.Unlock()
			if err := (*raw).(pipeline.Invalidator[string]).Invalidate(ctx, k); err != nil {
				return "", err
			}
		}
		return v, nil
	})
}
