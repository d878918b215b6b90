package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

func TestParse(t *testing.T) {
	t.Parallel()
	errDown := errors.New("down")
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
		switch k {
		case "missing":
			return "", fmt.Errorf("src: %w", pipeline.ErrNotFound)
		case "down":
			return "", errDown
		}
		return k, nil
	})
	var parsed atomic.Int64
	errEmpty := fmt.Errorf("empty: %w", pipeline.ErrNotFound)
	f := middleware.Parse[string](func(s string) (int, error) {
		parsed.Add(1)
		if s == "empty" {
			return 0, errEmpty // a parser may say "not found" on purpose
		}
		return strconv.Atoi(s)
	})(src)

	tests := []struct {
		name         string
		key          string
		want         int
		wantNotFound bool
		wantErr      error // errors.Is target, besides not found
		wantMsg      string
		wantParsed   bool
	}{
		{name: "value", key: "42", want: 42, wantParsed: true},
		{name: "parse error", key: "x", wantErr: strconv.ErrSyntax, wantMsg: `middleware: parse: strconv.Atoi: parsing "x": invalid syntax`, wantParsed: true},
		{name: "not found below", key: "missing", wantNotFound: true, wantMsg: "src: pipeline: not found"},
		{name: "error below", key: "down", wantErr: errDown, wantMsg: "down"},
		{name: "parser says not found", key: "empty", wantNotFound: true, wantErr: errEmpty, wantMsg: "middleware: parse: empty: pipeline: not found", wantParsed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the parse count is shared.
			before := parsed.Load()
			v, err := f.Fetch(t.Context(), tt.key)
			require.Equal(t, tt.wantParsed, parsed.Load() > before, "fn called")
			if tt.wantMsg == "" {
				require.NoError(t, err)
				require.Equal(t, tt.want, v)
				return
			}
			require.EqualError(t, err, tt.wantMsg)
			require.Equal(t, tt.wantNotFound, errors.Is(err, pipeline.ErrNotFound), "not found")
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			}
		})
	}
}

// TestParseErrorNotCached: in the seed's pipeline, a file that does not
// parse is an error at the top, not a miss; the parsed layer stores nothing,
// the raw layer keeps the file, and the next fetch parses it again without
// asking the bucket.
func TestParseErrorNotCached(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newSeed()
	key := docKey{Blob: "bad", Version: "0"}
	var syntax *json.SyntaxError

	for range 2 {
		_, err := s.top.Fetch(ctx, key)
		require.Error(t, err)
		require.NotErrorIs(t, err, pipeline.ErrNotFound)
		require.ErrorAs(t, err, &syntax)
		require.True(t, strings.HasPrefix(err.Error(), "pipeline: parsed_files: middleware: parse: "), err.Error())
	}
	require.False(t, s.parsed.Has(key))
	require.True(t, s.raw.Has("bad"))
	require.EqualValues(t, 1, s.bucket.Calls.Load())

	// Not found is not found at every level.
	_, err := s.top.Fetch(ctx, docKey{Blob: "c", Version: "0"})
	require.ErrorIs(t, err, pipeline.ErrNotFound)
	require.EqualError(t, err, "bucket: c: pipeline: not found")
}

func TestParseBatch(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
		calls.Add(1)
		m := make(map[string]string)
		for _, k := range keys {
			if k != "missing" {
				m[k] = k
			}
		}
		return m, nil
	})
	f := middleware.Parse[string](strconv.Atoi)(bulk)
	res := pipeline.FetchMany(t.Context(), f, []string{"1", "x", "missing", "2"})
	require.EqualValues(t, 1, calls.Load())
	require.NoError(t, res[0].Err)
	require.Equal(t, 1, res[0].Value)
	require.ErrorIs(t, res[1].Err, strconv.ErrSyntax)
	require.NotErrorIs(t, res[1].Err, pipeline.ErrNotFound)
	require.ErrorIs(t, res[2].Err, pipeline.ErrNotFound)
	require.NoError(t, res[3].Err)
	require.Equal(t, 2, res[3].Value)
}

func TestTransform(t *testing.T) {
	t.Parallel()
	src := pipeline.FetcherFunc[string, parsedFile](func(_ context.Context, k string) (parsedFile, error) {
		if k == "missing" {
			return parsedFile{}, pipeline.ErrNotFound
		}
		return parsedFile{Key: k, Value: strings.Repeat(k, 3)}, nil
	})
	f := middleware.Transform[string](func(p parsedFile) string { return p.Key + "=" + p.Value })(src)
	v, err := f.Fetch(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, "a=aaa", v)
	_, err = f.Fetch(t.Context(), "missing")
	require.Same(t, pipeline.ErrNotFound, err)

	d := f.(pipeline.Describer).Describe()
	require.Equal(t, "transform", d.Kind)
	require.Equal(t, "middleware_test.parsedFile → string", d.Detail)
}

func TestParsePanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		build func()
		want  string
	}{
		{
			name:  "Parse nil function",
			build: func() { middleware.Parse[string, string, int](nil) },
			want:  "middleware: Parse: nil function",
		},
		{
			name:  "Parse nil next",
			build: func() { middleware.Parse[string](strconv.Atoi)(nil) },
			want:  "middleware: Parse: nil next Fetcher",
		},
		{
			name:  "Transform nil function",
			build: func() { middleware.Transform[string, string, int](nil) },
			want:  "middleware: Transform: nil function",
		},
		{
			name:  "Transform nil next",
			build: func() { middleware.Transform[string](strings.ToUpper)(nil) },
			want:  "middleware: Transform: nil next Fetcher",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.PanicsWithValue(t, tt.want, tt.build)
		})
	}
}
