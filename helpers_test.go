package multilayer_test

import (
	"context"
	"fmt"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// doc is the parsed form of a bucket file, as in the seed.
type doc struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// bucketSource is the seed's bucket: a → {"key": "a", "value": "a"}, b → ...
func bucketSource() pipeline.Fetcher[string, []byte] {
	files := map[string]string{
		"a": `{"key": "a", "value": "a"}`,
		"b": `{"key": "b", "value": "b"}`,
	}
	return pipeline.FetcherFunc[string, []byte](func(_ context.Context, id string) ([]byte, error) {
		f, ok := files[id]
		if !ok {
			return nil, fmt.Errorf("bucket: %s: %w", id, pipeline.ErrNotFound)
		}
		return []byte(f), nil
	})
}
