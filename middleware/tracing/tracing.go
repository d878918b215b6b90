package tracing

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
	"github.com/multilayer-cache/multilayer/internal/served"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// ScopeName is the instrumentation scope of the tracers this package asks
// its TracerProvider for.
const ScopeName = "github.com/multilayer-cache/multilayer/middleware/tracing"

// The attributes of a span.
const (
	// LayerKey is the name of the layer the Spans middleware is attached
	// to, as given to Spans.
	LayerKey = attribute.Key("multilayer.layer")
	// OutcomeKey says how a fetch ended: "hit", "stale", "shared", "fill",
	// "found", "not found" or "error", as middleware.Log says it.
	OutcomeKey = attribute.Key("multilayer.outcome")
	// ServedByKey is the name of the layer that answered a fetch, or
	// "source" when every layer below missed; for found and not-found
	// outcomes.
	ServedByKey = attribute.Key("multilayer.served_by")
	// BatchSizeKey is the number of keys of a batch.
	BatchSizeKey = attribute.Key("multilayer.batch.size")
	// BatchNotFoundKey is the number of keys of a batch that were not found.
	BatchNotFoundKey = attribute.Key("multilayer.batch.not_found")
	// BatchErrorsKey is the number of keys of a batch that failed otherwise.
	BatchErrorsKey = attribute.Key("multilayer.batch.errors")
)

// Options configure Spans. The zero value, and a nil pointer, mean
// defaults.
type Options struct {
	// TracerProvider makes the tracer that starts the spans. Default: the
	// global provider, otel.GetTracerProvider(), looked up again at each
	// fetch (a pointer comparison when it has not changed), so that a
	// provider set with otel.SetTracerProvider after the pipeline was
	// built, or set again, is used from then on.
	TracerProvider trace.TracerProvider
}

// Spans returns a middleware that starts one OpenTelemetry span per fetch
// through it, a child of the span in the caller's ctx, and passes the
// span's ctx below, so that the spans of the layers below and of the
// source (a database client's, an HTTP client's) are its children. The
// span is named "fetch " + name and has these attributes:
//
//   - multilayer.layer (LayerKey): name;
//   - multilayer.outcome (OutcomeKey): "hit" (a cache layer below held the
//     value), "stale" (a layer served an expired value because below it
//     failed), "shared" (a layer joined a fetch of the key that another
//     caller had started), "fill" (the value came from the source and the
//     cache layers below stored it), "found" (the value came from below
//     with no cache layer storing it), "not found" or "error";
//   - multilayer.served_by (ServedByKey): for found and not-found outcomes,
//     the name of the layer whose hit, negative hit, stale value or shared
//     fetch answered first, or "source" when every layer below missed.
//
// A fetch that fails, other than with not found, records its error on the
// span (span.RecordError) and sets the span's status to Error with the
// error's text. Not found is an answer, not a failure: its span's status
// is left unset. Keys are not written to spans; error texts may name them.
//
// The outcome and served_by come from tracing the fetch with
// pipeline.WithTrace, which costs an allocation per event of the layers
// below, and while any fetch is traced so, every layer in the process
// looks in its ctx for a trace; it is done only when the span is
// recording. When it is not (no
// provider set, a no-op provider, or a sampler that dropped it), a fetch
// costs starting and ending a span that records nothing and no more.
// Values and errors from below are returned unchanged. The middleware is
// safe for concurrent use.
//
// A batch (when next is a pipeline.BatchFetcher) gets one span, named
// "fetch batch " + name, with the layer, the batch's size and the numbers
// of keys not found and failed; the first failure is recorded as the
// span's error. Its keys are not traced one by one.
//
// The returned Fetcher implements pipeline.EntryFetcher,
// pipeline.Invalidator, pipeline.Clearer and pipeline.Closer (passed to
// next when next has them, not traced), pipeline.Describer, and
// pipeline.BatchFetcher when next is one.
//
// Spans panics if name is empty, and the middleware panics if next is nil.
func Spans[K, V any](name string, opts *Options) pipeline.Middleware[K, V] {
	if name == "" {
		panic("tracing: Spans: empty layer name")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	return func(next pipeline.Fetcher[K, V]) pipeline.Fetcher[K, V] {
		plumbing.MustNext("tracing: Spans "+name, next)
		plumbing.Hold(next)
		t := &traced[K, V]{
			Inward:    &plumbing.Inward{Next: next},
			name:      "fetch " + name,
			batchName: "fetch batch " + name,
			layer:     name,
			start:     []trace.SpanStartOption{trace.WithAttributes(LayerKey.String(name))},
			next:      next,
			entries:   pipeline.Entries(next),
		}
		if o.TracerProvider != nil {
			t.fixed = o.TracerProvider.Tracer(ScopeName)
		}
		if b, ok := next.(pipeline.BatchFetcher[K, V]); ok {
			return &tracedBatch[K, V]{traced: t, batch: b}
		}
		return t
	}
}

// traced is the Fetcher returned by Spans.
type traced[K, V any] struct {
	*plumbing.Inward        // Clear, Close
	name             string // of a fetch's span
	batchName        string // of a batch's span
	layer            string
	start            []trace.SpanStartOption // the layer attribute
	fixed            trace.Tracer            // from Options.TracerProvider; nil: the global one
	global           atomic.Pointer[resolved]
	next             pipeline.Fetcher[K, V]
	entries          pipeline.EntryFetcher[K, V]
}

// resolved is the tracer of one global TracerProvider.
type resolved struct {
	provider   trace.TracerProvider
	tracer     trace.Tracer
	comparable bool // provider can be compared with ==
}

// tracer returns the tracer to start spans with: the one of
// Options.TracerProvider, or that of the current global provider.
func (t *traced[K, V]) tracer() trace.Tracer {
	if t.fixed != nil {
		return t.fixed
	}
	tp := otel.GetTracerProvider()
	if r := t.global.Load(); r != nil && r.comparable && r.provider == tp {
		return r.tracer
	}
	// The global provider changed, or is of a type that == cannot compare
	// (then it is asked for its tracer at each fetch).
	r := &resolved{provider: tp, tracer: tp.Tracer(ScopeName), comparable: reflect.TypeOf(tp).Comparable()}
	t.global.Store(r)
	return r.tracer
}

// Fetch fetches key from next under a span.
func (t *traced[K, V]) Fetch(ctx context.Context, key K) (V, error) {
	ctx, span := t.tracer().Start(ctx, t.name, t.start...)
	defer span.End()
	if !span.IsRecording() {
		return t.next.Fetch(ctx, key)
	}
	e, err := t.recorded(ctx, span, key)
	return e.Value, err
}

// FetchEntry fetches the entry of key from next under a span.
func (t *traced[K, V]) FetchEntry(ctx context.Context, key K) (pipeline.Entry[V], error) {
	ctx, span := t.tracer().Start(ctx, t.name, t.start...)
	defer span.End()
	if !span.IsRecording() {
		return t.entries.FetchEntry(ctx, key)
	}
	return t.recorded(ctx, span, key)
}

// recorded fetches the entry of key from next under a trace, and sets the
// outcome on span, which records.
func (t *traced[K, V]) recorded(ctx context.Context, span trace.Span, key K) (pipeline.Entry[V], error) {
	a := &answer{}
	tctx, end := pipeline.WithTrace(ctx, a)
	e, err := t.entries.FetchEntry(tctx, key)
	end()
	outcome, servedBy := a.outcome(err)
	if servedBy != "" {
		span.SetAttributes(OutcomeKey.String(outcome), ServedByKey.String(servedBy))
	} else {
		span.SetAttributes(OutcomeKey.String(outcome))
	}
	if outcome == "error" {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return e, err
}

// Invalidate passes key to next if next is a pipeline.Invalidator;
// otherwise it does nothing.
func (t *traced[K, V]) Invalidate(ctx context.Context, key K) error {
	return pipeline.Invalidate(ctx, t.next, key)
}

// Describe says that the layer traces fetches.
func (t *traced[K, V]) Describe() pipeline.Description {
	return pipeline.Description{Name: t.layer, Kind: "tracing", Next: []any{t.next}}
}

// SameKeyNext returns next, which the layer asks for the key it was given
// and no other (see plumbing.SameKey): a cache layer above needs no
// dependency records in the one below.
func (t *traced[K, V]) SameKeyNext() any { return t.next }

// tracedBatch is a traced over a BatchFetcher.
type tracedBatch[K, V any] struct {
	*traced[K, V]
	batch pipeline.BatchFetcher[K, V]
}

// BatchNext returns the Fetcher a batch goes to, whole and in order.
func (t *tracedBatch[K, V]) BatchNext() any { return t.batch }

// FetchBatch fetches keys with one batch below, under one span.
func (t *tracedBatch[K, V]) FetchBatch(ctx context.Context, keys []K, out []pipeline.Result[V]) {
	ctx, span := t.tracer().Start(ctx, t.batchName, t.start...)
	defer span.End()
	t.batch.FetchBatch(ctx, keys, out)
	if !span.IsRecording() {
		return
	}
	var notFound, failed int
	var first error
	for i := range out {
		switch err := out[i].Err; {
		case err == nil:
		case errors.Is(err, pipeline.ErrNotFound):
			notFound++
		default:
			if failed == 0 {
				first = err
			}
			failed++
		}
	}
	span.SetAttributes(BatchSizeKey.Int(len(keys)), BatchNotFoundKey.Int(notFound), BatchErrorsKey.Int(failed))
	if first != nil {
		span.RecordError(first)
		span.SetStatus(codes.Error, first.Error())
	}
}

// answer is the layer that answered a fetch, as its trace shows.
type answer struct{ served.Answer }

// outcome ends the observation and returns the outcome of a fetch that
// returned err, and the layer that served it (empty for errors).
func (a *answer) outcome(err error) (outcome, servedBy string) {
	switch {
	case err == nil:
		return a.Found()
	case errors.Is(err, pipeline.ErrNotFound):
		return "not found", a.NotFound()
	default:
		a.Result() // ends the observation
		return "error", ""
	}
}
