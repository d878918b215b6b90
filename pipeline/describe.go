package pipeline

import "encoding/json"

// A Describer is a Fetcher that can say what it is, so that a pipeline's
// structure can be printed and served (see [TreeOf]). Every stock layer is
// one; a Fetcher that is not is shown as a source (see [Source]).
type Describer interface {
	Describe() Description
}

// A Description is what a layer says of itself.
type Description struct {
	Name   string // such as "raw_files"; may be empty (key mappers, parsers)
	Kind   string // what the layer does, such as "cache", "map key" or "parse"
	Detail string // a short note on its configuration, such as "ttl 1m0s"
	Stats  *Stats // live counts, or nil if nothing counts them (see StatsSource)
	Usage  *Usage // how full the layer's store is, or nil if it does not say (see Meter)
	Next   []any  // the Fetchers directly below, usually one, to walk inward

	// What the layer's observer says beyond its counts, and its settings:
	// each nil, or false, if the layer does not say.
	Latency          *Histogram // time spent below the layer (see LatencySource)
	LastError        *LastError // the layer's last error (see ErrorSource)
	Settings         []Setting  // its configuration, in full, such as TTL
	ReportsEvictions bool       // its store tells it what it evicts, so Stats.Evicted counts them
}

// A StatsSource is an observer that counts events. A cache layer whose
// observer is a StatsSource includes its counts in its Description.
type StatsSource interface {
	Stats() Stats
}

// Stats are the counts of one layer's events.
type Stats struct {
	Hits         uint64 `json:"hits"`
	Misses       uint64 `json:"misses"`
	Fills        uint64 `json:"fills"`
	NotFound     uint64 `json:"not_found"`
	NegativeHits uint64 `json:"negative_hits"`
	Errors       uint64 `json:"errors"`
	SharedWaits  uint64 `json:"shared_waits"`
	StaleServed  uint64 `json:"stale_served"`
	Invalidated  uint64 `json:"invalidated"`
	Evicted      uint64 `json:"evicted"`
}

// HitRatio returns the share of lookups that spared the layer below a
// fetch, among all lookups (hits, negative hits and misses), or 0 when there
// were none: a hit, a negative hit, and a miss that waited for a fetch of
// the same key already under way (a shared wait: 100 concurrent requests
// for one missing key make one fetch, and a ratio of 0.99).
func (s Stats) HitRatio() float64 {
	answered := s.Hits + s.NegativeHits + min(s.SharedWaits, s.Misses) // every shared wait follows a miss
	total := s.Hits + s.NegativeHits + s.Misses
	if total == 0 {
		return 0
	}
	return float64(answered) / float64(total)
}

// MarshalJSON encodes the counts, named as in the struct tags, with their
// hit ratio as "hit_ratio".
func (s Stats) MarshalJSON() ([]byte, error) {
	type counts Stats // without the method
	return json.Marshal(struct {
		counts
		HitRatio float64 `json:"hit_ratio"`
	}{counts(s), s.HitRatio()})
}

// observeMeter hands m to each of the observers in o (see observersOf) that
// is a MeterObserver.
func observeMeter[K any](o Observer[K], m Meter) {
	for x := range observersOf(o) {
		if mo, ok := x.(MeterObserver); ok {
			mo.ObserveMeter(m)
		}
	}
}

// Stats returns the counts of the first observer in m that counts, so that
// a layer with several observers still reports its counts.
func (m multiObserver[K]) Stats() Stats {
	if st := statsOf[K](m); st != nil {
		return *st
	}
	return Stats{}
}

// statsOf returns the counts of o, or of the first of several observers that
// counts; nil if none does.
func statsOf[K any](o Observer[K]) *Stats {
	if s, ok := find[StatsSource](o); ok {
		st := s.Stats()
		return &st
	}
	return nil
}
