package middleware_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

func TestMapKey(t *testing.T) {
	t.Parallel()
	errDown := errors.New("down")
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
		switch k {
		case "42":
			return "forty-two", nil
		case "500":
			return "", errDown
		}
		return "", pipeline.ErrNotFound
	})
	f := middleware.MapKey[string](strconv.Itoa)(src)
	tests := []struct {
		name    string
		key     int
		want    string
		wantErr error
	}{
		{name: "found", key: 42, want: "forty-two"},
		{name: "not found", key: 7, wantErr: pipeline.ErrNotFound},
		{name: "error", key: 500, wantErr: errDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := f.Fetch(t.Context(), tt.key)
			if tt.wantErr != nil {
				require.Same(t, tt.wantErr, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, v)
		})
	}
}

// TestMapKeyInvalidate: one Invalidate on the top of the seed's pipeline
// clears both layers, the key mapped on the way.
func TestMapKeyInvalidate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newSeed()
	key := docKey{Blob: "a", Version: "0"}

	_, err := s.top.Fetch(ctx, key)
	require.NoError(t, err)
	require.True(t, s.parsed.Has(key))
	require.True(t, s.raw.Has("a"))

	require.NoError(t, s.top.(pipeline.Invalidator[docKey]).Invalidate(ctx, key))
	require.False(t, s.parsed.Has(key))
	require.False(t, s.raw.Has("a"))

	_, err = s.top.Fetch(ctx, key)
	require.NoError(t, err)
	require.EqualValues(t, 2, s.bucket.Calls.Load(), "the source is asked again")
}

// TestMapKeyInvalidateInner: a value derived through MapKey and Parse is
// dropped when the inner value it came from is invalidated, because both
// layers describe themselves (the tree stays coherent).
func TestMapKeyInvalidateInner(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := newBucket()
	rawMem, parsedMem := testkit.NewMap[string, string](), testkit.NewMap[docKey, parsedFile]()
	raw := pipeline.Cache("raw_files", rawMem, nil)(b)
	top := pipeline.Cache("parsed_files", parsedMem, nil)(
		middleware.MapKey[parsedFile](func(k docKey) string { return k.Blob })(
			middleware.Parse[string](parseFile)(raw)))
	v0, v1 := docKey{"a", "0"}, docKey{"a", "1"}

	for _, k := range []docKey{v0, v1} {
		_, err := top.Fetch(ctx, k)
		require.NoError(t, err)
	}
	require.True(t, parsedMem.Has(v0))
	require.True(t, parsedMem.Has(v1))

	require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
	require.False(t, parsedMem.Has(v0), "derived values go with the inner one")
	require.False(t, parsedMem.Has(v1))
}

// TestMapKeyExpiry: a lifetime from the source travels through MapKey and
// Parse into the cache layer above.
func TestMapKeyExpiry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	expires := time.Now().Add(time.Hour).Round(0)
	src := pipeline.EntryFetcherFunc[string, string](func(_ context.Context, k string) (pipeline.Entry[string], error) {
		return pipeline.Entry[string]{Value: strconv.Itoa(len(k)), Expires: expires}, nil
	})
	store := newExpiring[int, int]()
	f := pipeline.Cache("lengths", store, nil)(
		middleware.MapKey[int](strconv.Itoa)(middleware.Parse[string](strconv.Atoi)(src)))

	e, err := f.(pipeline.EntryFetcher[int, int]).FetchEntry(ctx, 12345)
	require.NoError(t, err)
	require.Equal(t, pipeline.Entry[int]{Value: 5, Expires: expires}, e)
	stored, ok := store.entry(12345)
	require.True(t, ok)
	require.True(t, stored.Expires.Equal(expires), "stored with the source's lifetime")
}

func TestMapKeyDescribe(t *testing.T) {
	t.Parallel()
	src := pipeline.FetcherFunc[string, int](func(context.Context, string) (int, error) { return 0, nil })
	d := middleware.MapKey[int](func(k docKey) string { return k.Blob })(src).(pipeline.Describer).Describe()
	require.Equal(t, "map key", d.Kind)
	require.Equal(t, "middleware_test.docKey → string", d.Detail)
	require.Empty(t, d.Name)
}

func TestMapKeyPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		build func()
		want  string
	}{
		{
			name:  "nil function",
			build: func() { middleware.MapKey[string, int, string](nil) },
			want:  "middleware: MapKey: nil function",
		},
		{
			name:  "nil next",
			build: func() { middleware.MapKey[string](strconv.Itoa)(nil) },
			want:  "middleware: MapKey: nil next Fetcher",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.PanicsWithValue(t, tt.want, tt.build)
		})
	}
}

// TestMapKeyBatchFetchesCollapsedKeysOnce: outer keys that map to one inner key are
// fetched once below, and every outer key gets the result.
func TestMapKeyBatchFetchesCollapsedKeysOnce(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	var asked [][]string
	var mu sync.Mutex
	bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
		calls.Add(1)
		mu.Lock()
		asked = append(asked, append([]string(nil), keys...))
		mu.Unlock()
		m := map[string]string{}
		for _, k := range keys {
			if k != "missing" {
				m[k] = "v-" + k
			}
		}
		return m, nil
	})
	f := middleware.MapKey[string](strings.ToLower)(bulk)
	res := pipeline.FetchMany(t.Context(), f, []string{"A", "a", "MISSING", "b", "missing"})
	require.EqualValues(t, 1, calls.Load())
	require.Equal(t, [][]string{{"a", "missing", "b"}}, asked)
	require.Equal(t, "v-a", res[0].Value)
	require.Equal(t, "v-a", res[1].Value)
	require.ErrorIs(t, res[2].Err, pipeline.ErrNotFound)
	require.Equal(t, "v-b", res[3].Value)
	require.ErrorIs(t, res[4].Err, pipeline.ErrNotFound)
}

// TestMapKeyBatchRecordsDependentsPerInnerKey: a batch filled through MapKey
// records, in the inner cache, which outer keys derive from each inner key,
// so that invalidating an inner key drops exactly the outer values built on
// it.
func TestMapKeyBatchRecordsDependentsPerInnerKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bulk := pipeline.BulkFunc[string, string](func(_ context.Context, keys []string) (map[string]string, error) {
		m := map[string]string{}
		for _, k := range keys {
			m[k] = "v-" + k
		}
		return m, nil
	})
	innerMem, outerMem := testkit.NewMap[string, string](), testkit.NewMap[string, string]()
	inner := pipeline.Cache("inner", innerMem, nil)(bulk)
	outer := pipeline.Cache("outer", outerMem, nil)(middleware.MapKey[string](strings.ToLower)(inner))
	res := pipeline.FetchMany(ctx, outer, []string{"X", "Y", "x"})
	for _, r := range res {
		require.NoError(t, r.Err)
	}
	require.True(t, outerMem.Has("X") && outerMem.Has("Y") && outerMem.Has("x"))
	err := pipeline.Invalidate(ctx, inner, "x")
	require.NoError(t, err)
	require.False(t, innerMem.Has("x"))
	require.False(t, outerMem.Has("X"), "derived from inner x")
	require.False(t, outerMem.Has("x"), "derived from inner x")
	require.True(t, outerMem.Has("Y"), "not derived from inner x")
}
