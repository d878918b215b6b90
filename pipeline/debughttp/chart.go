package debughttp

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// The charts are inline SVG, drawn here from numbers alone, so they need
// no escaping: a line per run of samples (broken where a sample is missing
// or has no value), a dot for a run of one, the axis labels in the
// margins. A chart has at most maxSamples points, each about 11 bytes on
// a line and at most 48 as a dot. A dot needs a break on each side (a
// sample without a value, or a gap of more than two intervals, which the
// window leaves room for only between every other sample), so at most
// about half the points are dots and a chart stays under 25 KiB.

// Geometry of a chart, in pixels.
const (
	chartW    = 300 // plot area
	chartH    = 60
	chartLeft = 44 // margin for the value labels
	chartBot  = 14 // margin for the time labels
)

// chart draws the values of h's points, as value returns them (false for
// none), between 0 and top, with the labels of the top and the bottom.
func chart(h history, every time.Duration, label string, top float64, topLabel string,
	value func(point) (float64, bool)) template.HTML {
	var b strings.Builder
	w, ht := chartLeft+chartW+4, chartH+chartBot+6
	fmt.Fprintf(&b, `<svg class="chart" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`, w, ht, w, ht, label)
	fmt.Fprintf(&b, `<rect x="%d" y="4" width="%d" height="%d" class="plot"/>`, chartLeft, chartW, chartH)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="grid"/>`, chartLeft, 4+chartH/2, chartLeft+chartW, 4+chartH/2)
	fmt.Fprintf(&b, `<text x="%d" y="12" class="yl">%s</text><text x="%d" y="%d" class="yl">0</text>`,
		chartLeft-4, topLabel, chartLeft-4, 4+chartH)
	span := h.end.Sub(h.start)
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="xl">−%s</text><text x="%d" y="%d" class="xl xr">now</text>`,
		chartLeft, ht-2, shortSpan(span), chartLeft+chartW, ht-2)
	var run []string
	flush := func() {
		switch len(run) {
		case 0:
		case 1:
			x, y, _ := strings.Cut(run[0], ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2" class="dot"/>`, x, y)
		default:
			fmt.Fprintf(&b, `<polyline points="%s" class="line"/>`, strings.Join(run, " "))
		}
		run = run[:0]
	}
	var prev time.Time
	for _, p := range h.points {
		v, ok := value(p)
		if !ok || (!prev.IsZero() && p.at.Sub(prev) > 2*every) {
			flush()
		}
		prev = p.at
		if !ok || span <= 0 || top <= 0 {
			continue
		}
		x := float64(chartLeft) + float64(chartW)*float64(p.at.Sub(h.start))/float64(span)
		y := 4 + float64(chartH)*(1-min(max(v/top, 0), 1))
		run = append(run, fmt.Sprintf("%.1f,%.1f", max(x, chartLeft), y))
	}
	flush()
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // numbers and fixed labels only
}

// ratioChart draws a layer's hit ratio, from 0 to 100%.
func ratioChart(h history, every time.Duration) template.HTML {
	return chart(h, every, "hit ratio", 1, "100%", func(p point) (float64, bool) {
		return p.ratio, !math.IsNaN(p.ratio)
	})
}

// p99Chart draws a layer's 99th percentile of the time below it, from 0 to
// a round value at least a tenth above the highest.
func p99Chart(h history, every time.Duration) template.HTML {
	var highest time.Duration
	for _, p := range h.points {
		highest = max(highest, p.p99)
	}
	top := roundUp(highest + highest/10) // headroom: a line along the top edge is hard to read
	return chart(h, every, "p99 time below", float64(top), duration(top), func(p point) (float64, bool) {
		return float64(p.p99), p.p99 >= 0
	})
}

// roundUp returns the least of 1, 2 and 5 times a power of ten
// nanoseconds that is at least d (1µs at the least).
func roundUp(d time.Duration) time.Duration {
	for unit := time.Microsecond; ; unit *= 10 {
		for _, m := range [...]time.Duration{1, 2, 5} {
			if m*unit >= d || unit > time.Hour {
				return m * unit
			}
		}
	}
}

// shortSpan writes a chart's span as "15m" or "90s".
func shortSpan(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// duration writes d to three significant digits, such as "1.23ms".
func duration(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	unit := time.Duration(1)
	for n := d; n >= 1000; n /= 10 {
		unit *= 10
	}
	return d.Round(unit).String()
}
