// Package pipeline is the core of multilayer: typed cache layers composed as
// middleware, in the net/http style.
//
// # Model
//
// A [Fetcher] returns the value for a key; a source (database, bucket, HTTP
// API) is one, usually through [FetcherFunc]. A [Layer] wraps a Fetcher into
// another one and may change the key and value types on the way: keys are
// mapped outer → inner, values inner → outer. A [Middleware] is a Layer that
// keeps both types. A stack is nested application, built once:
//
//	parsed := docs(parse(mapKey(raw(bucket))))
//
// and a fetch is a chain of direct calls. Several outer layers may share one
// inner Fetcher: that is a tree, and a fill through any branch warms the
// shared part for all of them.
//
// [Chain] composes middlewares, the first outermost; [Compose] joins two
// layers that change types.
//
// # Not found and errors
//
// A key without a value is an error wrapping [ErrNotFound], never a zero
// value with a nil error; test it with errors.Is. Every adapter normalises its
// backend's miss to it. Other errors are errors: they are never cached.
//
// # The cache layer
//
// [Cache] is the read-through layer over any [Store]: a hit returns at once
// and touches nothing below; a miss asks below and stores what comes back. It
// coalesces concurrent misses of a key into one fetch, recovers panics,
// optionally remembers not-found keys (negative caching) and serves expired
// values when below fails (stale-if-error). See [Cache] for the exact rules.
//
// # Expiry
//
// Expiry lives with the value: an [Entry] carries its Expires, an
// [EntryFetcher] reports it, an [ExpiringStore] keeps it. A cache layer
// filled from below keeps the lifetime it was given, capped by its own TTL,
// so an outer layer never keeps a value longer than the layer it came from.
//
// # Batches
//
// [FetchMany] fetches many keys, with per-key results aligned with the keys.
// A [BatchFetcher] keeps a batch whole: a cache layer serves what it holds
// and passes its distinct misses down in one call, and a bulk source joins
// in through [BulkFunc]. A cache layer over a [BatchStore] reads and writes
// the batch with one store call each (one round trip, or one lock). Below a
// Fetcher that cannot batch, [Batches] runs single fetches under a
// concurrency limit. Batches coalesce with single fetches and with each
// other.
//
// # Invalidation and background work
//
// Stateful layers implement [Invalidator] and [Clearer]; key mappers pass
// them inward, so one call on the top of a stack clears the key from every
// layer in it, and in a tree the values derived from a shared layer are
// dropped with it (see [Cache]). Layers that work in the background
// implement [Closer].
//
// # Events
//
// Layers report what they do as [Event] values to an optional [Observer]:
// hit, miss, fill, not found, error, shared wait, stale served and so on.
// With no observer a hit pays a nil check and two atomic loads; an observer
// that only counts implements [Counter] and pays one call per hit.
// [WithTrace] collects the events of every layer for one request, in order
// (pre-order: an outer layer's Miss comes before any event of the layers
// below it).
//
// # Seeing a pipeline
//
// Layers describe themselves ([Describer]); [TreeOf] draws one or more
// pipelines as a tree from their sources outward, with each layer's live
// counts ([Stats]), and [Source] names a source in it.
//
// # Concurrency
//
// Every Fetcher, Store and Observer in a pipeline is used from many
// goroutines at once and must be safe for concurrent use.
package pipeline
