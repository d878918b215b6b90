// Command tree shows a tree of caches: two views of the same files, a parsed
// JSON document and a YAML rendering, share one raw-file layer. A fill
// through one branch warms the shared layer for the other, and invalidating
// a raw file drops what both branches derived from it.
//
//	go run ./examples/tree
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tree:", err)
		os.Exit(1)
	}
}

// Bucket is an object store that counts its reads.
type Bucket struct {
	mu    sync.Mutex
	files map[string]string
	Reads atomic.Int64
}

// Fetch reads a file.
func (b *Bucket) Fetch(_ context.Context, id string) ([]byte, error) {
	b.Reads.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.files[id]
	if !ok {
		return nil, fmt.Errorf("bucket: %s: %w", id, pipeline.ErrNotFound)
	}
	return []byte(f), nil
}

// Put writes a file.
func (b *Bucket) Put(id, contents string) {
	b.mu.Lock()
	b.files[id] = contents
	b.mu.Unlock()
}

// toYAML renders a flat JSON object as YAML, keys sorted.
func toYAML(raw []byte) (string, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", fmt.Errorf("yaml view: %w", err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %v; ", k, m[k])
	}
	return strings.TrimSuffix(b.String(), "; "), nil
}

func run(ctx context.Context, w io.Writer) error {
	bucket := &Bucket{files: map[string]string{"a": `{"key": "a", "value": "apple"}`}}

	// Every layer counts its events under its own name, so the tree below
	// shows live counts.
	metrics := middleware.NewMetrics(nil)
	opts := &pipeline.CacheOptions[string]{Metrics: metrics}

	// The shared inner layer...
	raw := stores.LRUCache[[]byte]("raw", 1024, opts)(pipeline.Source[string, []byte]("bucket", bucket))
	// ...and two branches over it.
	parsed := stores.LRUCache[map[string]any]("json", 512, opts)(
		middleware.Parse[string](func(b []byte) (map[string]any, error) {
			var m map[string]any
			return m, json.Unmarshal(b, &m)
		})(raw))
	yaml := stores.LRUCache[string]("yaml", 512, opts)(middleware.Parse[string](toYAML)(raw))

	show := func(step string) error {
		j, err := parsed.Fetch(ctx, "a")
		if err != nil {
			return err
		}
		y, err := yaml.Fetch(ctx, "a")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\n  json: %v\n  yaml: %s\n  bucket reads so far: %d\n", step, j, y, bucket.Reads.Load())
		return nil
	}
	if err := show("first fetch through the json branch, then the yaml branch"); err != nil {
		return err
	}
	if err := show("again: both branches hit their own layer"); err != nil {
		return err
	}
	bucket.Put("a", `{"key": "a", "value": "avocado"}`)
	if err := raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a"); err != nil {
		return err
	}
	if err := show("after the file changed and raw \"a\" was invalidated: both branches fetch again"); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nthe tree:\n%s", pipeline.TreeOf(parsed, yaml))
	return nil
}
