package pipeline

import (
	"encoding/json"
	"iter"
	"time"
)

// What an observer can say of its layer beyond its counts (see
// StatsSource), for a pipeline's tree and the debug page: the time spent
// below the layer (LatencySource) and the last error (ErrorSource). A cache
// layer looks for them in its observer, as it does for the counts, and
// adds what it finds to its Description.

// A LatencySource is an observer that measures the time spent below its
// layer, from the Elapsed of its events, such as the observers of
// middleware.Metrics. Latency is safe for concurrent use.
type LatencySource interface {
	Latency() Histogram
}

// An ErrorSource is an observer that keeps the last error its layer
// reported (an Error or StaleServed event), such as the observers of
// middleware.Metrics. LastError returns false if there was none; it is safe
// for concurrent use.
type ErrorSource interface {
	LastError() (LastError, bool)
}

// A LastError is the most recent error of a layer, and when it happened.
type LastError struct {
	Message string    `json:"message"` // the error's text, which may name a key
	At      time.Time `json:"at"`
}

// A Setting is one setting of a layer, by name, with its value as text,
// such as {"TTL", "5m0s"}. A cache layer names its settings after the
// fields of CacheOptions.
type Setting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// A Histogram is a distribution of durations, in the shape Prometheus
// uses: cumulative counts per upper bound.
type Histogram struct {
	// Bounds are the upper bounds of the buckets, in increasing order.
	Bounds []time.Duration `json:"bounds"`
	// Counts[i] is the number of durations at most Bounds[i].
	Counts []uint64 `json:"counts"`
	// Count is the number of durations, including those above the last
	// bound.
	Count uint64 `json:"count"`
	// Sum is the total of the durations. Under load it may include a few
	// durations that Count does not, or the other way round.
	Sum time.Duration `json:"sum"`
}

// Quantile returns an estimate of the q-quantile of the durations, for q in
// [0, 1], as Prometheus's histogram_quantile makes it: interpolated
// linearly within the bucket that holds it, the first bucket starting at
// zero. It returns 0 if there are no durations, and the last bound if the
// quantile lies above it (see Above).
func (h Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 || len(h.Bounds) == 0 || len(h.Counts) != len(h.Bounds) {
		return 0
	}
	rank := min(max(q, 0), 1) * float64(h.Count)
	lower, below := time.Duration(0), uint64(0)
	for i, c := range h.Counts {
		if float64(c) >= rank && c > below {
			frac := (rank - float64(below)) / float64(c-below)
			return lower + time.Duration(frac*float64(h.Bounds[i]-lower))
		}
		lower, below = h.Bounds[i], c
	}
	return h.Bounds[len(h.Bounds)-1]
}

// Above reports whether the q-quantile lies above the last bound, so that
// Quantile can only say it is more than that.
func (h Histogram) Above(q float64) bool {
	n := len(h.Counts)
	return h.Count > 0 && n > 0 && float64(h.Counts[n-1]) < min(max(q, 0), 1)*float64(h.Count)
}

// Sub returns the durations of h that are not in old, an earlier snapshot
// of the same histogram: the distribution of the time between them. It
// returns h if old has other bounds; a count that went down is taken as 0.
func (h Histogram) Sub(old Histogram) Histogram {
	if len(old.Bounds) != len(h.Bounds) || len(old.Counts) != len(h.Counts) {
		return h
	}
	d := Histogram{Bounds: h.Bounds, Counts: make([]uint64, len(h.Counts)),
		Count: sub(h.Count, old.Count), Sum: max(h.Sum-old.Sum, 0)}
	for i := range h.Counts {
		d.Counts[i] = min(sub(h.Counts[i], old.Counts[i]), d.Count)
	}
	return d
}

// sub returns a-b, or 0 if b is larger.
func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// MarshalJSON encodes the histogram, named as in the struct tags, with its
// median and 99th percentile (see Quantile) as "p50" and "p99",
// durations in nanoseconds.
func (h Histogram) MarshalJSON() ([]byte, error) {
	type plain Histogram // without the method
	return json.Marshal(struct {
		plain
		P50 time.Duration `json:"p50"`
		P99 time.Duration `json:"p99"`
	}{plain(h), h.Quantile(0.5), h.Quantile(0.99)})
}

// find returns the first of the observers in o (see observersOf) that is a
// T.
func find[T any, K any](o Observer[K]) (T, bool) {
	for x := range observersOf(o) {
		if t, ok := x.(T); ok {
			return t, true
		}
	}
	var zero T
	return zero, false
}

// observersOf yields o, or each of several observers, looking through the
// observer a Recorder made for the layer: the observers that may say more
// of the layer than its events (its counts, latency, last error, store).
func observersOf[K any](o Observer[K]) iter.Seq[any] {
	return func(yield func(any) bool) { eachObserver(o, yield) }
}

func eachObserver[K any](o Observer[K], yield func(any) bool) bool {
	switch x := o.(type) {
	case recorded[K]:
		return eachObserver(x.o, yield)
	case multiObserver[K]:
		for _, y := range x {
			if !eachObserver(y, yield) {
				return false
			}
		}
		return true
	}
	return yield(o)
}

// report adds to d what the observer o says of its layer beyond its counts.
func report[K any](d *Description, o Observer[K]) {
	if s, ok := find[LatencySource](o); ok {
		h := s.Latency()
		d.Latency = &h
	}
	if s, ok := find[ErrorSource](o); ok {
		if e, ok := s.LastError(); ok {
			d.LastError = &e
		}
	}
}
