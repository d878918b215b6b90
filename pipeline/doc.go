// Package pipeline is the core of multilayer: typed cache layers composed as
// middleware, in the net/http style.
//
// # Model
//
// A [Fetcher] returns the value for a key; a source (database, bucket, HTTP
// API) is one, usually a [FetcherFunc]. A [Layer] wraps a Fetcher into
// another and may change the key and value types on the way: keys are mapped
// outer → inner, values inner → outer; a [Middleware] keeps both types. A
// stack is built once, by nested application, and a fetch is a chain of
// direct calls:
//
//	parsed := docs(parse(mapKey(raw(bucket))))
//
// [Chain] composes middlewares, the first outermost, and [Compose] two
// layers that change types. Outer layers that share an inner Fetcher form a
// tree: a fill through any branch warms the shared part for all.
//
// # Not found and errors
//
// A key without a value is an error wrapping [ErrNotFound], never a zero
// value with a nil error; every adapter turns its backend's miss into it.
// Other errors are never cached.
//
// # The cache layer
//
// [Cache] is the read-through layer over any [Store]. A hit touches nothing
// below; a miss asks below and stores the value. It coalesces concurrent
// misses of a key, recovers panics, and can remember not-found keys and
// serve expired values when below fails.
//
// # Expiry
//
// Expiry travels with the value: an [Entry] carries it, an [EntryFetcher]
// reports it and an [ExpiringStore] keeps it, so that an outer layer never
// keeps a value longer than the layer it came from. A store with a lifetime
// of its own ([TTLStore]) and the layer's CacheOptions.TTL are both
// maxima: the shorter wins. A store that drops expired entries after a
// grace period ([StaleKeeper]) keeps them as long as the layer's
// StaleIfError needs, without a setting of its own.
//
// # Batches
//
// [FetchMany] fetches many keys, results aligned with keys. A
// [BatchFetcher] keeps a batch whole: a cache layer serves what it holds and
// passes its misses down in one call, to a bulk source through [BulkFunc],
// and reads and writes a [BatchStore] in one call each. Below a Fetcher that
// cannot batch, [Batches] runs single fetches under a limit. Batches
// coalesce with single fetches and with each other.
//
// # Invalidation and background work
//
// [Invalidate], [Clear] and [Close], called on the outermost Fetcher, act on
// every layer of its stack: stateful layers implement [Invalidator] and
// [Clearer], layers working in the background [Closer], and every stock
// layer passes the calls inward; write a layer of your own with [Forward] so
// that it does too. In a tree, what was derived from a shared layer is
// dropped with it, found through the context of the fetches below (see
// [Cache]): any layer that passes its ctx along keeps that working. Once
// Invalidate returns, no layer it reached serves the old value, overlapping
// invalidations included. A shared layer closes with the last layer built
// over it. [Origin] drops what the layers above derived, and nothing else.
//
// # Clock resolution
//
// With the default clock, a hit judges expiry by a coarse process clock,
// refreshed every millisecond while hits read it: an entry may be served
// up to about a millisecond after it expired (see CacheOptions.Clock).
//
// # Events
//
// Layers report what they do as [Event] values to an optional [Observer],
// and [WithTrace] collects the events of every layer for one request, in
// order. With no observer, reporting a hit costs a nil check and one atomic
// load (whether any fetch is traced); the counting observers of
// middleware.Metrics count a hit without calling Observe. A [Recorder] such
// as middleware.Metrics, given to every layer as CacheOptions.Metrics,
// records each layer's events under the layer's own name.
//
// # Seeing a pipeline
//
// Layers describe themselves ([Describer]); [TreeOf] draws pipelines as a
// tree from their sources outward, with live counts ([Stats]), and [Source]
// names a source in it.
//
// # Concurrency
//
// Every Fetcher, Store and Observer in a pipeline is used from many
// goroutines at once and must be safe for concurrent use.
package pipeline
