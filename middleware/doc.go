// Package middleware holds the layers that go between the cache layers of a
// pipeline and around them: they map keys, parse values, inspect and log
// fetches, bound them in time, coalesce them and count them. Each is a
// [pipeline.Layer] or a [pipeline.Middleware], built in the style of chi's
// middleware: the configuration first, the layer returned, one layer per
// file.
//
// # Key mapping and parsing
//
// Keys are mapped outer → inner and values inner → outer. [MapKey] maps
// keys; [Parse] turns values with a function that may fail (bytes into a
// document), [Transform] with one that cannot. Together they join cache
// layers of different types, such as the seed's parsed-file cache over its
// raw-file cache:
//
//	raw := pipeline.Cache("raw_files", rawStore, nil)(bucket)
//	parsed := pipeline.Cache("parsed_files", docStore, nil)(
//		middleware.MapKey[Doc](func(k DocKey) string { return k.Blob })(
//			middleware.Parse[string](parseDoc)(raw)))
//
// A parse error is an error, never a miss: nothing is stored above it, and
// the raw value below it stays.
//
// # Diagnostics
//
// [Inspect] reports, after each fetch, the events of every layer below it
// for that fetch, in order: the seed's per-layer hit/miss list. [Log] writes
// one record per fetch to a *slog.Logger, at a level chosen by the outcome,
// with the layer that served the value. Both trace the fetch with
// [pipeline.WithTrace], which allocates: they are for diagnostics. Log
// checks its logger first and does nothing more when no record could be
// written; [Metrics] is for counting (give it to each cache layer as
// pipeline.CacheOptions.Metrics, and each counts under its own name), and
// [Observe] makes its observer for other layers.
//
// # Deadlines and shared fetches
//
// [Timeout] bounds each fetch below it. [Coalesce] makes concurrent fetches
// of one key share one call to a source that has no cache layer in front of
// it.
//
// # Rules the layers follow
//
// MapKey, Parse, Transform, Inspect, Log and Timeout follow these rules;
// Coalesce, which is a cache layer over a store that holds nothing, follows
// those of [pipeline.Cache].
//
//   - Building a layer validates its configuration: a bad setting panics at
//     build time with a message that starts with "middleware: ", and so does
//     a nil next Fetcher.
//   - The returned Fetcher is safe for concurrent use. A fetch is a direct
//     call through it, with no per-call closure and no allocation of its
//     own, except for Inspect, Log when its logger is enabled, and Timeout
//     (a context and a timer, as context.WithTimeout costs).
//   - Not found passes through unchanged: an error wrapping
//     [pipeline.ErrNotFound] from below is returned as it is, so errors.Is
//     works at every level. Other errors from below are returned unchanged
//     too; a layer's own errors say "middleware: " and what failed.
//   - Lifetimes pass through: every layer is a [pipeline.EntryFetcher], and
//     FetchEntry keeps the Expires of the entry from below, so that a cache
//     layer above never keeps a value longer than the layer it came from.
//   - Invalidations and Close pass inward: every layer is a
//     [pipeline.Invalidator], a [pipeline.Clearer] and a [pipeline.Closer],
//     and passes Invalidate (with the key mapped), Clear and Close to next
//     when next has them, so that one call on the top of a stack reaches all
//     of it. A layer shared by several closes when the last of them does.
//   - Every layer passes its ctx to next, which keeps trees coherent (see
//     [pipeline.Cache]), and is a [pipeline.Describer], with next in its
//     Description, so that the structure of a pipeline can be printed.
//   - Batches: MapKey, Parse, Transform and Timeout are
//     [pipeline.BatchFetcher]s when next is one, and pass a batch down whole;
//     Inspect and Log take a batch key by key, each fetch reported or logged
//     on its own.
package middleware
