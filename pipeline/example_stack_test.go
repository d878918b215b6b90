package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// README:begin

// DocKey names a parsed document: its blob and the parser version.
type DocKey struct{ Blob, Parser string }

// Doc is a parsed blob.
type Doc struct{ Key, Value string }

func parseDoc(raw []byte) (Doc, error) {
	var d Doc
	err := json.Unmarshal(raw, &d)
	return d, err
}

func Example() {
	// The source: a bucket of JSON blobs, here a function.
	bucket := pipeline.FetcherFunc[string, []byte](func(_ context.Context, id string) ([]byte, error) {
		if id != "a" {
			return nil, fmt.Errorf("bucket: %s: %w", id, pipeline.ErrNotFound)
		}
		return []byte(`{"key": "a", "value": "apple"}`), nil
	})

	// The stack, outermost first: an LRU cache of parsed documents, a key
	// mapper (DocKey → blob id), a parser ([]byte → Doc), an LRU cache of
	// raw bytes, the bucket.
	parsed := stores.LRUCache[Doc, DocKey]("docs", 512, nil)(
		middleware.MapKey[Doc](func(k DocKey) string { return k.Blob })(
			middleware.Parse[string](parseDoc)(
				stores.LRUCache[[]byte, string]("raw", 1024, nil)(bucket))))

	// Inspect reports which layers each lookup touched, in order.
	lookup := middleware.Inspect[Doc](func(_ context.Context, k DocKey, events []pipeline.Event[any], err error) {
		fmt.Printf("%v:", k)
		for _, e := range events {
			fmt.Printf(" %v@%s", e.Kind, e.Layer)
		}
		if err != nil {
			fmt.Print(" → ", err)
		}
		fmt.Println()
	})(parsed)

	ctx := context.Background()
	lookup.Fetch(ctx, DocKey{"a", "v1"}) // both layers miss; the bucket answers and both fill
	lookup.Fetch(ctx, DocKey{"a", "v1"}) // the docs layer answers at once
	lookup.Fetch(ctx, DocKey{"a", "v2"}) // a new parser version: docs misses, raw hits
	lookup.Fetch(ctx, DocKey{"c", "v1"}) // not in the bucket: an error wrapping ErrNotFound
	// Output:
	// {a v1}: miss@docs miss@raw fill@raw fill@docs
	// {a v1}: hit@docs
	// {a v2}: miss@docs hit@raw fill@docs
	// {c v1}: miss@docs miss@raw not found@raw not found@docs → bucket: c: pipeline: not found
}

// README:end
