package testkit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// Bucket is an object-store bucket as a source: a
// pipeline.Fetcher[string, string] of files by id that counts its calls.
// An id it does not hold is pipeline.ErrNotFound, wrapped as
// "bucket: <id>: ...". It is safe for concurrent use.
type Bucket struct {
	// Calls counts the Fetch calls so far, failed ones included.
	Calls atomic.Int64

	mu    sync.Mutex
	files map[string]string
	err   error
}

// NewBucket returns a Bucket that holds two JSON files:
// a → {"key": "a", "value": "a"} and b → {"key": "b", "value": "b"}.
func NewBucket() *Bucket {
	return &Bucket{files: map[string]string{
		"a": `{"key": "a", "value": "a"}`,
		"b": `{"key": "b", "value": "b"}`,
	}}
}

// Fetch returns the file id, or the error set by Fail.
func (b *Bucket) Fetch(_ context.Context, id string) (string, error) {
	b.Calls.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return "", b.err
	}
	f, ok := b.files[id]
	if !ok {
		return "", fmt.Errorf("bucket: %s: %w", id, pipeline.ErrNotFound)
	}
	return f, nil
}

// Put stores contents as the file id, as a writer to the bucket would.
func (b *Bucket) Put(id, contents string) {
	b.mu.Lock()
	b.files[id] = contents
	b.mu.Unlock()
}

// Fail makes every later Fetch fail with err, until Fail(nil).
func (b *Bucket) Fail(err error) {
	b.mu.Lock()
	b.err = err
	b.mu.Unlock()
}
