package tracing_test

import (
	"context"
	"fmt"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/multilayer-cache/multilayer/middleware/tracing"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

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
	shared := pipeline.Cache("shared", stores.NewMap[string, string](), nil)(db)
	profiles := tracing.Spans[string, string]("profiles", &tracing.Options{TracerProvider: tp})(
		pipeline.Cache("local", stores.NewMap[string, string](), nil)(shared))

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
