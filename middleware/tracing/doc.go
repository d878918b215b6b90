// Package tracing traces the fetches of multilayer's pipelines with
// OpenTelemetry. It is a package of its own so that a program that does not
// trace does not import OpenTelemetry.
//
// # Usage
//
// Attach [Spans] where a fetch enters a stack, usually on top of it, with
// the name of the layer it watches:
//
//	profiles := tracing.Spans[string, Profile]("profiles", nil)(
//		pipeline.Cache("profiles", store, nil)(db))
//
// Each fetch then makes a span "fetch profiles", a child of the span in the
// caller's ctx (an HTTP server's, say), that says whether the value was a
// hit, a fill from the source, stale, shared with another caller, not found
// or an error, and which layer served it. The spans of the source (a
// database query) are its children.
//
// The spans go to the global TracerProvider, looked up at each fetch, so a
// provider set with otel.SetTracerProvider after the pipeline is built is
// used from then on; Options.TracerProvider gives another one. Nothing is
// exported until the program sets a provider: until then, spans record
// nothing and cost little (see the benchmarks in bench_test.go).
//
// # A span per fetch, not events on the caller's span
//
// Spans makes one span per fetch at each point of a stack it is attached
// to, rather than adding events to the caller's span, because:
//
//   - a span has a duration: a trace shows how long the cache took and how
//     much of a request was spent below it, which an event cannot;
//   - the source's own spans (a query, an HTTP call) nest under the fetch
//     that missed, so a trace shows which fetch caused which query; with
//     events on the caller's span they would be siblings, with nothing to
//     tie them to one fetch when a request fetches several keys;
//   - samplers and span limits apply as to any span, and a fetch without a
//     caller's span still gets traced;
//   - the caller's span stays the caller's: a request that fetches a
//     hundred keys does not get a hundred events on its own span.
//
// The cost is a span per fetch, also for hits, which are the common case
// and otherwise take tens of nanoseconds: attach Spans once, on top, not to
// every layer, and let a sampler decide which requests are recorded. Which
// layer served the fetch, below the span, is read from the events the
// layers below emit for it (pipeline.WithTrace), only when the span
// records. To see every layer's step, attach middleware.Inspect below.
//
// # Attributes
//
// A span has the attributes multilayer.layer ([LayerKey]),
// multilayer.outcome ([OutcomeKey]) and, for found and not-found outcomes,
// multilayer.served_by ([ServedByKey]). A failed fetch records its error
// and sets the span's status to Error; not found is an answer and leaves
// the status unset. Keys are not written to spans.
package tracing
