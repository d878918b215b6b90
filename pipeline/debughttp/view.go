package debughttp

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"time"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// view is what the page shows.
type view struct {
	Refresh    int // seconds; 0: none
	Now        string
	Text       string
	Cards      []card
	Counts     []row
	HasHistory bool
	Every      string // between samples
	Window     string // of the charts
}

// row is a layer that has counts, in the page's table.
type row struct {
	Node  *pipeline.Node
	Ratio string
}

// card is one layer's state, at a glance.
type card struct {
	Name, Kind, Detail string
	Counted            bool // it has Stats
	Ratio, P50, P99    string
	Timed              uint64 // fetches below that were timed
	Entries            string // "812 of 1024", or "" if the store does not say
	FillPct            int    // for the fill bar; -1 without capacity
	Evicted            string // "" if the store does not report evictions
	Hits, Misses       uint64
	Errors             uint64
	Others             []count // counts other than hits, misses and errors, when not zero
	LastError          *pipeline.LastError
	ErrorAt, ErrorAgo  string
	Recent             bool // the last error is less than 15 minutes old
	Settings           []pipeline.Setting
	RatioChart         template.HTML
	P99Chart           template.HTML
	RatioNow, P99Now   string // of the last sample, or ""
}

type count struct {
	Name string
	N    uint64
}

// newView makes the page of tree at now, with the charts of s if not nil.
func newView(t pipeline.Tree, s *Sampler, refresh int, now time.Time) view {
	v := view{Text: t.String(), Refresh: refresh, Now: stamp(now), HasHistory: s != nil}
	if s != nil {
		v.Every, v.Window = s.every.String(), shortSpan(time.Duration(s.size)*s.every)
	}
	seen := make(map[string]int)
	for _, n := range t.Nodes() {
		if n.Stats == nil && n.Settings == nil {
			continue
		}
		c := newCard(n, now)
		if n.Stats != nil {
			r := row{Node: n, Ratio: c.Ratio}
			v.Counts = append(v.Counts, r)
			if s != nil {
				h := s.historyOf(layerKey(n, seen))
				c.RatioChart, c.P99Chart = ratioChart(h, s.every), p99Chart(h, s.every)
				c.RatioNow, c.P99Now = latest(h)
			}
		}
		v.Cards = append(v.Cards, c)
	}
	return v
}

// newCard makes the card of n at now.
func newCard(n *pipeline.Node, now time.Time) card {
	c := card{Name: n.Name, Kind: n.Kind, Detail: n.Detail, Counted: n.Stats != nil,
		Ratio: "–", P50: "–", P99: "–", FillPct: -1, Settings: n.Settings}
	if s := n.Stats; s != nil {
		if r := hitRatio(*s); !math.IsNaN(r) {
			c.Ratio = percent(r)
		}
		c.Hits, c.Misses, c.Errors = s.Hits, s.Misses, s.Errors
		c.Others = others(*s)
		if n.ReportsEvictions {
			c.Evicted = strconv.FormatUint(s.Evicted, 10)
		}
	}
	if h := n.Latency; h != nil && h.Count > 0 {
		c.Timed = h.Count
		c.P50, c.P99 = quantile(*h, 0.5), quantile(*h, 0.99)
	}
	if u := n.Usage; u != nil {
		c.Entries = strconv.Itoa(u.Entries)
		if u.Capacity > 0 {
			c.Entries += " of " + strconv.Itoa(u.Capacity)
			c.FillPct = min(100, 100*u.Entries/u.Capacity)
		}
	}
	if e := n.LastError; e != nil {
		c.LastError = e
		c.ErrorAt = stamp(e.At)
		c.ErrorAgo = ago(now.Sub(e.At))
		c.Recent = now.Sub(e.At) < 15*time.Minute
	}
	return c
}

// hitRatio returns the hit ratio of s (see pipeline.Stats.HitRatio), or NaN
// if s counts no lookup.
func hitRatio(s pipeline.Stats) float64 {
	if s.Hits+s.NegativeHits+s.Misses == 0 {
		return math.NaN()
	}
	return s.HitRatio()
}

// percent writes a ratio r as "87.5%".
func percent(r float64) string { return fmt.Sprintf("%.1f%%", 100*r) }

// quantile writes the q-quantile of h (see bounded).
func quantile(h pipeline.Histogram, q float64) string {
	return bounded(h.Quantile(q), h.Above(q))
}

// bounded writes a quantile d, as "> 10s" when it lies above the
// histogram's last bound.
func bounded(d time.Duration, above bool) string {
	if above {
		return "> " + duration(d)
	}
	return duration(d)
}

// others returns the counts of s other than hits, misses and errors that
// are not zero, in the order of the table.
func others(s pipeline.Stats) []count {
	var out []count
	for _, c := range [...]count{
		{"fills", s.Fills}, {"not found", s.NotFound}, {"negative hits", s.NegativeHits},
		{"shared waits", s.SharedWaits}, {"stale served", s.StaleServed}, {"invalidated", s.Invalidated},
	} {
		if c.N != 0 {
			out = append(out, c)
		}
	}
	return out
}

// stamp writes t in UTC, to the second, as the page shows times.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// ago writes d as "12s ago", "3m ago" or "2h ago".
func ago(d time.Duration) string {
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", d/time.Second)
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", d/time.Minute)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", d/time.Hour)
	}
	return fmt.Sprintf("%dd ago", d/(24*time.Hour))
}

// latest writes the hit ratio and p99 of the last sample of h, each "" if
// it has none.
func latest(h history) (ratio, p99 string) {
	if len(h.points) == 0 {
		return "", ""
	}
	p := h.points[len(h.points)-1]
	if !math.IsNaN(p.ratio) {
		ratio = percent(p.ratio)
	}
	if p.p99 >= 0 {
		p99 = bounded(p.p99, p.above)
	}
	return ratio, p99
}
