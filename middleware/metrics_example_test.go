package middleware_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

func ExampleObserve() {
	bucket := pipeline.Source("bucket", pipeline.FetcherFunc[string, string](
		func(_ context.Context, blob string) (string, error) {
			if blob == "a" {
				return `{"key": "a", "value": "a"}`, nil
			}
			return "", fmt.Errorf("bucket: %s: %w", blob, pipeline.ErrNotFound)
		}))

	metrics := middleware.NewMetrics(nil)
	files := pipeline.Cache("files", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{
		Observer: middleware.Observe[string](metrics, "files"),
	})(bucket)

	ctx := context.Background()
	for _, blob := range []string{"a", "a", "a", "c"} {
		_, _ = files.Fetch(ctx, blob)
	}

	s := metrics.Layer("files").Stats()
	fmt.Printf("hits %d, misses %d, fills %d, not found %d, hit ratio %.2f\n",
		s.Hits, s.Misses, s.Fills, s.NotFound, s.HitRatio())
	fmt.Println("latencies recorded:", metrics.Layer("files").Latency().Count)
	// The layer's observer counts, so the layer shows its counts in a tree.
	fmt.Print(pipeline.TreeOf(files))
	// Output:
	// hits 2, misses 2, fills 1, not found 1, hit ratio 0.50
	// latencies recorded: 2
	// bucket (source)
	// └── files (cache) hits=2 misses=2 fills=1 not_found=1 hit_ratio=50.0%
}

// One Metrics counts layers of different key types: raw files by blob id,
// and their upper-case view by (blob id, version).
func ExampleMetrics() {
	type viewKey struct{ blob, version string }
	bucket := pipeline.FetcherFunc[string, string](func(_ context.Context, blob string) (string, error) {
		return "contents of " + blob, nil
	})

	// Each cache layer counts under its own name: the name is written once.
	metrics := middleware.NewMetrics(nil)
	raw := pipeline.Cache("raw_files", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{
		Metrics: metrics,
	})(bucket)
	upper := pipeline.FetcherFunc[viewKey, string](func(ctx context.Context, k viewKey) (string, error) {
		s, err := raw.Fetch(ctx, k.blob)
		return strings.ToUpper(s), err
	})
	views := pipeline.Cache("views", stores.NewMap[viewKey, string](), &pipeline.CacheOptions[viewKey]{
		Metrics: metrics,
	})(upper)

	ctx := context.Background()
	for _, k := range []viewKey{{"a", "1"}, {"a", "1"}, {"a", "2"}, {"b", "1"}} {
		_, _ = views.Fetch(ctx, k)
	}

	for _, l := range metrics.Layers() {
		s := l.Stats()
		fmt.Printf("%-9s hits %d, misses %d, fills %d\n", l.Name(), s.Hits, s.Misses, s.Fills)
	}
	// Output:
	// raw_files hits 1, misses 2, fills 2
	// views     hits 1, misses 3, fills 3
}

// The seed's two layers, counted: raw files cached from a bucket, and the
// parsed files, keyed by (blob, parser version), cached over them through a
// key mapper and a parser. The tree shows every layer, with the counts of
// those that count.
func ExampleMetrics_tree() {
	type parsedKey struct{ Blob, Version string }
	type parsedFile struct{ Key, Value string }

	bucket := pipeline.Source("bucket", pipeline.FetcherFunc[string, string](
		func(_ context.Context, blob string) (string, error) {
			if blob == "a" || blob == "b" {
				return fmt.Sprintf(`{"key": %q, "value": %q}`, blob, blob), nil
			}
			return "", fmt.Errorf("bucket: %s: %w", blob, pipeline.ErrNotFound)
		}))
	parse := func(raw string) (parsedFile, error) {
		var f parsedFile
		err := json.Unmarshal([]byte(raw), &f)
		return f, err
	}

	metrics := middleware.NewMetrics(nil)
	files := pipeline.Cache("cached_files", stores.NewMap[string, string](), &pipeline.CacheOptions[string]{
		Metrics: metrics,
	})(bucket)
	parsed := pipeline.Cache("parsed_cached_files", stores.NewMap[parsedKey, parsedFile](), &pipeline.CacheOptions[parsedKey]{
		Metrics: metrics,
	})(middleware.MapKey[parsedFile](func(k parsedKey) string { return k.Blob })(
		middleware.Parse[string](parse)(files)))

	ctx := context.Background()
	for _, k := range []parsedKey{{"a", "0"}, {"a", "0"}, {"a", "1"}, {"b", "0"}, {"c", "0"}} {
		_, _ = parsed.Fetch(ctx, k)
	}
	fmt.Print(pipeline.TreeOf(parsed))
	// Output:
	// bucket (source)
	// └── cached_files (cache) hits=1 misses=3 fills=2 not_found=1 hit_ratio=25.0%
	//     └── parse (string → middleware_test.parsedFile)
	//         └── map key (middleware_test.parsedKey → string)
	//             └── parsed_cached_files (cache) hits=1 misses=4 fills=3 not_found=1 hit_ratio=20.0%
}
