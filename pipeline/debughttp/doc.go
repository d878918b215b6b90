// Package debughttp serves the structure of pipelines and their live counts
// over HTTP, on a debug path, as one mounts expvar or net/http/pprof.
//
// # Usage
//
// Give [Handler] the outermost Fetchers of the pipelines to show:
//
//	mux.Handle("/debug/multilayer", debughttp.Handler(parsed, yaml))
//
// Each request walks the pipelines again (see pipeline.TreeOf), so counts are
// live. A layer shows counts when its observer is a pipeline.StatsSource,
// such as the observers of middleware.Metrics.
//
// # Formats
//
// The handler answers GET and HEAD in the format named by the query
// parameter format, or else chosen by the Accept header:
//
//   - html (the default): a page, needing no script, with the tree as text
//     (as pipeline.Tree.String draws it) and a table of the counts of every
//     layer that has some, with its store's entries and capacity where it
//     says them, and its hit ratio;
//   - json (Accept: application/json): {"tree": [...]}, the pipeline.Tree as
//     JSON, stats with their hit_ratio;
//   - text (Accept: text/plain): the tree as text.
//
// # Security
//
// The page shows layer names and counts, never keys or values. Like pprof,
// it is meant for a debug listener or path that is not public.
package debughttp
