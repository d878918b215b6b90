package prom

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// Options configure NewCollector. The zero value, and nil, mean defaults.
type Options struct {
	// Namespace prefixes every metric name, joined with "_". Default
	// "multilayer".
	Namespace string
	// ConstLabels are added to every series, as in prometheus.Opts.
	// Default none.
	ConstLabels prometheus.Labels
}

// A Collector is a prometheus.Collector over a middleware.Metrics: each
// scrape reads the counts, latencies and store fill levels of every layer
// the Metrics has at that moment, layers added after registration
// included. It is safe for concurrent use.
type Collector struct {
	metrics  *middleware.Metrics
	counters []counter
	latency  *prometheus.Desc
	entries  *prometheus.Desc // gauges, for the layers whose store says how full it is
	capacity *prometheus.Desc
}

// counter is one counter metric and how to read it from the stats.
type counter struct {
	desc  *prometheus.Desc
	value func(s *pipeline.Stats) uint64
}

// NewCollector returns a Collector over m. It registers nothing: pass it to
// the Register method of the registry of your choice. It panics if m is nil.
func NewCollector(m *middleware.Metrics, opts *Options) *Collector {
	if m == nil {
		panic("prom: NewCollector: nil Metrics")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Namespace == "" {
		o.Namespace = "multilayer"
	}
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(o.Namespace, "", name), help, []string{"layer"}, o.ConstLabels)
	}
	c := &Collector{
		metrics:  m,
		entries:  desc("entries", "Entries held by the layer's store, where the store says (a bounded stock store does)."),
		capacity: desc("capacity", "Most entries the layer's store holds, where the store says; 0 if a weight budget bounds it."),
		latency: desc("fetch_duration_seconds",
			"Time spent below the layer after a miss, whatever the outcome: fill, not found, error or stale value served."),
	}
	for _, k := range []struct {
		name, help string
		value      func(s *pipeline.Stats) uint64
	}{
		{"hits_total", "Lookups the layer answered from its store.",
			func(s *pipeline.Stats) uint64 { return s.Hits }},
		{"misses_total", "Lookups the layer did not answer itself and passed to the layer below.",
			func(s *pipeline.Stats) uint64 { return s.Misses }},
		{"fills_total", "Values fetched from the layer below and stored.",
			func(s *pipeline.Stats) uint64 { return s.Fills }},
		{"not_found_total", "Lookups that the layer below answered with not found.",
			func(s *pipeline.Stats) uint64 { return s.NotFound }},
		{"negative_hits_total", "Lookups answered with not found from the layer's memory of missing keys.",
			func(s *pipeline.Stats) uint64 { return s.NegativeHits }},
		{"errors_total", "Failures: errors from the layer below, and store errors that did not fail the lookup.",
			func(s *pipeline.Stats) uint64 { return s.Errors }},
		{"shared_waits_total", "Lookups that waited for a fetch of the same key already under way: they missed (and count in misses_total), but spared the layer below a fetch, so the hit ratio counts them as answered.",
			func(s *pipeline.Stats) uint64 { return s.SharedWaits }},
		{"stale_served_total", "Expired values served because the layer below failed.",
			func(s *pipeline.Stats) uint64 { return s.StaleServed }},
		{"invalidations_total", "Keys dropped from the layer by invalidation.",
			func(s *pipeline.Stats) uint64 { return s.Invalidated }},
		{"evictions_total", "Keys dropped by the layer's store to make room.",
			func(s *pipeline.Stats) uint64 { return s.Evicted }},
	} {
		c.counters = append(c.counters, counter{desc(k.name, k.help), k.value})
	}
	return c
}

// Describe sends the descriptions of the metrics.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, k := range c.counters {
		ch <- k.desc
	}
	ch <- c.latency
	ch <- c.entries
	ch <- c.capacity
}

// Collect sends the current value of every metric of every layer. A
// layer's name is its "layer" label, with any bytes that are not valid
// UTF-8 replaced by U+FFFD: a label value must be UTF-8, and the client
// library panics on one that is not.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, l := range c.metrics.Layers() {
		name := strings.ToValidUTF8(l.Name(), "\uFFFD")
		s := l.Stats()
		for _, k := range c.counters {
			ch <- prometheus.MustNewConstMetric(k.desc, prometheus.CounterValue, float64(k.value(&s)), name)
		}
		h := l.Latency()
		buckets := make(map[float64]uint64, len(h.Bounds))
		for i, b := range h.Bounds {
			buckets[b.Seconds()] = h.Counts[i]
		}
		ch <- prometheus.MustNewConstHistogram(c.latency, h.Count, h.Sum.Seconds(), buckets, name)
		if u, ok := l.Usage(); ok {
			ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(u.Entries), name)
			ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(u.Capacity), name)
		}
	}
}
