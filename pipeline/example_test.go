package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// annotate is a middleware that prints before and after the layers below it.
func annotate(s string) pipeline.Middleware[string, string] {
	return func(next pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
		return pipeline.FetcherFunc[string, string](func(ctx context.Context, key string) (string, error) {
			fmt.Println(s, "pre")
			defer fmt.Println(s, "post")
			return next.Fetch(ctx, key)
		})
	}
}

func ExampleChain() {
	source := pipeline.FetcherFunc[string, string](func(_ context.Context, key string) (string, error) {
		fmt.Println("source", key)
		return strings.ToUpper(key), nil
	})
	f := pipeline.Chain(annotate("first"), annotate("second"), annotate("third"))(source)
	v, _ := f.Fetch(context.Background(), "a")
	fmt.Println(v)
	// Output:
	// first pre
	// second pre
	// third pre
	// source a
	// third post
	// second post
	// first post
	// A
}

// mapStore is the smallest Store: a map. It is not safe for concurrent use,
// which is fine for this example only.
type mapStore map[string]string

func (m mapStore) Get(_ context.Context, k string) (string, bool, error) {
	v, ok := m[k]
	return v, ok, nil
}
func (m mapStore) Set(_ context.Context, k, v string) error { m[k] = v; return nil }
func (m mapStore) Delete(_ context.Context, k string) error { delete(m, k); return nil }

func ExampleCache() {
	bucket := pipeline.FetcherFunc[string, string](func(_ context.Context, key string) (string, error) {
		if key == "a" {
			return `{"key": "a"}`, nil
		}
		return "", fmt.Errorf("bucket: %s: %w", key, pipeline.ErrNotFound)
	})
	show := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
		fmt.Println(e)
	})
	files := pipeline.Cache("files", mapStore{}, &pipeline.CacheOptions[string]{Observer: show})(bucket)

	ctx := context.Background()
	v, _ := files.Fetch(ctx, "a")
	fmt.Println(v)
	v, _ = files.Fetch(ctx, "a")
	fmt.Println(v)
	_, err := files.Fetch(ctx, "c")
	fmt.Println(err)
	// Output:
	// miss files a
	// fill files a
	// {"key": "a"}
	// hit files a
	// {"key": "a"}
	// miss files c
	// not found files c: bucket: c: pipeline: not found
	// bucket: c: pipeline: not found
}

func ExampleCompose() {
	// A layer that changes the key type (int → string) composed with one
	// that changes the value type (string → int).
	itoa := pipeline.Layer[string, string, int, string](func(next pipeline.Fetcher[string, string]) pipeline.Fetcher[int, string] {
		return pipeline.FetcherFunc[int, string](func(ctx context.Context, k int) (string, error) {
			return next.Fetch(ctx, fmt.Sprint(k))
		})
	})
	length := pipeline.Layer[int, string, int, int](func(next pipeline.Fetcher[int, string]) pipeline.Fetcher[int, int] {
		return pipeline.FetcherFunc[int, int](func(ctx context.Context, k int) (int, error) {
			s, err := next.Fetch(ctx, k)
			return len(s), err
		})
	})
	source := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
		return strings.Repeat("x", len(k)*3), nil
	})
	f := pipeline.Compose(length, itoa)(source)
	n, _ := f.Fetch(context.Background(), 1234)
	fmt.Println(n)
	// Output: 12
}

func ExampleWithTrace() {
	source := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
		return k, nil
	})
	inner := pipeline.Cache("inner", mapStore{}, nil)(source)
	outer := pipeline.Cache("outer", mapStore{}, nil)(inner)

	var events []pipeline.Event[any]
	ctx, end := pipeline.WithTrace(context.Background(), pipeline.ObserverFunc[any](
		func(_ context.Context, e pipeline.Event[any]) { events = append(events, e) }))
	_, _ = outer.Fetch(ctx, "a")
	end()
	for _, e := range events {
		fmt.Println(e)
	}
	// Output:
	// miss outer a
	// miss inner a
	// fill inner a
	// fill outer a
}

func ExampleFetchMany() {
	// A bulk source: one call answers many keys, like SQL's IN (...).
	products := pipeline.BulkFunc[int, string](func(_ context.Context, ids []int) (map[int]string, error) {
		fmt.Println("query", ids)
		found := make(map[int]string)
		for _, id := range ids {
			if id < 100 {
				found[id] = fmt.Sprintf("product %d", id)
			}
		}
		return found, nil
	})
	local := pipeline.Cache("local", stores.NewMap[int, string](), nil)(products)

	ctx := context.Background()
	pipeline.FetchMany(ctx, local, []int{1, 2}) // warm two keys
	for i, r := range pipeline.FetchMany(ctx, local, []int{1, 2, 3, 3, 404}) {
		fmt.Println(i, r.Value, r.Err)
	}
	// Output:
	// query [1 2]
	// query [3 404]
	// 0 product 1 <nil>
	// 1 product 2 <nil>
	// 2 product 3 <nil>
	// 3 product 3 <nil>
	// 4  pipeline: bulk source: 404: pipeline: not found
}

// A cache layer answers a key that cannot live in a map (one it cannot
// hash, or a NaN, which is not equal to itself) with ErrInvalidKey, for
// that key alone.
func ExampleErrInvalidKey() {
	ctx := context.Background()
	src := pipeline.FetcherFunc[any, string](func(_ context.Context, k any) (string, error) {
		return fmt.Sprint(k), nil
	})
	f := pipeline.Cache("any_keys", stores.NewMap[any, string](), nil)(src)
	res := pipeline.FetchMany(ctx, f, []any{"a", []int{1}, math.NaN()})
	fmt.Println(res[0].Value, errors.Is(res[1].Err, pipeline.ErrInvalidKey), errors.Is(res[2].Err, pipeline.ErrInvalidKey))
	// Output:
	// a true true
}

// A layer of your own, written with Forward, keeps the guarantees of the
// layers below it: Invalidate, Clear and Close called on the top of the
// stack reach them. (A bare FetcherFunc would stop them.)
func ExampleForward() {
	version := 1
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
		return fmt.Sprintf("%s v%d", k, version), nil
	})
	upper := func(next pipeline.Fetcher[string, string]) pipeline.Fetcher[string, string] {
		return pipeline.Forward(next, func(ctx context.Context, k string) (string, error) {
			v, err := next.Fetch(ctx, k) // pass ctx along: see Cache, Invalidation and trees
			return strings.ToUpper(v), err
		})
	}
	f := upper(pipeline.Cache("raw", stores.NewMap[string, string](), nil)(src))
	defer pipeline.Close(f) // stops the background work of every layer below

	ctx := context.Background()
	v, _ := f.Fetch(ctx, "a")
	fmt.Println(v)
	version = 2
	v, _ = f.Fetch(ctx, "a")
	fmt.Println(v, "(cached)")
	_ = pipeline.Invalidate(ctx, f, "a") // reaches the cache layer below upper
	v, _ = f.Fetch(ctx, "a")
	fmt.Println(v)
	// Output:
	// A V1
	// A V1 (cached)
	// A V2
}
