// Package debughttp serves the structure of pipelines and the live state of
// their layers over HTTP, on a debug path, as one mounts expvar or
// net/http/pprof.
//
// # Usage
//
// Give [Handler] the outermost Fetchers of the pipelines to show:
//
//	mux.Handle("/debug/multilayer", debughttp.Handler(parsed, yaml))
//
// or, for a chart per layer of its recent past, start a [Sampler] with the
// service and serve its Handler; close it on shutdown:
//
//	sampler, err := debughttp.NewSampler(nil, parsed, yaml) // every 10s, the last 15 minutes
//	...
//	defer sampler.Close()
//	mux.Handle("/debug/multilayer", sampler.Handler())
//
// Each request walks the pipelines again (see pipeline.TreeOf), so the
// page is live. What a layer shows comes from its pipeline.Description: a
// cache layer says its settings and how full its store is, and its
// observer, when it keeps them (as middleware.Metrics' do), its counts
// (pipeline.StatsSource), the time spent below it (pipeline.LatencySource)
// and its last error (pipeline.ErrorSource). The handler starts nothing;
// the Sampler's one goroutine reads the same counters every few seconds,
// so a hit pays nothing for the charts.
//
// # Formats
//
// The handler answers GET and HEAD in the format named by the query
// parameter format, or else chosen by the Accept header:
//
//   - html (the default): a page, needing no script. First a card per
//     layer that counts or has settings, so that the state of every layer
//     reads at a glance: its hit ratio, the median and 99th percentile of
//     the time spent below it, its errors (the card's edge is red when the
//     last error is less than 15 minutes old), the entries its store holds
//     of its capacity with the evictions where the store reports them, its
//     other counts, its last error with its time, and its settings (TTL and
//     the other fields of pipeline.CacheOptions, the key, value and store
//     types as Go code writes them). From a Sampler, two inline SVG charts
//     per layer: the hit ratio and the p99 of each interval. Then the tree
//     as text (as pipeline.Tree.String draws it) and a table of every
//     count;
//   - json (Accept: application/json): {"tree": [...]}, the pipeline.Tree as
//     JSON, stats with their hit_ratio, latency with its p50 and p99;
//   - text (Accept: text/plain): the tree as text.
//
// The query parameter refresh=N, for N from 1 to 3600, makes the page
// reload itself every N seconds (a meta refresh). A bad format or refresh
// gets a 400 whose short text names the parameter and what it takes, and
// never repeats what was sent. Other parameters are ignored.
//
// # Security
//
// The page shows layer names, settings, counts and each layer's last error
// as the error says it, which may name a key; never values. Like pprof, it
// is meant for a debug listener or path that is not public.
package debughttp
