package debughttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/pipeline/debughttp"
	"github.com/multilayer-cache/multilayer/stores"
)

func ExampleHandler() {
	bucket := pipeline.Source("bucket", pipeline.FetcherFunc[string, string](
		func(_ context.Context, blob string) (string, error) { return "contents of " + blob, nil }))
	metrics := middleware.NewMetrics(nil)
	files := pipeline.Cache("files", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{
		Metrics: metrics, // counted under the layer's name, "files"
	})(bucket)

	mux := http.NewServeMux()
	mux.Handle("GET /debug/multilayer", debughttp.Handler(files))

	for _, blob := range []string{"a", "a", "b"} {
		_, _ = files.Fetch(context.Background(), blob)
	}

	// A browser gets an HTML page; ?format=text (or Accept: text/plain)
	// gets the tree alone.
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/multilayer?format=text", nil))
	fmt.Print(rec.Body)
	// Output:
	// bucket (source)
	// └── files (cache) hits=1 misses=2 fills=2 hit_ratio=33.3%
}

func ExampleNewSampler() {
	bucket := pipeline.Source("bucket", pipeline.FetcherFunc[string, []byte](
		func(_ context.Context, blob string) ([]byte, error) { return []byte("contents of " + blob), nil }))
	metrics := middleware.NewMetrics(nil)
	files := pipeline.Cache("files", stores.NewMap[string, []byte](), &pipeline.CacheOptions[string]{
		Metrics: metrics, // counted under the layer's name, "files"
	})(bucket)

	// The service starts the sampler with the pipelines and closes it on
	// shutdown; its page charts each layer's hit ratio and p99 over the
	// last 15 minutes, a sample every 10 seconds (see SamplerOptions).
	sampler, err := debughttp.NewSampler(nil, files)
	if err != nil {
		panic(err)
	}
	defer sampler.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /debug/multilayer", sampler.Handler())

	for _, blob := range []string{"a", "a", "b"} {
		_, _ = files.Fetch(context.Background(), blob)
	}

	// ?refresh=5 reloads the page every 5 seconds.
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/multilayer?refresh=5", nil))
	page := rec.Body.String()
	fmt.Println("charts:", strings.Count(page, `<svg class="chart"`))
	fmt.Println(strings.Contains(page, `<meta http-equiv="refresh" content="5">`))
	fmt.Println(strings.Contains(page, "<span>value <b>[]byte</b></span>"))

	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/multilayer?refresh=0", nil))
	fmt.Print(rec.Code, " ", rec.Body)
	// Output:
	// charts: 2
	// true
	// true
	// 400 debughttp: bad refresh: want whole seconds from 1 to 3600
}
