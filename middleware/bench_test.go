package middleware_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

var (
	benchInt int
	benchStr string
)

// numbers is a trivial source: every key's value is "12345".
var numbers = pipeline.FetcherFunc[string, string](func(context.Context, string) (string, error) {
	return "12345", nil
})

// mapParse is MapKey over Parse, as between the seed's two cache layers.
func mapParse(next pipeline.Fetcher[string, string]) pipeline.Fetcher[docKey, int] {
	return middleware.MapKey[int](func(k docKey) string { return k.Blob })(
		middleware.Parse[string](strconv.Atoi)(next))
}

func BenchmarkMapKeyParse(b *testing.B) {
	key := docKey{Blob: "a", Version: "0"}
	raw := pipeline.Cache("raw", testkit.NewMap[string, string](), nil)(numbers)
	benches := []struct {
		name string
		f    pipeline.Fetcher[docKey, int]
	}{
		// A hit on the top cache layer: nothing below it runs.
		{name: "top hit", f: pipeline.Cache("docs", testkit.NewMap[docKey, int](), nil)(mapParse(raw))},
		// MapKey and Parse over a hit in the cache layer below.
		{name: "inner hit", f: mapParse(raw)},
		// MapKey and Parse alone, over a trivial source.
		{name: "source", f: mapParse(numbers)},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			ctx := b.Context()
			if _, err := bb.f.Fetch(ctx, key); err != nil { // warm
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				benchInt, _ = bb.f.Fetch(ctx, key)
			}
		})
		b.Run(bb.name+"/entry", func(b *testing.B) {
			ctx := b.Context()
			f := bb.f.(pipeline.EntryFetcher[docKey, int])
			b.ReportAllocs()
			for b.Loop() {
				e, _ := f.FetchEntry(ctx, key)
				benchInt = e.Value
			}
		})
	}
}

func BenchmarkTimeout(b *testing.B) {
	f := middleware.Timeout[string, string](time.Minute)(numbers)
	b.Run("fetch", func(b *testing.B) {
		ctx := b.Context()
		b.ReportAllocs()
		for b.Loop() {
			benchStr, _ = f.Fetch(ctx, "k")
		}
	})
	b.Run("caller's deadline sooner", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(b.Context(), time.Second)
		defer cancel()
		b.ReportAllocs()
		for b.Loop() {
			benchStr, _ = f.Fetch(ctx, "k")
		}
	})
}

func BenchmarkInspect(b *testing.B) {
	f := middleware.Inspect[string](func(context.Context, string, []pipeline.Event[any], error) {})(
		pipeline.Cache("c", testkit.NewMap[string, string](), nil)(numbers))
	ctx := b.Context()
	_, _ = f.Fetch(ctx, "k")
	b.ReportAllocs()
	for b.Loop() {
		benchStr, _ = f.Fetch(ctx, "k")
	}
}

func BenchmarkLog(b *testing.B) {
	handler := func(level slog.Level) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level}))
	}
	benches := []struct {
		name   string
		logger *slog.Logger
	}{
		{name: "discard handler", logger: slog.New(slog.DiscardHandler)},
		{name: "found not logged", logger: handler(slog.LevelInfo)},
		{name: "found logged", logger: handler(slog.LevelDebug)},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			f := middleware.Log[string, string](bb.logger, "l", nil)(
				pipeline.Cache("c", testkit.NewMap[string, string](), nil)(numbers))
			ctx := b.Context()
			_, _ = f.Fetch(ctx, "k")
			b.ReportAllocs()
			for b.Loop() {
				benchStr, _ = f.Fetch(ctx, "k")
			}
		})
	}
}
