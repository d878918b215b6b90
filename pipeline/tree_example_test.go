package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// statsCounter is an Observer that counts a layer's events, and a
// pipeline.StatsSource, so that the layer shows its counts in a tree.
type statsCounter[K any] struct {
	mu sync.Mutex
	s  pipeline.Stats
}

func (c *statsCounter[K]) Observe(_ context.Context, e pipeline.Event[K]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e.Kind {
	case pipeline.Hit:
		c.s.Hits++
	case pipeline.Miss:
		c.s.Misses++
	case pipeline.Fill:
		c.s.Fills++
	case pipeline.NotFound:
		c.s.NotFound++
	case pipeline.Error:
		c.s.Errors++
	}
}

func (c *statsCounter[K]) Stats() pipeline.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s
}

// describedStep is a user's own layer that maps keys and values, and
// describes itself so that the tree goes on through it.
type describedStep[K, V, K2, V2 any] struct {
	kind  string
	next  pipeline.Fetcher[K, V]
	key   func(K2) K
	value func(V) (V2, error)
}

func (s *describedStep[K, V, K2, V2]) Fetch(ctx context.Context, k K2) (V2, error) {
	v, err := s.next.Fetch(ctx, s.key(k))
	if err != nil {
		var zero V2
		return zero, err
	}
	return s.value(v)
}

func (s *describedStep[K, V, K2, V2]) Describe() pipeline.Description {
	return pipeline.Description{Kind: s.kind, Next: []any{s.next}}
}

// treeStep returns a layer of the given kind that maps keys with key and values
// with value.
func treeStep[K, V, K2, V2 any](kind string, key func(K2) K, value func(V) (V2, error)) pipeline.Layer[K, V, K2, V2] {
	return func(next pipeline.Fetcher[K, V]) pipeline.Fetcher[K2, V2] {
		return &describedStep[K, V, K2, V2]{kind: kind, next: next, key: key, value: value}
	}
}

// countedCache returns a cache layer over a map that counts its events.
func countedCache[K comparable, V any](name string) pipeline.Middleware[K, V] {
	return pipeline.Cache(name, stores.NewMap[K, V](), &pipeline.CacheOptions[K]{Observer: &statsCounter[K]{}})
}

// The seed's two layers: raw files cached from a bucket, and the files
// parsed (by parser version) cached over them.
func ExampleTreeOf() {
	type parsedKey struct{ blob, version string }
	type parsedFile struct{ Key, Value string }

	bucket := pipeline.Source("bucket", pipeline.FetcherFunc[string, string](
		func(_ context.Context, blob string) (string, error) {
			if blob == "a" {
				return `{"key": "a", "value": "a"}`, nil
			}
			return "", fmt.Errorf("bucket: %s: %w", blob, pipeline.ErrNotFound)
		}))
	files := countedCache[string, string]("cached_files")(bucket)

	parse := treeStep("parse", func(blob string) string { return blob }, func(raw string) (parsedFile, error) {
		var f parsedFile
		err := json.Unmarshal([]byte(raw), &f)
		return f, err
	})
	mapKey := treeStep("map key", func(k parsedKey) string { return k.blob }, func(f parsedFile) (parsedFile, error) {
		return f, nil
	})
	parsed := countedCache[parsedKey, parsedFile]("parsed_cached_files")(mapKey(parse(files)))

	ctx := context.Background()
	for _, blob := range []string{"a", "a", "a", "c"} {
		_, _ = parsed.Fetch(ctx, parsedKey{blob, "0"})
	}
	_, _ = files.Fetch(ctx, "a")

	fmt.Print(pipeline.TreeOf(parsed))
	// Output:
	// bucket (source)
	// └── cached_files (cache) hits=1 misses=2 fills=1 not_found=1 hit_ratio=33.3%
	//     └── parse
	//         └── map key
	//             └── parsed_cached_files (cache) hits=2 misses=2 fills=1 not_found=1 hit_ratio=50.0%
}

// A raw file cache shared by two views of the files: the tree shows it once,
// with both below it.
func ExampleTree_String() {
	bucket := pipeline.FetcherFunc[string, string](func(_ context.Context, blob string) (string, error) {
		return "# " + blob + "\nbody\n", nil
	})
	raw := countedCache[string, string]("raw_files")(bucket)
	title := treeStep("parse", func(k string) string { return k }, func(raw string) (string, error) {
		return strings.TrimPrefix(strings.SplitN(raw, "\n", 2)[0], "# "), nil
	})
	upper := treeStep("transform", func(k string) string { return k }, func(raw string) (string, error) {
		return strings.ToUpper(raw), nil
	})
	titles := countedCache[string, string]("titles")(title(raw))
	summaries := countedCache[string, string]("summaries")(titles)
	loud := countedCache[string, string]("loud_files")(upper(raw))

	ctx := context.Background()
	for _, k := range []string{"a", "b", "a"} {
		_, _ = summaries.Fetch(ctx, k)
	}
	_, _ = loud.Fetch(ctx, "a")

	fmt.Print(pipeline.TreeOf(summaries, loud))
	// Output:
	// source
	// └── raw_files (cache) hits=1 misses=2 fills=2 hit_ratio=33.3%
	//     ├── parse
	//     │   └── titles (cache) hits=0 misses=2 fills=2 hit_ratio=0.0%
	//     │       └── summaries (cache) hits=1 misses=2 fills=2 hit_ratio=33.3%
	//     └── transform
	//         └── loud_files (cache) hits=0 misses=1 fills=1 hit_ratio=0.0%
}
