// Package debughttp serves the structure of pipelines and their live counts
// over HTTP, for a debug path, as one mounts expvar or net/http/pprof.
//
// # Usage
//
// Give [Handler] the outermost Fetchers of the pipelines to show, and mount
// it where operators can reach it:
//
//	mux.Handle("/debug/multilayer", debughttp.Handler(parsed, yaml))
//
// Each request walks the pipelines again (see pipeline.TreeOf), so the
// counts are live. Layers show counts when their observer counts events
// (a pipeline.StatsSource, such as the observers of middleware.Metrics).
//
// # Formats
//
// The handler answers GET and HEAD in three formats, chosen by the query
// parameter format, or else by the Accept header:
//
//   - html (the default): a small page with the tree as text, drawn from
//     the sources outward as in pipeline.Tree.String, and a table of the
//     counts of every layer that has some, with its hit ratio;
//   - json (or Accept: application/json): {"tree": [...]}, the
//     pipeline.Tree as JSON, each layer with its name, kind, detail, stats
//     (hit_ratio included) and dependents;
//   - text (or Accept: text/plain): the tree as text.
//
// The page is rendered on the server and needs no script.
//
// # Security
//
// The page shows layer names and counts, never keys or values. Like pprof,
// it is meant for a debug listener or path that is not public.
package debughttp
