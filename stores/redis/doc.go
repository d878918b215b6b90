// Package redis is a store on Redis for the cache layer of package pipeline:
// the shared tier of a multilayer cache that runs on several machines, on
// github.com/redis/go-redis/v9.
//
// [New] takes any redis.UniversalClient (a single server, a Sentinel
// failover group or a Cluster) and a namespace, and returns a [Store] of
// byte values: a pipeline.BatchStore[string, []byte] and a
// pipeline.Notifier[string]. Wrap it in stores.Encoded to keep typed
// values. The package has the name of go-redis's, so one of the two is
// imported under another name; here, as in the examples, go-redis is
// goredis:
//
//	client := goredis.NewClient(redis.ClientOptions("localhost:6379"))
//	defer client.Close()
//	raw, err := redis.New(client, "docs", nil)
//	...
//	docs := pipeline.Cache("redis", stores.Encoded(raw, stores.JSON[Doc]()), nil)
//
// The Store sends single-key commands and pipelines of them only, so it
// works on a Cluster: nothing it sends crosses hash slots.
//
// # Keys
//
// The entry of key k is kept under "<namespace>:<generation>:<EncodeKey(k)>".
// [EncodeKey] keeps ASCII letters, digits and "-._~/" and writes every other
// byte as %XX, so no key can reach outside its namespace and generation, and
// none holds a Cluster hash tag. The generation is a counter kept in Redis
// under "<namespace>:g".
//
// # Clear and the generation
//
// [Store.Clear] is one INCR of the generation: every entry written before it
// is out of reach at once, without a scan, and no other key on the server is
// touched. The old entries stay in Redis until their Redis TTL ends, which
// is why every entry gets one (Options.TTL for an unknown lifetime). Keep
// the generation key from eviction: under a maxmemory policy, use a
// volatile-* one, which evicts only keys with a TTL.
//
// Each Store caches the generation and reads it again once it is older than
// Options.GenerationRefresh (1s by default), in the same pipeline as the
// commands of the call that finds it due, so a refresh costs no round trip;
// if it moved, that call runs its commands again under the new one. So a
// Clear by another Store of the namespace (another instance of the service)
// reaches this one within that time: until then this Store still reads the
// old generation's entries, and what it writes meanwhile goes to the old
// generation, where nobody reads it after the refresh and it expires on its
// own. A Delete always reads the generation along with its write, so that an
// invalidation is never lost to a stale generation. [Store.Reload] reads
// the generation at once, for a caller that learns of a Clear elsewhere.
//
// # Values
//
// A value is stored in a small versioned envelope ([AppendEnvelope],
// [ParseEnvelope]) that carries its expiry, so [Store.GetEntry] is one GET.
// Its Redis TTL follows the expiry (a SET with a TTL in milliseconds from
// the Store's clock, so clock skew with the server does not matter, plus
// Options.Grace). An envelope that does not decode is a miss: the Store
// deletes it (unless it changed meanwhile) and reports it through Notify as
// a pipeline.Error event with the key and an error wrapping [ErrCorrupt].
//
// # The write guard
//
// A value read from the source before an invalidation is not written to
// Redis after it. [Store.Delete] leaves a tombstone in the key (a marker
// envelope with no value, with a Redis TTL of Options.Tombstone, 5s by
// default), and every write ([Store.Set], [Store.SetEntry],
// [Store.SetBatch]) is one single-key Lua script (EVALSHA, EVAL when the
// server lacks it; still one command per write and one pipeline per batch)
// that leaves a tombstone in place and drops the write. A read that finds a
// tombstone is a miss. So a fill that raced a Delete (it read the source,
// then another instance updated the source and deleted the key, then the
// fill wrote) finds the tombstone and is not kept, as long as its write
// comes within Options.Tombstone of the Delete; a refused write returns
// nil, as a cache layer's fill voided by its own invalidation does.
//
// What it does not do:
//
//   - A fill whose write comes later than Options.Tombstone after the
//     Delete is not stopped: it writes its value, which is older than the
//     invalidation, and Redis keeps it until its Redis TTL, the next
//     invalidation of the key or a Clear. The default covers fills of up to
//     5s, far beyond a usual source call. A cache layer's shared fill (a
//     caller whose ctx can be cancelled, coalescing on) writes within 17/16
//     of its FetchTimeout (pipeline.DefaultFetchTimeout, 30s) of its start
//     or not at all: a Tombstone that long covers every such fill, at the
//     cost below. What bounds such a value in Redis is its Redis TTL
//     (its expiry, or Options.TTL); the local layers above an invalidation
//     bus cap each entry at their maximum staleness, but may refill it
//     from Redis until then.
//   - A fill that began after the Delete is refused too: a write carries no
//     trace of the read before it, so the Store cannot tell it from one that
//     began before. After each invalidation, the key stays out of Redis for
//     Options.Tombstone, and the reads of every instance in that time go to
//     the source (the local layers above Redis still cache what they load).
//     That is the cost of the guard; a shorter Tombstone lowers it.
//   - Clear is not a tombstone: a fill that raced a Clear writes to the old
//     generation, where nobody reads it (see above).
//   - A Store of an earlier version of this package reads a tombstone or a
//     lease as a corrupt envelope and deletes it: run one version per
//     namespace.
//
// # The lease
//
// With Options.Lease set (it is off by default), instances that miss the
// same key at once load it from the source once for the fleet. A Get that
// finds the key empty takes a lease in it (SET NX PX, a marker envelope in
// the entry's own key, so nothing crosses hash slots; one more command than
// a plain miss) and returns the miss: its caller loads the value and writes
// it, which replaces the lease. A Get that finds another's lease waits for
// the value in Redis instead, polling (after 2ms, then twice as late each
// time, up to 50ms apart; the callers of one Store waiting for one key poll
// as one), and returns the value, or a miss once Options.LeaseWait (by
// default Lease) has passed, or the tombstone's miss, and then its caller
// loads on its own. A lease whose holder never writes ends after
// Options.Lease, and the next Get takes a new one; until then, or until
// LeaseWait, the others wait. A holder writes nothing if its load failed,
// if it died, or if a cache layer over it joined its miss to a fill whose
// own Redis read had failed (a failed read writes nothing back): under a
// stampede on a cold client, give the client a pool that does not make
// reads wait for dials. The wait ends with ctx, with ctx's error.
//
// A lease never weakens the guard: it is taken only in an empty key, never
// over a tombstone, and a Delete replaces it with one, so the holder's
// write after an invalidation is refused like any other. Any write replaces
// a lease (the holder's, or that of a waiter that gave up, which read the
// source after the lease was taken, with no invalidation since).
//
// A Get that finds a lease its own Store took (and has not written over)
// returns the miss at once: the holder's own fill may read the store again
// before it loads, and must not wait for itself. Over a coalescing cache
// layer the other callers of that process join the holder's fill.
//
// When Redis is down or the breaker is open, a Get fails as without the
// lease, and each instance loads on its own. Batches take no lease and wait
// for none: [Store.GetBatch] reports a key under a lease as not found, so
// that a batch stays one round trip and none of its keys waits for another
// instance.
//
// # Failures
//
// Redis trouble never fails a read for long: every call of the Store runs
// its Redis commands under a deadline of its own (Options.Timeout, 50ms by
// default), and an error or a timeout of a read is returned as an error,
// which a cache layer treats as a miss: it asks the layer below and, as for
// any failed store read, writes nothing back for that fetch. The client
// must honour deadlines: use [ClientOptions] or [UniversalOptions], or at
// least set ContextTimeoutEnabled, which New checks.
//
// A circuit breaker stops calling a server that keeps failing: after
// Options.FailureThreshold failed calls in a row it opens, and reads and
// writes fail at once with [ErrBreakerOpen]; after Options.OpenFor one call
// probes the server, and closes the breaker if it succeeds. Its state is
// [Store.Breaker], and each change is reported through Notify
// (pipeline.BreakerOpened, pipeline.BreakerClosed). An explicit Delete or
// Clear calls Redis even while the breaker is open, and returns its error.
//
// # Batches
//
// [Store.GetBatch] reads a batch with one pipeline of GETs: one round trip
// on a single server, one per server on a Cluster, a refresh of the
// generation included. [Store.SetBatch] writes one the same way, with one
// run of the write script per key (and one more pipeline, for the keys of
// a server that lacked the script).
//
// # The invalidation bus
//
// A [Bus] keeps the local layers of many instances of a service coherent
// over one Redis pub/sub channel. It is a layer, built with [Coherent],
// that sits between an instance's local layers and its Redis cache layer:
//
//	shared := pipeline.Cache("redis", stores.Encoded(store, codec), nil)(source)
//	bus, err := redis.NewBus(client, "profiles", redis.StringKeys[string](),
//		&redis.BusOptions[string]{Reload: []redis.Reloader{store}})
//	...
//	profiles := pipeline.Cache("local", lru, opts)(redis.Coherent[Profile](bus)(shared))
//	defer pipeline.Close(profiles) // closes the bus too
//
// An Invalidate or a Clear that passes through the layer on its way inward
// is passed on to the Redis layer first (which leaves a tombstone in the
// key, see The write guard, or moves the namespace's generation), then
// published on the channel: the key
// only, encoded by the bus's key codec ([StringKeys], [IntKeys], or any
// stores.Codec that gives each key one encoding and decodes it back),
// tagged with the id of the bus, which is random. Values are never
// published, and fills publish nothing. Publishing after the Redis layer
// matters: an instance that drops its copy and reads again must not find
// the old value in Redis.
//
// A message from another instance is applied to the local layers above
// the layer only, through the Redis cache layer's pipeline.Origin: an
// invalidation drops the values they derived from the key (through key
// mappers and trees, as a local Invalidate would), a Clear clears them, and
// neither touches Redis. A Clear also makes the Stores named in
// BusOptions.Reload read the namespace's generation at once, so that the
// instance does not read the old generation's entries until its next
// refresh. The layer's next must be an Origin (a cache layer): Coherent
// panics otherwise.
//
// # What the bus guarantees, and what it does not
//
// Redis pub/sub delivers a message at most once: a subscriber that is
// disconnected misses what was published meanwhile. So the bus clears the
// local layers above it (and reloads the Stores of BusOptions.Reload)
// whenever a gap may have opened:
//
//   - on every subscription the server confirms, the first one and each
//     one go-redis makes again after it reconnected;
//   - when its own heartbeat goes unanswered: every BusOptions.Heartbeat
//     the bus publishes one and expects to receive it back; after
//     BusOptions.MissedHeartbeats intervals without it the bus is unhealthy
//     ([Bus.Healthy] is false) and clears, and it clears again when a
//     heartbeat comes back; meanwhile, after every MissedHeartbeats missed
//     heartbeats, it subscribes again on a new connection, in case the old
//     one died without the system telling;
//   - on a message that does not decode (counted in [BusStats]);
//   - when the drop of a key another instance invalidated fails, for the
//     local layers may still hold its old value.
//
// Besides, the layer caps the expiry of every entry it passes outward at
// BusOptions.MaxStale from now, so that no local layer above it keeps a
// value longer, whatever was lost: a local layer whose store keeps no
// expiry (a plain pipeline.Store) keeps nothing from below the bus.
//
// So an instance serves a value that changed elsewhere until the message
// reaches it (a few milliseconds on a healthy server), or until it notices
// a gap (at most MissedHeartbeats heartbeats), or at worst for MaxStale (a
// publish that failed: the sender's Invalidate returns its error). Once it
// has applied the invalidation, or cleared, it does not serve the old value
// from its local layers. A fill of the Redis layer that read the source
// before an update and writes after the update's delete is refused by the
// Redis layer's write guard (see The write guard above), not by the bus.
//
// # When the bus fails
//
// Redis trouble never fails a read through the bus: a read does not touch
// the channel. Publishing runs under BusOptions.Timeout; a failed publish
// is returned by the Invalidate or Clear that made it, after the Redis
// layer was reached. The bus's goroutines (one receives, one beats) stop
// in Close, which the layer's Close calls; no goroutine outlives it.
package redis
