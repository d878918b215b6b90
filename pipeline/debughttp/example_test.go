package debughttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

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
		Observer: middleware.Observe[string](metrics, "files"),
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
