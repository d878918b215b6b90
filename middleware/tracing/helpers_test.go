package tracing_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/multilayer-cache/multilayer/pipeline"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

// recorder returns a provider that records every span, and the recorder.
func recorder(t testing.TB) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// spanView is what a test checks of an ended span.
type spanView struct {
	name   string
	attrs  map[attribute.Key]string
	status string   // "Unset", "Error: text"
	errors []string // the recorded errors' messages
}

// views returns the spans ended so far, in the order they ended, and
// resets the recorder.
func views(rec *tracetest.SpanRecorder) []spanView {
	var out []spanView
	for _, s := range rec.Ended() {
		v := spanView{name: s.Name(), attrs: map[attribute.Key]string{}, status: s.Status().Code.String()}
		if s.Status().Description != "" {
			v.status += ": " + s.Status().Description
		}
		for _, a := range s.Attributes() {
			v.attrs[a.Key] = a.Value.Emit()
		}
		for _, e := range s.Events() {
			if e.Name != "exception" {
				continue
			}
			for _, a := range e.Attributes {
				if a.Key == "exception.message" {
					v.errors = append(v.errors, a.Value.AsString())
				}
			}
		}
		out = append(out, v)
	}
	rec.Reset()
	return out
}

var errDown = errors.New("down")

// source is a Fetcher of upper-cased keys, with "missing" not found and
// "down" failing.
var source = pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
	switch k {
	case "missing":
		return "", pipeline.ErrNotFound
	case "down":
		return "", errDown
	}
	return strings.ToUpper(k), nil
})

// twoLayers returns outer and inner cache layers over below, with the
// outer store, and negative caching on the outer layer.
func twoLayers(below pipeline.Fetcher[string, string]) (pipeline.Fetcher[string, string], *testkit.Map[string, string]) {
	outerMem := testkit.NewMap[string, string]()
	inner := pipeline.Cache("inner", testkit.NewMap[string, string](), nil)(below)
	outer := pipeline.Cache("outer", outerMem, &pipeline.CacheOptions[string]{NegativeTTL: time.Hour})(inner)
	return outer, outerMem
}

// probe is a Fetcher with every optional interface, recording what reaches
// it.
type probe struct {
	expires time.Time

	mu          sync.Mutex
	calls       []string
	invalidated []string
}

func (p *probe) record(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, s)
}

func (p *probe) took() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.calls
	p.calls = nil
	return c
}

func (p *probe) Fetch(_ context.Context, key string) (string, error) {
	p.record("fetch " + key)
	return key, nil
}

func (p *probe) FetchEntry(_ context.Context, key string) (pipeline.Entry[string], error) {
	p.record("fetch entry " + key)
	return pipeline.Entry[string]{Value: key, Expires: p.expires}, nil
}

func (p *probe) FetchBatch(_ context.Context, keys []string, out []pipeline.Result[string]) {
	p.record("fetch batch " + strings.Join(keys, ","))
	for i, k := range keys {
		out[i] = pipeline.Result[string]{Entry: pipeline.Entry[string]{Value: k, Expires: p.expires}}
	}
}

func (p *probe) Invalidate(_ context.Context, key string) error {
	p.record("invalidate " + key)
	return nil
}

func (p *probe) Clear(context.Context) error {
	p.record("clear")
	return nil
}

func (p *probe) Close() error {
	p.record("close")
	return nil
}
