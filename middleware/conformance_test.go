package middleware_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// TestLayerContract checks what every layer of the package owes: values and
// lifetimes through, not found unchanged, invalidations and clears passed
// inward with the mapped key, a description, batches kept whole when next
// can batch, and a panic at build time for a nil next.
func TestLayerContract(t *testing.T) {
	t.Parallel()
	debug := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
	identity := func(s string) string { return s }
	tests := []struct {
		name    string
		layer   pipeline.Middleware[string, string]
		mapped  func(string) string // the key that reaches next, the value that comes back
		kind    string
		batches bool // passes batches down whole
	}{
		{name: "MapKey", layer: middleware.MapKey[string](strings.ToUpper), mapped: strings.ToUpper, kind: "map key", batches: true},
		{name: "Parse", layer: middleware.Parse[string](func(s string) (string, error) { return s, nil }), mapped: identity, kind: "parse", batches: true},
		{name: "Transform", layer: middleware.Transform[string](identity), mapped: identity, kind: "transform", batches: true},
		{name: "Inspect", layer: middleware.Inspect[string](func(context.Context, string, []pipeline.Event[any], error) {}), mapped: identity, kind: "inspect"},
		{name: "Log enabled", layer: middleware.Log[string, string](debug, "log", nil), mapped: identity, kind: "log"},
		{name: "Log disabled", layer: middleware.Log[string, string](slog.New(slog.DiscardHandler), "log", nil), mapped: identity, kind: "log"},
		{name: "Timeout", layer: middleware.Timeout[string, string](time.Minute), mapped: identity, kind: "timeout", batches: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			p := &probe{expires: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			f := tt.layer(p)

			v, err := f.Fetch(ctx, "a")
			require.NoError(t, err)
			require.Equal(t, tt.mapped("a"), v)

			ef, ok := f.(pipeline.EntryFetcher[string, string])
			require.True(t, ok, "EntryFetcher")
			e, err := ef.FetchEntry(ctx, "b")
			require.NoError(t, err)
			require.Equal(t, pipeline.Entry[string]{Value: tt.mapped("b"), Expires: p.expires}, e)

			_, err = f.Fetch(ctx, "missing")
			require.Same(t, errMissing, err, "not found must come up unchanged")
			_, err = ef.FetchEntry(ctx, "missing")
			require.Same(t, errMissing, err)
			require.Equal(t, []string{tt.mapped("a"), tt.mapped("b"), tt.mapped("missing"), tt.mapped("missing")}, p.fetched)

			inv, ok := f.(pipeline.Invalidator[string])
			require.True(t, ok, "Invalidator")
			require.NoError(t, inv.Invalidate(ctx, "a"))
			require.Equal(t, []string{tt.mapped("a")}, p.invalidated)

			cl, ok := f.(pipeline.Clearer)
			require.True(t, ok, "Clearer")
			require.NoError(t, cl.Clear(ctx))
			require.Equal(t, 1, p.cleared)

			d, ok := f.(pipeline.Describer)
			require.True(t, ok, "Describer")
			desc := d.Describe()
			require.Equal(t, tt.kind, desc.Kind)
			require.Len(t, desc.Next, 1)
			require.Same(t, p, desc.Next[0])

			// Over a plain Fetcher there is nothing to invalidate or clear.
			plain := tt.layer(pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return k, nil }))
			require.NoError(t, plain.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
			require.NoError(t, plain.(pipeline.Clearer).Clear(ctx))
			_, ok = plain.(pipeline.BatchFetcher[string, string])
			require.False(t, ok, "a layer over a Fetcher that cannot batch must not claim to batch")

			// Over a batch source, layers that can keep the batch whole.
			var mu sync.Mutex // a batch that reaches a layer that cannot batch fans out
			var calls [][]string
			bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
				mu.Lock()
				calls = append(calls, keys)
				mu.Unlock()
				m := make(map[string]string)
				for _, k := range keys {
					if k != tt.mapped("missing") {
						m[k] = k
					}
				}
				return m, nil
			})
			bf := tt.layer(bulk)
			_, ok = bf.(pipeline.BatchFetcher[string, string])
			require.Equal(t, tt.batches, ok)
			res := pipeline.FetchMany(ctx, bf, []string{"x", "missing", "y", "x"})
			require.Len(t, res, 4)
			for i, k := range []string{"x", "", "y", "x"} {
				if k == "" {
					require.ErrorIs(t, res[i].Err, pipeline.ErrNotFound)
					continue
				}
				require.NoError(t, res[i].Err)
				require.Equal(t, tt.mapped(k), res[i].Value)
			}
			mu.Lock()
			defer mu.Unlock()
			if tt.batches {
				require.Equal(t, [][]string{{tt.mapped("x"), tt.mapped("missing"), tt.mapped("y")}}, calls)
			}

			msg, ok := panicValue(func() { tt.layer(nil) }).(string)
			require.True(t, ok)
			require.True(t, strings.HasPrefix(msg, "middleware: "), msg)
		})
	}
}
