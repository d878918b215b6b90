package middleware

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// Metrics counts the events of layers, per layer: hits, misses, fills, not
// found, negative hits, errors, shared waits, stale values served,
// invalidations and evictions, and a histogram of the time spent below each
// layer. One Metrics serves any number of layers of any key types: a cache
// layer given it as pipeline.CacheOptions.Metrics counts under its own name
// (Metrics is a pipeline.Recorder), and [Observe] hands out an observer per
// layer for other layers, and an exporter, such as the Prometheus
// collector of package middleware/prom, reads them all. Each observer is
// also a pipeline.StatsSource, so that its layer shows its counts in a
// pipeline's tree (pipeline.TreeOf), and a pipeline.LatencySource and a
// pipeline.ErrorSource, so that it shows its percentiles and its last error
// (see LayerMetrics.LastError) there and on the debug page.
//
// Metrics is safe for concurrent use. It holds no goroutine and needs no
// Close.
type Metrics struct {
	bounds []time.Duration

	mu     sync.Mutex
	layers []*LayerMetrics // in the order they were made
	byName map[string]*LayerMetrics
}

// MetricsOptions configure NewMetrics. The zero value, and nil, mean
// defaults.
type MetricsOptions struct {
	// Buckets are the upper bounds of the latency histogram's buckets, in
	// increasing order; a last bucket holds the rest. Default: 100µs, 250µs,
	// 500µs, 1ms, 2.5ms, 5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1s,
	// 2.5s, 5s and 10s.
	Buckets []time.Duration
}

// defaultBuckets span an in-memory layer to a slow remote source.
var defaultBuckets = []time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// NewMetrics returns an empty Metrics. It panics if a bucket bound is not
// positive or the bounds are not in increasing order.
func NewMetrics(opts *MetricsOptions) *Metrics {
	bounds := defaultBuckets
	if opts != nil && len(opts.Buckets) > 0 {
		for i, b := range opts.Buckets {
			if b <= 0 || (i > 0 && b <= opts.Buckets[i-1]) {
				panic(fmt.Sprintf("middleware: NewMetrics: bucket bounds must be positive and increasing, got %v", opts.Buckets))
			}
		}
		bounds = slices.Clone(opts.Buckets)
	}
	return &Metrics{bounds: bounds, byName: make(map[string]*LayerMetrics)}
}

// LayerObserver returns the observer that counts the events of the layer
// called name, for the layer to call when it is built: m is a
// pipeline.Recorder, so that a cache layer given it as
// pipeline.CacheOptions.Metrics counts under its own name, written once.
// The observer is the one Observe returns. LayerObserver panics if name is
// empty.
func (m *Metrics) LayerObserver(name string) pipeline.Observer[any] {
	return Observe[any](m, name)
}

var _ pipeline.Recorder = (*Metrics)(nil)

// Observe returns an observer that counts the events of the layer called
// layer in m, to be given to a layer that takes an Observer but no
// pipeline.Recorder (a cache layer takes m itself, as
// pipeline.CacheOptions.Metrics, and names it after the layer). Its Observe
// is a few atomic additions and allocates nothing, but for an Error or
// StaleServed event, whose error it keeps (see LayerMetrics.LastError).
// It is also a pipeline.StatsSource, so the layer shows its counts in a
// pipeline's tree (see pipeline.TreeOf); combine it with other observers
// through pipeline.Observers.
//
// Observers made for the same name share their counts: call Observe once
// per layer, with the layer's name, unless several parts of one layer should
// count as one. Observe panics if m is nil or layer is empty.
func Observe[K any](m *Metrics, layer string) pipeline.Observer[K] {
	if m == nil {
		panic("middleware: Observe: nil Metrics")
	}
	if layer == "" {
		panic("middleware: Observe: empty layer name")
	}
	return metricsObserver[K]{m.layer(layer)}
}

// layer returns the LayerMetrics called name, making it if need be.
func (m *Metrics) layer(name string) *LayerMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.byName[name]; l != nil {
		return l
	}
	l := &LayerMetrics{name: name, bounds: m.bounds, buckets: make([]atomic.Uint64, len(m.bounds)+1)}
	m.layers = append(m.layers, l)
	m.byName[name] = l
	return l
}

// Layer returns the metrics of the layer called name, or nil if Observe was
// never called for it.
func (m *Metrics) Layer(name string) *LayerMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byName[name]
}

// Layers returns the metrics of every layer, in the order of the first
// Observe call for each.
func (m *Metrics) Layers() []*LayerMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.layers)
}

// metricsObserver is the Observer returned by Observe. It is one pointer,
// so that it is stored in an interface without allocating.
type metricsObserver[K any] struct{ *LayerMetrics }

// Observe counts e. It is small enough to be inlined into the method
// wrapper that the interface call reaches, and the work is in one
// function for every key type, note.
func (o metricsObserver[K]) Observe(_ context.Context, e pipeline.Event[K]) {
	o.note(e.Kind, e.Elapsed, e.Err)
}

// note counts an event of kind, adds elapsed to the latency histogram if
// the event took time below, and keeps err if the event is an Error or a
// StaleServed (not a NotFound's ErrNotFound: that is an answer).
func (l *LayerMetrics) note(kind pipeline.EventKind, elapsed time.Duration, err error) {
	if kind < kinds {
		l.counts[kind].Add(1)
	}
	if elapsed > 0 {
		l.observe(elapsed)
	}
	if err != nil && (kind == pipeline.Error || kind == pipeline.StaleServed) {
		l.noteError(err)
	}
}

// Counter returns the counter of kind, so that the layer counts events
// that carry nothing but their kind with one atomic addition, building no
// Event.
func (o metricsObserver[K]) Counter(kind uint8) *plumbing.Count {
	if pipeline.EventKind(kind) < kinds {
		return &o.counts[kind]
	}
	return nil
}

// LayerMetrics are the counts and latencies of one layer, made by
// [Observe]. Its methods are safe for concurrent use; each reads the
// counts as they are at that moment.
type LayerMetrics struct {
	name string
	// counts holds one counter per event kind, striped over cache lines
	// (see plumbing.Count), so that hits counted on different cores do not
	// contend.
	counts [kinds]plumbing.Count

	bounds  []time.Duration
	buckets []atomic.Uint64 // per bound, and one for the rest; not cumulative
	sum     atomic.Int64    // nanoseconds

	meter atomic.Pointer[pipeline.Meter] // the layer's store, if it says how full it is

	lastErr atomic.Pointer[pipeline.LastError] // see noteError
}

// ObserveMeter keeps the layer's store, so that Usage can ask it how full
// it is (see pipeline.MeterObserver).
func (o metricsObserver[K]) ObserveMeter(m pipeline.Meter) { o.meter.Store(&m) }

// Usage returns how full the layer's store is, and false if the store does
// not say (it is no pipeline.Meter, or no cache layer observed by this
// LayerMetrics was built over it).
func (l *LayerMetrics) Usage() (pipeline.Usage, bool) {
	if m := l.meter.Load(); m != nil {
		return (*m).Usage(), true
	}
	return pipeline.Usage{}, false
}

// kinds bounds the event kinds that are counted.
const kinds = pipeline.Evicted + 1

// observe adds d to the latency histogram.
func (l *LayerMetrics) observe(d time.Duration) {
	i, _ := slices.BinarySearch(l.bounds, d) // the first bound ≥ d, or the rest
	l.buckets[i].Add(1)
	l.sum.Add(int64(d))
}

// Name returns the layer's name.
func (l *LayerMetrics) Name() string { return l.name }

// Stats returns the layer's counts. Each count is read atomically, but not
// all together: under load they may be a few events apart.
func (l *LayerMetrics) Stats() pipeline.Stats {
	c := func(k pipeline.EventKind) uint64 { return l.counts[k].Load() }
	return pipeline.Stats{
		Hits:         c(pipeline.Hit),
		Misses:       c(pipeline.Miss),
		Fills:        c(pipeline.Fill),
		NotFound:     c(pipeline.NotFound),
		NegativeHits: c(pipeline.NegativeHit),
		Errors:       c(pipeline.Error),
		SharedWaits:  c(pipeline.SharedWait),
		StaleServed:  c(pipeline.StaleServed),
		Invalidated:  c(pipeline.Invalidated),
		Evicted:      c(pipeline.Evicted),
	}
}

// Latency returns the layer's latency histogram: the time spent below the
// layer, taken from the Elapsed of every event that has one (fills, not
// found, errors from below and stale values served, all after a call
// below). Hits take no time below and are not in it.
func (l *LayerMetrics) Latency() Histogram {
	h := Histogram{
		Bounds: slices.Clone(l.bounds),
		Counts: make([]uint64, len(l.bounds)),
		Sum:    time.Duration(l.sum.Load()),
	}
	for i := range l.buckets {
		h.Count += l.buckets[i].Load()
		if i < len(h.Counts) {
			h.Counts[i] = h.Count
		}
	}
	return h
}

// A Histogram is a snapshot of a distribution of durations, in the shape
// Prometheus uses: cumulative counts per upper bound. It is
// pipeline.Histogram, whose Quantile estimates percentiles.
type Histogram = pipeline.Histogram

// maxErrorText bounds the text of a layer's last error that is kept.
const maxErrorText = 512

// noteError keeps err as the layer's last error, with the time; only
// events that carry an error read the clock.
func (l *LayerMetrics) noteError(err error) {
	msg := err.Error()
	if len(msg) > maxErrorText {
		msg = strings.ToValidUTF8(msg[:maxErrorText], "") + "…"
	}
	l.lastErr.Store(&pipeline.LastError{Message: msg, At: time.Now()})
}

// LastError returns the last error of the layer (from an Error or
// StaleServed event), its text cut to 512 bytes, and when it happened; false
// if there was none (see pipeline.ErrorSource).
func (l *LayerMetrics) LastError() (pipeline.LastError, bool) {
	if e := l.lastErr.Load(); e != nil {
		return *e, true
	}
	return pipeline.LastError{}, false
}
