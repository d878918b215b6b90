package stores_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

func ExampleNewLRU() {
	bucket := pipeline.FetcherFunc[string, string](func(_ context.Context, key string) (string, error) {
		fmt.Println("bucket", key)
		return strings.ToUpper(key), nil
	})
	store, err := stores.NewLRU[string, string](1000)
	if err != nil {
		panic(err)
	}
	show := pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
		fmt.Println(e)
	})
	files := pipeline.Cache("files", store, &pipeline.CacheOptions[string]{Observer: show})(bucket)

	ctx := context.Background()
	v, _ := files.Fetch(ctx, "a")
	fmt.Println(v)
	v, _ = files.Fetch(ctx, "a")
	fmt.Println(v)
	fmt.Println(store.Len(), "entry")
	// Output:
	// miss files a
	// bucket a
	// fill files a
	// A
	// hit files a
	// A
	// 1 entry
}

func ExampleNewTTL() {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now } // tests move it instead of sleeping
	sessions, err := stores.NewTTL[string, string](1000, time.Minute, &stores.TTLOptions{Clock: clock})
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	_ = sessions.Set(ctx, "alice", "token-1")
	e, _, _ := sessions.GetEntry(ctx, "alice")
	fmt.Println("expires", e.Expires.Format(time.TimeOnly))

	now = now.Add(59 * time.Second)
	v, ok, _ := sessions.Get(ctx, "alice")
	fmt.Println(v, ok)

	now = now.Add(time.Second)
	v, ok, _ = sessions.Get(ctx, "alice")
	fmt.Printf("%q %v\n", v, ok)
	fmt.Println(sessions.Len(), "entries")
	// Output:
	// expires 12:01:00
	// token-1 true
	// "" false
	// 0 entries
}

func ExampleLRU_GetBatch() {
	store, err := stores.NewLRU[string, int](1000)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_ = store.SetBatch(ctx, []string{"a", "b"}, []pipeline.Entry[int]{{Value: 1}, {Value: 2}})

	keys := []string{"a", "x", "b", "a"}
	out := make([]pipeline.Result[int], len(keys))
	store.GetBatch(ctx, keys, out) // one lock for the whole batch
	for i, r := range out {
		if errors.Is(r.Err, pipeline.ErrNotFound) {
			fmt.Println(keys[i], "missing")
			continue
		}
		fmt.Println(keys[i], r.Value)
	}
	// Output:
	// a 1
	// x missing
	// b 2
	// a 1
}

func ExampleEncoded() {
	type Doc struct {
		Title string `json:"title"`
	}
	raw := stores.NewMap[string, []byte]()
	docs := stores.Encoded(raw, stores.JSON[Doc]())

	ctx := context.Background()
	_ = docs.Set(ctx, "a", Doc{Title: "hello"})
	b, _, _ := raw.Get(ctx, "a")
	fmt.Println(string(b))
	d, ok, _ := docs.Get(ctx, "a")
	fmt.Printf("%+v %v\n", d, ok)

	// Corrupt data is a miss, and is deleted.
	_ = raw.Set(ctx, "b", []byte(`{"title":`))
	d, ok, err := docs.Get(ctx, "b")
	fmt.Printf("%+v %v %v\n", d, ok, err)
	_, ok, _ = raw.Get(ctx, "b")
	fmt.Println("still stored:", ok)

	// The store keeps expiry because the Map does.
	_, expiring := docs.(pipeline.ExpiringStore[string, Doc])
	fmt.Println("expiring:", expiring)
	// Output:
	// {"title":"hello"}
	// {Title:hello} true
	// {Title:} false <nil>
	// still stored: false
	// expiring: true
}

func ExampleNewTwoQueue() {
	store, err := stores.NewTwoQueue[string, int](4)
	if err != nil {
		panic(err)
	}
	// A cache layer calls Notify when it is built; here we print.
	store.Notify(func(e pipeline.StoreEvent[string]) { fmt.Println(e.Kind, e.Key) })

	ctx := context.Background()
	for _, k := range []string{"hot1", "hot2"} {
		_ = store.Set(ctx, k, 1)
		_, _, _ = store.Get(ctx, k) // a second use: the key is frequent
	}
	for _, k := range []string{"scan1", "scan2", "scan3", "scan4"} {
		_ = store.Set(ctx, k, 1) // used once: a scan does not flush hot keys
	}
	_, ok, _ := store.Get(ctx, "hot1")
	fmt.Println("hot1 held:", ok)
	fmt.Printf("%+v\n", store.Usage())
	// Output:
	// evicted scan1
	// evicted scan2
	// hot1 held: true
	// {Entries:4 Capacity:4 Bytes:0 MaxBytes:0}
}

func ExampleNewARC() {
	store, err := stores.NewARC[float64, string](100)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	// A NaN is not equal to itself: a map could never find it again, so
	// every store refuses it rather than leak it.
	err = store.Set(ctx, math.NaN(), "lost")
	fmt.Println(errors.Is(err, pipeline.ErrInvalidKey))
	fmt.Println(store.Len(), "entries")
	// Output:
	// true
	// 0 entries
}
