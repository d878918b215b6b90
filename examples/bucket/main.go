// Command bucket is the seed's example as a multilayer pipeline: a bucket
// of JSON files is the source, a raw-file cache keeps the bytes, and a
// parsed-file cache keyed by (blob id, parser version) keeps the parsed
// documents. Every lookup is logged with the layer that served it.
//
//	go run ./examples/bucket
//
// With -disk, the raw-file cache keeps its files in a directory (see
// package stores/disk), so that it survives the program: run it twice, and
// the second run is served from disk instead of the bucket.
//
//	go run ./examples/bucket -disk /tmp/bucket-cache
//	go run ./examples/bucket -disk /tmp/bucket-cache
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/lmittmann/tint"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
	"github.com/multilayer-cache/multilayer/stores/disk"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Args[1:]...); err != nil {
		fmt.Fprintln(os.Stderr, "bucket:", err)
		os.Exit(1)
	}
}

// DocKey identifies a parsed document: the blob it came from and the
// version of the parser that made it.
type DocKey struct {
	Blob   string
	Parser string
}

// String formats the key as blob@parser, for the logs.
func (k DocKey) String() string { return k.Blob + "@" + k.Parser }

// Doc is a parsed file.
type Doc struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// bucket stands for an object store: a source that knows nothing of caches.
var bucket = map[string]string{
	"a": `{"key": "a", "value": "apple"}`,
	"b": `{"key": "b", "value": "banana"}`,
}

func readBlob(_ context.Context, id string) ([]byte, error) {
	f, ok := bucket[id]
	if !ok {
		return nil, fmt.Errorf("bucket: %s: %w", id, pipeline.ErrNotFound)
	}
	return []byte(f), nil
}

func parseDoc(raw []byte) (Doc, error) {
	var d Doc
	if err := json.Unmarshal(raw, &d); err != nil {
		return Doc{}, fmt.Errorf("parse doc: %w", err)
	}
	return d, nil
}

// diskBudget is the byte budget of the raw files on disk.
const diskBudget = 64 << 20

// run runs the example with the command-line arguments args.
func run(ctx context.Context, w io.Writer, args ...string) error {
	flags := flag.NewFlagSet("bucket", flag.ContinueOnError)
	flags.SetOutput(w)
	dir := flags.String("disk", "", "keep the raw files in this `directory`, so that a second run is served from disk")
	if err := flags.Parse(args); err != nil {
		return err
	}
	logger := slog.New(tint.NewHandler(w, &tint.Options{
		NoColor: true,
		Level:   slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{} // keep the output stable
			}
			return a
		},
	}))

	raw, closeRaw, err := rawStore(w, *dir)
	if err != nil {
		return err
	}
	defer closeRaw()
	docs, err := stores.NewLRU[DocKey, Doc](512)
	if err != nil {
		return err
	}
	rawFiles := pipeline.Cache("raw_files", raw, nil)(pipeline.FetcherFunc[string, []byte](readBlob))
	parsedFiles := pipeline.Chain(
		middleware.Log[DocKey, Doc](logger, "lookup", nil),
		pipeline.Cache("parsed_files", docs, nil),
	)(middleware.MapKey[Doc](func(k DocKey) string { return k.Blob })(
		middleware.Parse[string](parseDoc)(rawFiles)))

	for _, key := range []DocKey{
		{"a", "v1"}, // both layers miss: the bucket serves it, both fill
		{"a", "v1"}, // the parsed layer holds it
		{"a", "v2"}, // a new parser version: parsed misses, raw hits
		{"c", "v1"}, // not in the bucket
	} {
		doc, err := parsedFiles.Fetch(ctx, key)
		switch {
		case err == nil:
			fmt.Fprintf(w, "%v → %+v\n", key, doc)
		case errors.Is(err, pipeline.ErrNotFound):
			fmt.Fprintf(w, "%v → not found\n", key)
		default:
			return err
		}
	}
	return nil
}

// rawStore returns the store of the raw files: in memory, or with a
// directory, on disk, and then says what the directory holds already.
func rawStore(w io.Writer, dir string) (pipeline.Store[string, []byte], func(), error) {
	if dir == "" {
		lru, err := stores.NewLRU[string, []byte](1024)
		return lru, func() {}, err
	}
	store, err := disk.Open(dir, diskBudget, nil)
	if err != nil {
		return nil, nil, err
	}
	u := store.Usage()
	fmt.Fprintf(w, "raw files on disk: %d entries, %d bytes\n", u.Entries, u.Bytes)
	return store, func() { _ = store.Close() }, nil
}
