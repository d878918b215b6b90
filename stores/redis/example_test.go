package redis_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

// A Redis layer between a service's local layers and its source. It needs a
// server, so its output is not checked.
func ExampleNew() {
	client := goredis.NewClient(redis.ClientOptions(os.Getenv("REDIS_ADDR")))
	defer client.Close()
	raw, err := redis.New(client, "docs", nil)
	if err != nil {
		panic(err)
	}
	type Doc struct{ Title string }
	source := pipeline.FetcherFunc[string, Doc](func(_ context.Context, id string) (Doc, error) {
		return Doc{Title: strings.ToUpper(id)}, nil
	})
	docs := pipeline.Cache("redis", stores.Encoded(raw, stores.JSON[Doc]()),
		&pipeline.CacheOptions[string]{TTL: time.Hour})(source)
	doc, err := docs.Fetch(context.Background(), "readme")
	fmt.Println(doc.Title, err)
}

// With no server to talk to, every read still succeeds: the store's reads
// and writes fail, the cache layer asks the source each time, and after
// three failures in a row (the read and the write-back of the first fetch,
// the read of the second) the breaker opens and the store stops calling
// Redis.
func ExampleStore_Breaker() {
	client := goredis.NewClient(redis.ClientOptions("127.0.0.1:1")) // nothing listens there
	defer client.Close()
	raw, err := redis.New(client, "docs", &redis.Options{FailureThreshold: 3, OpenFor: time.Hour})
	if err != nil {
		panic(err)
	}
	source := pipeline.FetcherFunc[string, []byte](func(_ context.Context, id string) ([]byte, error) {
		return []byte("doc " + id), nil
	})
	docs := pipeline.Cache("redis", raw, nil)(source)
	raw.Notify(func(e pipeline.StoreEvent[string]) { fmt.Println("store event:", e.Kind) })

	for i := range 4 {
		v, err := docs.Fetch(context.Background(), "a")
		fmt.Printf("read %d: %s, %v; breaker %s\n", i, v, err, raw.Breaker())
	}
	// Output:
	// read 0: doc a, <nil>; breaker closed
	// store event: breaker opened
	// read 1: doc a, <nil>; breaker open
	// read 2: doc a, <nil>; breaker open
	// read 3: doc a, <nil>; breaker open
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
