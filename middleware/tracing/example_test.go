package tracing_test

import (
	"context"
	"fmt"
	"strings"
	"sync"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/multilayer-cache/multilayer/middleware/tracing"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// syncMap returns a Store over a map guarded by a mutex.
func syncMap[K comparable, V any]() pipeline.Store[K, V] {
	var mu sync.Mutex
	m := make(map[K]V)
	return pipeline.StoreFuncs[K, V]{
		GetFunc: func(_ context.Context, k K) (V, bool, error) {
			mu.Lock()
			defer mu.Unlock()
			v, ok := m[k]
			return v, ok, nil
		},
		SetFunc: func(_ context.Context, k K, v V) error {
			mu.Lock()
			defer mu.Unlock()
			m[k] = v
			return nil
		},
		DeleteFunc: func(_ context.Context, k K) error {
			mu.Lock()
			defer mu.Unlock()
			delete(m, k)
			return nil
		},
	}
}

func ExampleSpans() {
	// A provider that keeps the spans in memory, to print them. A service
	// sets its exporting provider with otel.SetTracerProvider and passes
	// nil options.
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())

	db := pipeline.FetcherFunc[string, string](func(_ context.Context, id string) (string, error) {
		if id == "nobody" {
			return "", fmt.Errorf("db: %s: %w", id, pipeline.ErrNotFound)
		}
		return "profile of " + id, nil
	})
	// Spans on top of a local layer over a shared one, over the database.
	shared := pipeline.Cache("shared", syncMap[string, string](), nil)(db)
	profiles := tracing.Spans[string, string]("profiles", &tracing.Options{TracerProvider: tp})(
		pipeline.Cache("local", syncMap[string, string](), nil)(shared))

	ctx := context.Background()
	_, _ = profiles.Fetch(ctx, "ada")    // from the database, stored in both layers
	_, _ = profiles.Fetch(ctx, "ada")    // from the local layer
	_, _ = profiles.Fetch(ctx, "nobody") // not in the database

	for _, s := range rec.Ended() {
		var attrs []string
		for _, a := range s.Attributes() {
			attrs = append(attrs, fmt.Sprintf("%s=%q", a.Key, a.Value.Emit()))
		}
		fmt.Println(s.Name(), strings.Join(attrs, " "), s.Status().Code)
	}
	// Output:
	// fetch profiles multilayer.layer="profiles" multilayer.outcome="fill" multilayer.served_by="source" Unset
	// fetch profiles multilayer.layer="profiles" multilayer.outcome="hit" multilayer.served_by="local" Unset
	// fetch profiles multilayer.layer="profiles" multilayer.outcome="not found" multilayer.served_by="source" Unset
}
