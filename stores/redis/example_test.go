package redis_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

// A Redis layer between a service's local layer and its source. It needs a
// server, so its output is not checked.
func ExampleNew() {
	client := goredis.NewClient(redis.ClientOptions(os.Getenv("REDIS_ADDR")))
	defer client.Close()
	shared, err := redis.New(client, "docs", nil) // bytes in Redis, under "docs:"
	if err != nil {
		panic(err)
	}
	local, err := stores.NewLRU[string, Doc](10_000)
	if err != nil {
		panic(err)
	}
	source := pipeline.FetcherFunc[string, Doc](func(_ context.Context, id string) (Doc, error) {
		return Doc{Title: strings.ToUpper(id)}, nil
	})
	docs := pipeline.Chain(
		pipeline.Cache("local", local, &pipeline.CacheOptions[string]{TTL: time.Minute}),
		pipeline.Cache("redis", stores.Encoded(shared, stores.JSON[Doc]()), &pipeline.CacheOptions[string]{TTL: time.Hour}),
	)(source)

	doc, err := docs.Fetch(context.Background(), "readme")
	fmt.Println(doc.Title, err)
}

// Doc is the value of the examples.
type Doc struct{ Title string }

// With no server to talk to, the store's reads fail at once (connection
// refused) and, after three failures in a row, its breaker opens: it stops
// calling Redis. A read through a cache layer over it still succeeds, from
// the source.
func ExampleStore_Breaker() {
	client := goredis.NewClient(redis.ClientOptions("127.0.0.1:1")) // nothing listens there
	defer client.Close()
	raw, err := redis.New(client, "docs", &redis.Options{FailureThreshold: 3, OpenFor: time.Hour})
	if err != nil {
		panic(err)
	}
	raw.Notify(func(e pipeline.StoreEvent[string]) { fmt.Println("store event:", e.Kind) })
	ctx := context.Background()

	for i := range 4 {
		_, _, err := raw.Get(ctx, "a")
		fmt.Printf("get %d: failed %t, refused by the breaker %t; breaker %s\n",
			i, err != nil, errors.Is(err, redis.ErrBreakerOpen), raw.Breaker())
	}

	source := pipeline.FetcherFunc[string, []byte](func(_ context.Context, id string) ([]byte, error) {
		return []byte("doc " + id), nil
	})
	docs := pipeline.Cache("redis", raw, nil)(source)
	v, err := docs.Fetch(ctx, "a")
	fmt.Printf("fetch through a cache layer: %s, %v\n", v, err)
	// Output:
	// get 0: failed true, refused by the breaker false; breaker closed
	// get 1: failed true, refused by the breaker false; breaker closed
	// store event: breaker opened
	// get 2: failed true, refused by the breaker false; breaker open
	// get 3: failed true, refused by the breaker true; breaker open
	// fetch through a cache layer: doc a, <nil>
}

// Keys that are plain stay readable in Redis; any other byte is escaped, so
// that no key can reach another namespace or generation.
func ExampleEncodeKey() {
	for _, k := range []string{"user/42", "user:42", "{tag}", "é"} {
		fmt.Printf("%-8q -> docs:0:%s\n", k, redis.EncodeKey(k))
	}
	// Output:
	// "user/42" -> docs:0:user/42
	// "user:42" -> docs:0:user%3A42
	// "{tag}"  -> docs:0:%7Btag%7D
	// "é"      -> docs:0:%C3%A9
}

// The envelope carries the format version and the expiry with the value, so
// a read is one GET.
func ExampleAppendEnvelope() {
	exp := time.Unix(1700000000, 0)
	b := redis.AppendEnvelope(nil, pipeline.Entry[[]byte]{Value: []byte("hi"), Expires: exp})
	fmt.Printf("% x\n", b)
	e, err := redis.ParseEnvelope(b)
	fmt.Println(string(e.Value), e.Expires.Equal(exp), err)
	_, err = redis.ParseEnvelope([]byte("hi"))
	fmt.Println(err)
	// Output:
	// b7 01 01 17 97 9c fe 36 2a 00 00 68 69
	// hi true <nil>
	// stores/redis: corrupt envelope: 2 bytes, shorter than a header
}

// Two instances of a service, each with a local layer over the bus over a
// Redis layer: an update on one reaches the local layer of the other. It
// needs a server, so its output is not checked.
func ExampleCoherent() {
	source := pipeline.FetcherFunc[string, Doc](func(_ context.Context, id string) (Doc, error) {
		return Doc{Title: strings.ToUpper(id)}, nil
	})
	newInstance := func(client goredis.UniversalClient) (pipeline.Fetcher[string, Doc], *redis.Bus[string]) {
		shared, err := redis.New(client, "docs", nil)
		if err != nil {
			panic(err)
		}
		bus, err := redis.NewBus(client, "docs", redis.StringKeys[string](), &redis.BusOptions[string]{
			MaxStale: time.Minute,              // no local entry lives longer
			Reload:   []redis.Reloader{shared}, // a Clear elsewhere is seen at once
		})
		if err != nil {
			panic(err)
		}
		local, err := stores.NewTTL[string, Doc](10_000, time.Hour, nil)
		if err != nil {
			panic(err)
		}
		return pipeline.Chain(
			pipeline.Cache("local", local, nil),
			redis.Coherent[Doc](bus),
			pipeline.Cache("redis", stores.Encoded(shared, stores.JSON[Doc]()), &pipeline.CacheOptions[string]{TTL: time.Hour}),
		)(source), bus
	}
	clientA := goredis.NewClient(redis.ClientOptions(os.Getenv("REDIS_ADDR")))
	defer clientA.Close()
	clientB := goredis.NewClient(redis.ClientOptions(os.Getenv("REDIS_ADDR")))
	defer clientB.Close()
	a, _ := newInstance(clientA)
	defer pipeline.Close(a) // closes the bus, before the client is closed
	b, busB := newInstance(clientB)
	defer pipeline.Close(b)

	ctx := context.Background()
	_, _ = b.Fetch(ctx, "readme")             // b keeps the document in its local layer
	_ = pipeline.Invalidate(ctx, a, "readme") // a's source changed: tombstoned in Redis, then published
	for busB.Stats().Applied == 0 {           // a few milliseconds
		time.Sleep(time.Millisecond)
	}
	doc, err := b.Fetch(ctx, "readme") // b dropped its copy: it reads Redis, then the source
	fmt.Println(doc.Title, err)
}

// A bus whose server cannot be reached is made all the same, and reads
// through its layer still succeed; it is not healthy, and an Invalidate
// returns the error of its publish once this instance's layers dropped
// the key.
func ExampleBus_Healthy() {
	client := goredis.NewClient(redis.ClientOptions("127.0.0.1:1")) // nothing listens there
	defer client.Close()
	bus, err := redis.NewBus(client, "docs", redis.StringKeys[string](), nil)
	if err != nil {
		panic(err)
	}
	source := pipeline.FetcherFunc[string, string](func(_ context.Context, id string) (string, error) {
		return "doc " + id, nil
	})
	docs := pipeline.Chain(
		pipeline.Cache("local", stores.NewMap[string, string](), nil),
		redis.Coherent[string](bus),
		pipeline.Cache("shared", stores.NewMap[string, string](), nil),
	)(source)
	defer pipeline.Close(docs)

	ctx := context.Background()
	v, err := docs.Fetch(ctx, "a")
	fmt.Println(v, err)
	fmt.Println("healthy:", bus.Healthy())
	err = pipeline.Invalidate(ctx, docs, "a")
	fmt.Println("invalidate failed:", err != nil)
	fmt.Println("publish errors:", bus.Stats().PublishErrors > 0)
	// Output:
	// doc a <nil>
	// healthy: false
	// invalidate failed: true
	// publish errors: true
}

// The key codecs of the bus turn keys into the bytes of its messages and
// back.
func ExampleIntKeys() {
	keys := redis.IntKeys[int64]()
	b, _ := keys.Encode(-42)
	k, err := keys.Decode(b)
	fmt.Printf("%s %d %v\n", b, k, err)
	_, err = redis.IntKeys[uint8]().Decode([]byte("300"))
	fmt.Println(errors.Is(err, redis.ErrBadMessage))
	// Output:
	// -42 -42 <nil>
	// true
}
