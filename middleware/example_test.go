package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// files is the seed's bucket: blobs by id.
var files = pipeline.FetcherFunc[string, []byte](func(_ context.Context, id string) ([]byte, error) {
	switch id {
	case "a":
		return []byte(`{"key": "a", "value": "a"}`), nil
	case "b":
		return []byte(`{"key": "b", "value": "b"}`), nil
	case "broken":
		return []byte(`{"key": `), nil
	}
	return nil, fmt.Errorf("bucket: %s: %w", id, pipeline.ErrNotFound)
})

// Doc is the seed's parsed file.
type Doc struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func parseDoc(b []byte) (Doc, error) {
	var d Doc
	err := json.Unmarshal(b, &d)
	return d, err
}

// DocKey is the key of a parsed file: the blob and the parser's version.
type DocKey struct {
	Blob   string
	Parser string
}

func ExampleMapKey() {
	users := pipeline.FetcherFunc[string, string](func(_ context.Context, id string) (string, error) {
		fmt.Println("source", strconv.Quote(id))
		return "user " + id, nil
	})
	raw := pipeline.Cache("users", stores.NewMap[string, string](), nil)(users)
	byID := middleware.MapKey[string](strconv.Itoa)(raw)

	ctx := context.Background()
	v, _ := byID.Fetch(ctx, 42)
	fmt.Println(v)
	v, _ = byID.Fetch(ctx, 42) // a hit in the layer below
	fmt.Println(v)

	// Invalidate maps the key too, and clears it below.
	_ = byID.(pipeline.Invalidator[int]).Invalidate(ctx, 42)
	v, _ = byID.Fetch(ctx, 42)
	fmt.Println(v)
	// Output:
	// source "42"
	// user 42
	// user 42
	// source "42"
	// user 42
}

func ExampleParse() {
	docs := middleware.Parse[string](parseDoc)(files)

	ctx := context.Background()
	d, err := docs.Fetch(ctx, "a")
	fmt.Printf("%+v %v\n", d, err)

	_, err = docs.Fetch(ctx, "broken")
	fmt.Println(err)
	fmt.Println("not found:", errors.Is(err, pipeline.ErrNotFound))

	_, err = docs.Fetch(ctx, "c")
	fmt.Println(err)
	fmt.Println("not found:", errors.Is(err, pipeline.ErrNotFound))
	// Output:
	// {Key:a Value:a} <nil>
	// middleware: parse: unexpected end of JSON input
	// not found: false
	// bucket: c: pipeline: not found
	// not found: true
}

func ExampleTransform() {
	docs := middleware.Parse[string](parseDoc)(files)
	summaries := middleware.Transform[string](func(d Doc) string {
		return d.Key + " → " + strings.ToUpper(d.Value)
	})(docs)

	s, _ := summaries.Fetch(context.Background(), "b")
	fmt.Println(s)
	// Output: b → B
}

func ExampleInspect() {
	// The seed's two layers: parsed files over raw files over the bucket.
	raw := pipeline.Cache("raw_files", stores.NewMap[string, []byte](), nil)(files)
	parsed := pipeline.Cache("parsed_files", stores.NewMap[DocKey, Doc](), nil)(
		middleware.MapKey[Doc](func(k DocKey) string { return k.Blob })(
			middleware.Parse[string](parseDoc)(raw)))

	inspected := middleware.Inspect[Doc](func(_ context.Context, key DocKey, events []pipeline.Event[any], err error) {
		fmt.Printf("%v (err: %v)\n", key, err)
		for _, e := range events {
			fmt.Println("  ", e.Kind, e.Layer, e.Key)
		}
	})(parsed)

	ctx := context.Background()
	_, _ = inspected.Fetch(ctx, DocKey{"a", "v0"}) // both layers empty
	_, _ = inspected.Fetch(ctx, DocKey{"a", "v0"}) // a hit on top
	_, _ = inspected.Fetch(ctx, DocKey{"a", "v1"}) // a new parser: the raw file is there
	_, _ = inspected.Fetch(ctx, DocKey{"c", "v0"}) // not in the bucket
	// Output:
	// {a v0} (err: <nil>)
	//    miss parsed_files {a v0}
	//    miss raw_files a
	//    fill raw_files a
	//    fill parsed_files {a v0}
	// {a v0} (err: <nil>)
	//    hit parsed_files {a v0}
	// {a v1} (err: <nil>)
	//    miss parsed_files {a v1}
	//    hit raw_files a
	//    fill parsed_files {a v1}
	// {c v0} (err: bucket: c: pipeline: not found)
	//    miss parsed_files {c v0}
	//    miss raw_files c
	//    not found raw_files c
	//    not found parsed_files {c v0}
}

func ExampleLog() {
	// Drop the time and the duration, so that the output can be checked.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{}
			}
			return a
		},
	}))

	// A tree: two branches share the raw files.
	raw := pipeline.Cache("raw_files", stores.NewMap[string, []byte](), nil)(files)
	docs := middleware.Log[string, Doc](logger, "docs", nil)(
		pipeline.Cache("parsed_files", stores.NewMap[string, Doc](), nil)(
			middleware.Parse[string](parseDoc)(raw)))
	sizes := middleware.Log[string, int](logger, "sizes", nil)(
		middleware.Transform[string](func(b []byte) int { return len(b) })(raw))

	ctx := context.Background()
	_, _ = docs.Fetch(ctx, "a")      // from the bucket
	_, _ = docs.Fetch(ctx, "a")      // from the parsed files
	_, _ = sizes.Fetch(ctx, "a")     // from the raw files, warmed by docs
	_, _ = sizes.Fetch(ctx, "c")     // nowhere
	_, _ = docs.Fetch(ctx, "broken") // found, but does not parse
	// Output:
	// level=DEBUG msg=fetch layer=docs key=a outcome=fill served_by=source
	// level=DEBUG msg=fetch layer=docs key=a outcome=hit served_by=parsed_files
	// level=DEBUG msg=fetch layer=sizes key=a outcome=hit served_by=raw_files
	// level=INFO msg=fetch layer=sizes key=c outcome="not found" served_by=source
	// level=ERROR msg=fetch layer=docs key=broken outcome=error error="pipeline: parsed_files: middleware: parse: unexpected end of JSON input"
}

func ExampleTimeout() {
	// A source that never answers, until its ctx ends.
	stuck := pipeline.FetcherFunc[string, string](func(ctx context.Context, _ string) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	})
	f := middleware.Timeout[string, string](20 * time.Millisecond)(stuck)

	_, err := f.Fetch(context.Background(), "k")
	fmt.Println(err)
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Output:
	// middleware: timeout after 20ms: context deadline exceeded
	// true
}

// Example_chain builds the seed's stack by hand, layer by layer, and prints
// the events of both cache layers: a cache layer over MapKey over Parse over
// a cache layer over the source.
func Example_chain() {
	show := func(e pipeline.Event[any]) { fmt.Println("  ", e.Kind, e.Layer, e.Key) }
	rawEvents := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
		show(pipeline.Event[any]{Kind: e.Kind, Layer: e.Layer, Key: e.Key})
	})
	docEvents := pipeline.ObserverFunc[DocKey](func(_ context.Context, e pipeline.Event[DocKey]) {
		show(pipeline.Event[any]{Kind: e.Kind, Layer: e.Layer, Key: e.Key})
	})

	source := pipeline.FetcherFunc[string, []byte](func(ctx context.Context, id string) ([]byte, error) {
		fmt.Println("   source", id)
		return files.Fetch(ctx, id)
	})
	raw := pipeline.Cache("raw_files", stores.NewMap[string, []byte](), &pipeline.CacheOptions[string]{Observer: rawEvents})
	parse := middleware.Parse[string](parseDoc)
	mapKey := middleware.MapKey[Doc](func(k DocKey) string { return k.Blob })
	docs := pipeline.Cache("parsed_files", stores.NewMap[DocKey, Doc](), &pipeline.CacheOptions[DocKey]{Observer: docEvents})

	f := docs(mapKey(parse(raw(source))))

	ctx := context.Background()
	for _, k := range []DocKey{{"b", "v0"}, {"b", "v0"}, {"b", "v1"}} {
		fmt.Println("fetch", k)
		d, _ := f.Fetch(ctx, k)
		fmt.Printf("   = %+v\n", d)
	}
	// Invalidating on top drops the key from every layer, mapped on the
	// way, and then every value derived from the raw file, {b v1} included.
	fmt.Println("invalidate {b v0}")
	_ = f.(pipeline.Invalidator[DocKey]).Invalidate(ctx, DocKey{"b", "v0"})
	// Output:
	// fetch {b v0}
	//    miss parsed_files {b v0}
	//    miss raw_files b
	//    source b
	//    fill raw_files b
	//    fill parsed_files {b v0}
	//    = {Key:b Value:b}
	// fetch {b v0}
	//    hit parsed_files {b v0}
	//    = {Key:b Value:b}
	// fetch {b v1}
	//    miss parsed_files {b v1}
	//    hit raw_files b
	//    fill parsed_files {b v1}
	//    = {Key:b Value:b}
	// invalidate {b v0}
	//    invalidated raw_files b
	//    invalidated parsed_files {b v1}
	//    invalidated parsed_files {b v0}
}
