package debughttp

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// A Sampler keeps the recent past of the layers of some pipelines, for the
// charts of the debug page: every SamplerOptions.Every it walks the
// pipelines (see pipeline.TreeOf) and records, per layer that counts, the
// hit ratio and the 99th percentile of the time below the layer over the
// interval since the last sample. Each layer's samples are kept in a ring
// of fixed size that covers SamplerOptions.Window; so a Sampler's memory
// is bounded: at most 1024 samples of 48 bytes for each of at most 256
// layers, whatever the traffic.
//
// NewSampler starts one goroutine, which Close stops. Samples read the
// counters the layers keep already: a hit pays nothing for them and reads
// no clock. A Sampler is safe for concurrent use.
type Sampler struct {
	outer []any
	every time.Duration
	size  int // samples kept per layer

	mu     sync.Mutex
	layers map[string]*series
	last   time.Time // of the last sample

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// SamplerOptions configure NewSampler. The zero value, and nil, mean
// defaults.
type SamplerOptions struct {
	// Every is the time between two samples. Default 10s; at least 1s.
	Every time.Duration
	// Window is how far back the charts go: the Sampler keeps Window/Every
	// samples per layer, at most 1024. Default 15m.
	Window time.Duration
}

// Limits of a Sampler.
const (
	maxSamples = 1024 // per layer
	maxLayers  = 256  // layers sampled; those found after are not
)

// ErrSamplerOptions is the error of NewSampler for options out of range.
var ErrSamplerOptions = errors.New("debughttp: sampler options out of range: want Every ≥ 1s and Window/Every between 2 and 1024")

// NewSampler returns a Sampler of the pipelines whose outermost Fetchers
// are given (as for Handler), having taken its first sample, and starts
// sampling them every opts.Every until Close. It returns
// ErrSamplerOptions if opts are out of range.
func NewSampler(opts *SamplerOptions, outer ...any) (*Sampler, error) {
	every, window := 10*time.Second, 15*time.Minute
	if opts != nil {
		every, window = cmp.Or(opts.Every, every), cmp.Or(opts.Window, window)
	}
	if every < time.Second || window/every < 2 || window/every > maxSamples {
		return nil, ErrSamplerOptions
	}
	s := &Sampler{
		outer: outer, every: every, size: int(window / every),
		layers: make(map[string]*series),
		stop:   make(chan struct{}), done: make(chan struct{}),
	}
	s.record(time.Now())
	go s.run()
	return s, nil
}

// run takes a sample at every tick until Close.
func (s *Sampler) run() {
	defer close(s.done)
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.record(now)
		}
	}
}

// Close stops the sampling and waits until it has stopped. The samples
// taken stay readable through Handler. Close is idempotent and returns
// nil.
func (s *Sampler) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

// Handler returns the debug page of the Sampler's pipelines, as Handler
// does, with a chart per layer of what the Sampler recorded. The handler
// reads the samples; it starts nothing.
func (s *Sampler) Handler() http.Handler {
	return &handler{outer: s.outer, history: s}
}

// record takes one sample of every layer that counts, at now.
func (s *Sampler) record(now time.Time) {
	nodes := pipeline.TreeOf(s.outer...).Nodes()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = now
	seen := make(map[string]int)
	for _, n := range nodes {
		if n.Stats == nil {
			continue
		}
		k := layerKey(n, seen)
		ser := s.layers[k]
		if ser == nil {
			if len(s.layers) >= maxLayers {
				continue
			}
			ser = &series{ring: make([]point, s.size)}
			s.layers[k] = ser
		}
		ser.add(now, n)
	}
}

// layerKey names a layer among the layers sampled: by its name, and its
// rank among the layers of that name found so far in this walk.
func layerKey(n *pipeline.Node, seen map[string]int) string {
	i := seen[n.Name]
	seen[n.Name] = i + 1
	if i == 0 {
		return n.Name
	}
	return n.Name + "#" + strconv.Itoa(i)
}

// A point is what a layer did over the interval before its time.
type point struct {
	at    time.Time
	ratio float64       // hit ratio over the interval; NaN without lookups
	p99   time.Duration // 99th percentile of the time below; -1 without timings
	above bool          // the p99 lies above the histogram's last bound
}

// series is the ring of one layer's points, and its last counts.
type series struct {
	ring   []point
	next   int // where the next point goes
	n      int // points held
	prev   pipeline.Stats
	prevH  pipeline.Histogram
	primed bool // prev holds a sample
}

// add records the interval from the previous sample to n's counts at now.
func (s *series) add(now time.Time, n *pipeline.Node) {
	var h pipeline.Histogram
	if n.Latency != nil {
		h = *n.Latency
	}
	if s.primed {
		p := point{at: now, ratio: hitRatio(diff(*n.Stats, s.prev)), p99: -1}
		if dh := h.Sub(s.prevH); dh.Count > 0 {
			p.p99, p.above = dh.Quantile(0.99), dh.Above(0.99)
		}
		s.ring[s.next] = p
		s.next = (s.next + 1) % len(s.ring)
		s.n = min(s.n+1, len(s.ring))
	}
	s.prev, s.prevH, s.primed = *n.Stats, h, true
}

// points returns the points held, oldest first.
func (s *series) points() []point {
	out := make([]point, 0, s.n)
	for i := range s.n {
		out = append(out, s.ring[(s.next-s.n+i+len(s.ring))%len(s.ring)])
	}
	return out
}

// diff returns the counts of a that came after b.
func diff(a, b pipeline.Stats) pipeline.Stats {
	d := func(x, y uint64) uint64 {
		if y > x {
			return 0
		}
		return x - y
	}
	return pipeline.Stats{
		Hits: d(a.Hits, b.Hits), Misses: d(a.Misses, b.Misses), Fills: d(a.Fills, b.Fills),
		NotFound: d(a.NotFound, b.NotFound), NegativeHits: d(a.NegativeHits, b.NegativeHits),
		Errors: d(a.Errors, b.Errors), SharedWaits: d(a.SharedWaits, b.SharedWaits),
		StaleServed: d(a.StaleServed, b.StaleServed), Invalidated: d(a.Invalidated, b.Invalidated),
		Evicted: d(a.Evicted, b.Evicted),
	}
}

// history is what a layer's charts show: its points and the window they
// fall in.
type history struct {
	points     []point
	start, end time.Time
}

// historyOf returns the points of the layer keyed k that fall in the
// window, and the window. A ring holds points from before the window when
// the sampling was held up (a stalled process misses ticks).
func (s *Sampler) historyOf(k string) history {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := history{end: s.last, start: s.last.Add(-time.Duration(s.size) * s.every)}
	if ser := s.layers[k]; ser != nil {
		h.points = slices.DeleteFunc(ser.points(), func(p point) bool { return p.at.Before(h.start) })
	}
	return h
}
