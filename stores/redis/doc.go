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
// own. A Delete always reads the generation along with its DEL, so that an
// invalidation is never lost to a stale generation. [Store.Reload] reads
// the generation at once, for a caller that learns of a Clear elsewhere.
//
// # Values
//
// A value is stored in a small versioned envelope ([AppendEnvelope],
// [ParseEnvelope]) that carries its expiry, so [Store.GetEntry] is one GET.
// Its Redis TTL follows the expiry (a SET with a TTL in milliseconds from
// the Store's clock, so clock skew with the server does not matter, plus
// Options.Grace). An
// envelope that does not decode is a miss: the Store deletes it (unless it
// changed meanwhile) and reports it through Notify as a pipeline.Error event
// with the key and an error wrapping [ErrCorrupt].
//
// # Failures
//
// Redis trouble never fails a read for long: every call of the Store runs
// its Redis commands under a deadline of its own (Options.Timeout, 50ms by
// default), and an error or a
// timeout of a read is returned as an error, which a cache layer treats as a
// miss: it asks the layer below and, as for any failed store read, writes
// nothing back for that fetch. The client must honour deadlines: use
// [ClientOptions] or [UniversalOptions], or at least set
// ContextTimeoutEnabled, which New checks.
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
// generation included. [Store.SetBatch] writes one the same way.
package redis
