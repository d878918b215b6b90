package middleware

import (
	"context"
	"fmt"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
	"github.com/multilayer-cache/multilayer/internal/typename"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// Parse returns a layer that turns each value on its way outward with fn,
// which may fail: raw bytes into a parsed document. Keys pass through
// unchanged. K comes first because it cannot be inferred:
//
//	middleware.Parse[string](parseDoc)
//
// When fn fails, the fetch returns its error wrapped as
// "middleware: parse: %w". A parse error is an error, not a miss: a cache
// layer above stores nothing and returns it, and the layer below keeps the
// raw value, so the next fetch parses again. Only if fn's own error wraps
// pipeline.ErrNotFound does the fetch report not found; fn may do so on
// purpose, for a value it cannot use. Errors from below, not found included,
// are returned unchanged, and fn is not called.
//
// fn is called once per value that comes up, from many goroutines at once:
// it must be safe for concurrent use, and it must not keep or change the
// value it is given, which a layer below may still hold.
//
// The returned Fetcher implements pipeline.EntryFetcher (a parsed value
// keeps the lifetime of the raw one), pipeline.Invalidator, pipeline.Clearer
// and pipeline.Closer (passed to next), pipeline.Describer, and
// pipeline.BatchFetcher when next is one (the batch goes down whole and each
// value is parsed on the way back).
//
// Parse panics if fn is nil, and the layer panics if next is nil.
func Parse[K, V, V2 any](fn func(V) (V2, error)) pipeline.Layer[K, V, K, V2] {
	if fn == nil {
		panic("middleware: Parse: nil function")
	}
	return valueLayer[K](fn, "parse", "middleware: Parse")
}

// Transform returns a layer that turns each value on its way outward with
// fn, which cannot fail: a document into its summary. It is Parse for
// infallible functions, and follows the same rules: errors from below, not
// found included, are returned unchanged and fn is not called; fn must be
// safe for concurrent use and must not change the value it is given. Write
// middleware.Transform[string](summarize).
//
// Transform panics if fn is nil, and the layer panics if next is nil.
func Transform[K, V, V2 any](fn func(V) V2) pipeline.Layer[K, V, K, V2] {
	if fn == nil {
		panic("middleware: Transform: nil function")
	}
	return valueLayer[K](func(v V) (V2, error) { return fn(v), nil }, "transform", "middleware: Transform")
}

// valueLayer builds the layer of Parse and Transform.
func valueLayer[K, V, V2 any](fn func(V) (V2, error), kind, layer string) pipeline.Layer[K, V, K, V2] {
	return func(next pipeline.Fetcher[K, V]) pipeline.Fetcher[K, V2] {
		plumbing.MustNext(layer, next)
		p := &parse[K, V, V2]{fn: fn, kind: kind, passInward: inward(next), entries: pipeline.Entries(next)}
		if b, ok := next.(pipeline.BatchFetcher[K, V]); ok {
			return &parseBatch[K, V, V2]{parse: p, batch: b}
		}
		return p
	}
}

// parse is the Fetcher returned by Parse and Transform.
type parse[K, V, V2 any] struct {
	fn               func(V) (V2, error)
	kind             string
	passInward[K, V] // next, and Invalidate, Clear and Close passed to it
	entries          pipeline.EntryFetcher[K, V]
}

// Fetch returns the parsed value of key.
func (p *parse[K, V, V2]) Fetch(ctx context.Context, key K) (V2, error) {
	v, err := p.next.Fetch(ctx, key)
	if err != nil {
		var zero V2
		return zero, err
	}
	return p.convert(v)
}

// FetchEntry returns the parsed entry of key, with the lifetime of the raw
// one.
func (p *parse[K, V, V2]) FetchEntry(ctx context.Context, key K) (pipeline.Entry[V2], error) {
	e, err := p.entries.FetchEntry(ctx, key)
	if err != nil {
		return pipeline.Entry[V2]{}, err
	}
	v, err := p.convert(e.Value)
	if err != nil {
		return pipeline.Entry[V2]{}, err
	}
	return pipeline.Entry[V2]{Value: v, Expires: e.Expires}, nil
}

// convert calls fn and wraps its error.
func (p *parse[K, V, V2]) convert(v V) (V2, error) {
	v2, err := p.fn(v)
	if err != nil {
		var zero V2
		return zero, fmt.Errorf("middleware: parse: %w", err)
	}
	return v2, nil
}

// Describe says that the layer parses (or transforms) values, and from which
// type to which.
func (p *parse[K, V, V2]) Describe() pipeline.Description {
	return pipeline.Description{
		Kind:   p.kind,
		Detail: typename.Of[V]() + " → " + typename.Of[V2](),
		Next:   []any{p.next},
	}
}

// parseBatch is a parse over a BatchFetcher.
type parseBatch[K, V, V2 any] struct {
	*parse[K, V, V2]
	batch   pipeline.BatchFetcher[K, V]
	results scratch[pipeline.Result[V]]
}

// BatchNext returns the Fetcher a batch goes to, whole and in order.
func (p *parseBatch[K, V, V2]) BatchNext() any { return p.batch }

// FetchBatch fetches keys with one batch below and parses each value found.
func (p *parseBatch[K, V, V2]) FetchBatch(ctx context.Context, keys []K, out []pipeline.Result[V2]) {
	s := p.results.get(len(keys))
	defer p.results.put(s)
	inner := *s
	p.batch.FetchBatch(ctx, keys, inner)
	for i, r := range inner {
		if r.Err != nil {
			out[i] = pipeline.Result[V2]{Err: r.Err}
			continue
		}
		v, err := p.convert(r.Value)
		if err != nil {
			out[i] = pipeline.Result[V2]{Err: err}
			continue
		}
		out[i] = pipeline.Result[V2]{Entry: pipeline.Entry[V2]{Value: v, Expires: r.Expires}}
	}
}
