package disk_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/disk"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "disk-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := disk.Open(dir, 1<<20, nil)
	if err != nil {
		panic(err)
	}
	_ = store.Set(ctx, "blob-a", []byte(`{"key": "a"}`))
	_, err = disk.Open(dir, 1<<20, nil) // one Store per directory
	fmt.Println("second open:", errors.Is(err, disk.ErrLocked))
	_ = store.Close()

	// A restart: the values are still there.
	store, err = disk.Open(dir, 1<<20, nil)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	v, ok, _ := store.Get(ctx, "blob-a")
	fmt.Println(string(v), ok)
	fmt.Printf("%+v\n", store.Usage())
	// Output:
	// second open: true
	// {"key": "a"} true
	// {Entries:1 Capacity:0 Bytes:50 MaxBytes:1048576}
}

func ExampleStore_Notify() {
	dir, err := os.MkdirTemp("", "disk-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// Room for two files of a 1-byte key and a 100-byte value.
	store, err := disk.Open(dir, 2*(32+1+100), nil)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	store.Notify(func(e pipeline.StoreEvent[string]) { fmt.Println(e.Kind, e.Key) })

	value := make([]byte, 100)
	_ = store.Set(ctx, "a", value)
	_ = store.Set(ctx, "b", value)
	_, _, _ = store.Get(ctx, "a") // a is now the most recently used
	_ = store.Set(ctx, "c", value)
	fmt.Println(store.Len(), "entries")
	// Output:
	// evicted b
	// 2 entries
}
