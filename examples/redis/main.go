// Command redis runs several instances of a service in one process, each
// with a local cache layer over an invalidation bus over a Redis layer,
// all over one Redis server and one source, and shows an update made on one
// instance reaching the local layers of the others.
//
// Run it with
//
//	go run ./examples/redis [-redis 127.0.0.1:6379]
//
// The Redis address comes from -redis, else from the environment variable
// REDIS_ADDR, else 127.0.0.1:6379. The program uses a namespace and a
// channel of its own, with a random suffix, so it leaves the server's other
// data alone; its entries expire within the hour.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	goredis.SetLogger(quiet{}) // its own lines repeat the errors this program reports
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "redis example:", err)
		os.Exit(1)
	}
}

// quiet is a go-redis logger that drops everything.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// run reads the Redis address from the command line or the environment,
// and runs the demonstration.
func run(ctx context.Context, w io.Writer) error {
	addr, err := parseAddr(os.Args[1:], os.Getenv, w)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	return demo(ctx, w, addr)
}

// parseAddr returns the Redis address that the flags in args, or the
// environment (through getenv), give.
func parseAddr(args []string, getenv func(string) string, usage io.Writer) (string, error) {
	fs := flag.NewFlagSet("redis", flag.ContinueOnError)
	fs.SetOutput(usage)
	def := getenv("REDIS_ADDR")
	if def == "" {
		def = "127.0.0.1:6379"
	}
	addr := fs.String("redis", def, "Redis `address` (default from $REDIS_ADDR)")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return *addr, nil
}

// Profile is the value the instances cache.
type Profile struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// database is the source the instances share: a profile per user, and a
// count of its reads.
type database struct {
	mu    sync.Mutex
	rows  map[string]Profile
	reads int
}

// Fetch reads the profile of id, and counts the read.
func (d *database) Fetch(_ context.Context, id string) (Profile, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reads++
	p, ok := d.rows[id]
	if !ok {
		return Profile{}, fmt.Errorf("database: %s: %w", id, pipeline.ErrNotFound)
	}
	return p, nil
}

// update stores p under id.
func (d *database) update(id string, p Profile) {
	d.mu.Lock()
	d.rows[id] = p
	d.mu.Unlock()
}

// readCount returns how many reads the database served.
func (d *database) readCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reads
}

// An instance is one instance of the service.
type instance struct {
	name   string
	client *goredis.Client
	bus    *redis.Bus[string]
	stack  pipeline.Fetcher[string, Profile]
}

// newInstance builds an instance: a local layer over the bus over a Redis
// layer over db, with a client of its own.
func newInstance(name, addr, namespace string, db *database) (*instance, error) {
	client := goredis.NewClient(redis.ClientOptions(addr))
	store, err := redis.New(client, namespace, nil)
	if err != nil {
		client.Close()
		return nil, err
	}
	bus, err := redis.NewBus(client, namespace, redis.StringKeys[string](), &redis.BusOptions[string]{
		MaxStale: time.Minute,             // the longest a local copy may be served, whatever happens
		Reload:   []redis.Reloader{store}, // a Clear elsewhere is seen at once
	})
	if err != nil {
		client.Close()
		return nil, err
	}
	local, err := stores.NewTTL[string, Profile](1000, 10*time.Minute, nil)
	if err != nil {
		_ = bus.Close()
		client.Close()
		return nil, err
	}
	stack := pipeline.Chain(
		pipeline.Cache("local", local, nil),
		redis.Coherent[Profile](bus),
		pipeline.Cache("redis", stores.Encoded(store, stores.JSON[Profile]()), &pipeline.CacheOptions[string]{TTL: time.Hour}),
	)(db)
	return &instance{name: name, client: client, bus: bus, stack: stack}, nil
}

// close closes the instance's layers (the bus with them), then its client.
func (in *instance) close() {
	_ = pipeline.Close(in.stack)
	in.client.Close()
}

// demo runs the demonstration over the Redis server at addr.
func demo(ctx context.Context, w io.Writer, addr string) error {
	if err := ping(ctx, addr); err != nil {
		return fmt.Errorf("Redis at %s does not answer (%w): start one (redis-server), or give its address with -redis host:port or REDIS_ADDR", addr, err)
	}
	namespace, err := randomNamespace()
	if err != nil {
		return err
	}
	db := &database{rows: map[string]Profile{"alice": {Name: "Alice", Version: 1}}}
	var ins []*instance
	defer func() {
		for _, in := range ins {
			in.close()
		}
	}()
	for _, name := range []string{"A", "B", "C"} {
		in, err := newInstance(name, addr, namespace, db)
		if err != nil {
			return err
		}
		ins = append(ins, in)
	}
	if err := waitHealthy(ctx, ins); err != nil {
		return err
	}

	fmt.Fprintln(w, "every instance reads alice; the first loads her from the database, into Redis:")
	if err := readAll(ctx, w, ins, db); err != nil {
		return err
	}

	fmt.Fprintln(w, "alice changes; instance A invalidates her, which tombstones her in Redis and tells the others:")
	db.update("alice", Profile{Name: "Alice Liddell", Version: 2})
	if err := pipeline.Invalidate(ctx, ins[0].stack, "alice"); err != nil {
		return err
	}
	if err := waitApplied(ctx, ins[1:]); err != nil {
		return err
	}
	for _, in := range ins[1:] {
		st := in.bus.Stats()
		fmt.Fprintf(w, "  %s applied %d invalidation from another instance\n", in.name, st.Applied)
	}

	// Redis keeps the key empty for redis.Options.Tombstone after the
	// delete, so that no fill that read the database before the update can
	// put her old version back: each instance loads her once.
	fmt.Fprintln(w, "every instance reads alice again; Redis keeps her key empty for a few seconds, so each loads her once:")
	return readAll(ctx, w, ins, db)
}

// readAll reads alice on every instance, and prints what each got.
func readAll(ctx context.Context, w io.Writer, ins []*instance, db *database) error {
	for _, in := range ins {
		p, err := in.stack.Fetch(ctx, "alice")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s: %s (version %d); database reads so far: %d\n", in.name, p.Name, p.Version, db.readCount())
	}
	return nil
}

// ping checks that the server at addr answers.
func ping(ctx context.Context, addr string) error {
	client := goredis.NewClient(redis.ClientOptions(addr))
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return client.Ping(ctx).Err()
}

// waitHealthy waits until every instance's bus hears its own heartbeat:
// its subscription works.
func waitHealthy(ctx context.Context, ins []*instance) error {
	return waitUntil(ctx, "the buses' subscriptions", func() bool {
		for _, in := range ins {
			if !in.bus.Healthy() {
				return false
			}
		}
		return true
	})
}

// waitApplied waits until every instance applied an invalidation.
func waitApplied(ctx context.Context, ins []*instance) error {
	return waitUntil(ctx, "the invalidation to reach every instance", func() bool {
		for _, in := range ins {
			if in.bus.Stats().Applied == 0 {
				return false
			}
		}
		return true
	})
}

// waitUntil polls cond every millisecond for up to 10 seconds.
func waitUntil(ctx context.Context, what string, cond func() bool) error {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// randomNamespace returns a namespace (and channel) of this run's own.
func randomNamespace() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "multilayer-example-" + hex.EncodeToString(b), nil
}
