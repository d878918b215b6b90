package tracing_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/multilayer-cache/multilayer/internal/paired"
	"github.com/multilayer-cache/multilayer/middleware/tracing"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

var benchStr string

// discard is a span processor that drops every span: a recording provider
// with nothing to export.
type discard struct{}

func (discard) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discard) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discard) Shutdown(context.Context) error                  { return nil }
func (discard) ForceFlush(context.Context) error                { return nil }

// hitFetchers returns a hit on an LRU cache layer, without Spans
// (impl=none) and through it: with the no-op provider (impl=noop), with
// the global provider before any is set (impl=global-unset: what a program
// that never sets one pays), and with a provider that records every span
// and drops it when it ends (impl=recording). Each is warmed.
func hitFetchers(b *testing.B) []hitFetcher {
	recording := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(discard{}))
	b.Cleanup(func() { _ = recording.Shutdown(context.Background()) })
	benches := []struct {
		name     string
		provider trace.TracerProvider // nil: global
		spans    bool
	}{
		{name: "none"},
		{name: "noop", provider: noop.NewTracerProvider(), spans: true},
		{name: "global-unset", spans: true},
		{name: "recording", provider: recording, spans: true},
	}
	var out []hitFetcher
	for _, bb := range benches {
		lru, err := stores.NewLRU[string, string](1024)
		if err != nil {
			b.Fatal(err)
		}
		f := pipeline.Cache("lru", lru, nil)(source)
		if bb.spans {
			f = tracing.Spans[string, string]("lru", &tracing.Options{TracerProvider: bb.provider})(f)
		}
		if _, err := f.Fetch(b.Context(), "a"); err != nil { // warm
			b.Fatal(err)
		}
		out = append(out, hitFetcher{name: "impl=" + bb.name, f: f})
	}
	return out
}

// hitFetcher is one of hitFetchers.
type hitFetcher struct {
	name string
	f    pipeline.Fetcher[string, string]
}

// BenchmarkHit times a hit through each of hitFetchers. Compare with
//
//	go test -run='^$' -bench='^BenchmarkHit$' -benchmem -count=6 ./middleware/tracing > tracing.txt
//	benchstat -col /impl tracing.txt
func BenchmarkHit(b *testing.B) {
	for _, h := range hitFetchers(b) {
		b.Run(h.name, func(b *testing.B) {
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				benchStr, _ = h.f.Fetch(ctx, "a")
			}
		})
	}
}

// BenchmarkHitPaired times the same hits in alternating slices (see
// internal/paired) and reports each one's time relative to impl=none as
// x-impl=...: steadier than BenchmarkHit's ratios on a shared machine.
func BenchmarkHitPaired(b *testing.B) {
	ctx := b.Context()
	var impls []paired.Impl
	for _, h := range hitFetchers(b) {
		impls = append(impls, paired.Impl{Name: h.name, Run: func(n int) {
			for range n {
				benchStr, _ = h.f.Fetch(ctx, "a")
			}
		}})
	}
	paired.Run(b, 1024, impls...)
}
