package middleware_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// reports collects what Inspect reports.
type reports[K any] struct {
	mu   sync.Mutex
	list []report[K]
}

type report[K any] struct {
	ctx    context.Context
	key    K
	events []string
	err    error
}

func (r *reports[K]) report(ctx context.Context, key K, events []pipeline.Event[any], err error) {
	list := make([]string, len(events))
	for i, e := range events {
		list[i] = fmt.Sprintf("%v %s %v", e.Kind, e.Layer, e.Key)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, report[K]{ctx: ctx, key: key, events: list, err: err})
}

// take returns the reports so far and forgets them.
func (r *reports[K]) take() []report[K] {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.list
	r.list = nil
	return list
}

type ctxKey struct{}

// TestInspectSeed replays the seed's two-layer scenario and checks the exact
// per-layer event list of each fetch.
func TestInspectSeed(t *testing.T) {
	t.Parallel()
	s := newSeed()
	var r reports[docKey]
	f := middleware.Inspect[parsedFile](r.report)(s.top)
	ctx := context.WithValue(t.Context(), ctxKey{}, "caller")

	steps := []struct {
		name     string
		key      docKey
		want     []string
		notFound bool
		failed   bool
	}{
		{
			name: "both layers empty",
			key:  docKey{"a", "0"},
			want: []string{"miss parsed_files a@0", "miss raw_files a", "fill raw_files a", "fill parsed_files a@0"},
		},
		{
			name: "outer hit",
			key:  docKey{"a", "0"},
			want: []string{"hit parsed_files a@0"},
		},
		{
			name: "outer miss, inner hit",
			key:  docKey{"a", "1"},
			want: []string{"miss parsed_files a@1", "hit raw_files a", "fill parsed_files a@1"},
		},
		{
			name:     "not found",
			key:      docKey{"c", "0"},
			want:     []string{"miss parsed_files c@0", "miss raw_files c", "not found raw_files c", "not found parsed_files c@0"},
			notFound: true,
		},
		{
			name:   "parse error",
			key:    docKey{"bad", "0"},
			want:   []string{"miss parsed_files bad@0", "miss raw_files bad", "fill raw_files bad", "error parsed_files bad@0"},
			failed: true,
		},
	}
	for _, st := range steps {
		// Steps build on each other: not parallel.
		t.Run(st.name, func(t *testing.T) {
			_, err := f.Fetch(ctx, st.key)
			got := r.take()
			require.Len(t, got, 1)
			require.Equal(t, st.key, got[0].key)
			require.Equal(t, st.want, got[0].events)
			require.Equal(t, "caller", got[0].ctx.Value(ctxKey{}), "report gets the caller's ctx")
			require.Equal(t, err, got[0].err, "report gets the fetch's error")
			switch {
			case st.notFound:
				require.ErrorIs(t, err, pipeline.ErrNotFound)
			case st.failed:
				require.Error(t, err)
				require.NotErrorIs(t, err, pipeline.ErrNotFound)
			default:
				require.NoError(t, err)
			}
		})
	}
}

// TestInspectNested: an Inspect layer below another one does not hide the
// events below it from the outer one.
func TestInspectNested(t *testing.T) {
	t.Parallel()
	var outer, inner reports[string]
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return k, nil })
	f := middleware.Inspect[string](outer.report)(
		pipeline.Cache("l1", testkit.NewMap[string, string](), nil)(
			middleware.Inspect[string](inner.report)(
				pipeline.Cache("l2", testkit.NewMap[string, string](), nil)(src))))

	_, err := f.Fetch(t.Context(), "k")
	require.NoError(t, err)
	require.Equal(t, []string{"miss l1 k", "miss l2 k", "fill l2 k", "fill l1 k"}, outer.take()[0].events)
	require.Equal(t, []string{"miss l2 k", "fill l2 k"}, inner.take()[0].events)
}

// TestInspectConcurrent: concurrent fetches each get their own events.
func TestInspectConcurrent(t *testing.T) {
	t.Parallel()
	var r reports[string]
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) { return k, nil })
	f := middleware.Inspect[string](r.report)(
		pipeline.Cache("l", testkit.NewMap[string, string](), &pipeline.CacheOptions[string]{NoCoalesce: true})(src))

	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = f.Fetch(t.Context(), fmt.Sprint(i)) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	got := r.take()
	require.Len(t, got, n)
	for _, rep := range got {
		require.Equal(t, []string{"miss l " + rep.key, "fill l " + rep.key}, rep.events)
	}
}

func TestInspectPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		build func()
		want  string
	}{
		{
			name:  "nil report",
			build: func() { middleware.Inspect[string, string](nil) },
			want:  "middleware: Inspect: nil report function",
		},
		{
			name: "nil next",
			build: func() {
				middleware.Inspect[string](func(context.Context, string, []pipeline.Event[any], error) {})(nil)
			},
			want: "middleware: Inspect: nil next Fetcher",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.PanicsWithValue(t, tt.want, tt.build)
		})
	}
}
