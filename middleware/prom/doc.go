// Package prom exports the metrics of multilayer's layers (see
// middleware.Metrics) to Prometheus. It is a package of its own so that a
// program that does not use Prometheus does not import its client.
//
// # Usage
//
// Count the layers with one middleware.Metrics, given to each layer (each
// counts under its own name), and register a [Collector] over the Metrics
// with the registry that serves /metrics:
//
//	metrics := middleware.NewMetrics(nil)
//	files := pipeline.Cache("files", store, &pipeline.CacheOptions[string]{Metrics: metrics})(bucket)
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(prom.NewCollector(metrics, nil))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Nothing is registered for you, in the default registry or anywhere else.
//
// # Metrics
//
// Every series has a "layer" label, the layer's name. With the default
// namespace, "multilayer", the counters are
//
//	multilayer_hits_total             lookups the layer answered from its store
//	multilayer_misses_total           lookups the layer passed below
//	multilayer_fills_total            values fetched from below and stored
//	multilayer_not_found_total        lookups that below answered with not found
//	multilayer_negative_hits_total    lookups answered not found from memory
//	multilayer_errors_total           failures, from below or of the store
//	multilayer_shared_waits_total     lookups that joined a fetch under way
//	multilayer_stale_served_total     expired values served because below failed
//	multilayer_invalidations_total    keys dropped by invalidation
//	multilayer_evictions_total        keys dropped by the store to make room
//
// and the histogram multilayer_fetch_duration_seconds is the time spent
// below a layer after a miss (see middleware.LayerMetrics.Latency). A layer
// appears once its observer exists, with every counter and the histogram,
// zeros included, so that rates and ratios are defined from the start.
//
// A layer whose store says how full it is (a pipeline.Meter, as the bounded
// stock stores are; see middleware.LayerMetrics.Usage) also has the gauges
//
//	multilayer_entries                entries the store holds
//	multilayer_capacity               most entries it holds; 0 if a weight budget bounds it
package prom
