package middleware_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

var errBatchBelow = errors.New("batch recorder: below failed")

// batchRecorder is a BatchFetcher that records each batch it receives and answers
// "missing" with errMissing (the same instance every time), "down" with
// errBatchBelow, and other keys with themselves, lifetime batchExpires.
type batchRecorder struct {
	mu      sync.Mutex
	batches [][]string
}

var batchExpires = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

func (b *batchRecorder) answer(k string) pipeline.Result[string] {
	switch k {
	case "missing":
		return pipeline.Result[string]{Err: errMissing}
	case "down":
		return pipeline.Result[string]{Err: errBatchBelow}
	}
	return pipeline.Result[string]{Entry: pipeline.Entry[string]{Value: k, Expires: batchExpires}}
}

func (b *batchRecorder) Fetch(_ context.Context, k string) (string, error) {
	r := b.answer(k)
	return r.Value, r.Err
}

func (b *batchRecorder) FetchEntry(_ context.Context, k string) (pipeline.Entry[string], error) {
	r := b.answer(k)
	return r.Entry, r.Err
}

func (b *batchRecorder) FetchBatch(_ context.Context, keys []string, out []pipeline.Result[string]) {
	b.mu.Lock()
	b.batches = append(b.batches, append([]string(nil), keys...))
	b.mu.Unlock()
	for i, k := range keys {
		out[i] = b.answer(k)
	}
}

func (b *batchRecorder) seen() [][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.batches
}

// TestLayersKeepBatchesWhole checks that MapKey, Parse, Transform and
// Timeout pass a batch down in one call, with results aligned with the keys,
// per-key errors (not found unchanged) and lifetimes kept.
func TestLayersKeepBatchesWhole(t *testing.T) {
	t.Parallel()
	upper := strings.ToUpper
	lower := strings.ToLower
	tests := []struct {
		name  string
		layer pipeline.Middleware[string, string]
		// inner is what reaches the source for an outer key; outer what
		// comes back for an inner value.
		inner, outer func(string) string
	}{
		{name: "MapKey", layer: middleware.MapKey[string](lower), inner: lower, outer: func(s string) string { return s }},
		{name: "Parse", layer: middleware.Parse[string](func(s string) (string, error) { return upper(s), nil }), inner: func(s string) string { return s }, outer: upper},
		{name: "Transform", layer: middleware.Transform[string](upper), inner: func(s string) string { return s }, outer: upper},
		{name: "Timeout", layer: middleware.Timeout[string, string](time.Hour), inner: func(s string) string { return s }, outer: func(s string) string { return s }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := &batchRecorder{}
			f := tt.layer(src)
			_, ok := f.(pipeline.BatchFetcher[string, string])
			require.True(t, ok, "a BatchFetcher over a BatchFetcher")
			keys := []string{"a", "missing", "b", "down", "a"}
			res := pipeline.FetchMany(t.Context(), f, keys)
			require.Len(t, res, len(keys))
			require.Equal(t, [][]string{{tt.inner("a"), "missing", tt.inner("b"), "down", tt.inner("a")}}, src.seen())
			for i, k := range keys {
				switch k {
				case "missing":
					require.Same(t, errMissing, res[i].Err, "not found unchanged")
				case "down":
					require.ErrorIs(t, res[i].Err, errBatchBelow)
				default:
					require.NoError(t, res[i].Err)
					require.Equal(t, tt.outer(tt.inner(k)), res[i].Value)
					require.True(t, batchExpires.Equal(res[i].Expires), "lifetime kept")
				}
			}
		})
	}
}
