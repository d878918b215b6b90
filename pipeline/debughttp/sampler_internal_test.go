package debughttp

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// counted is a layer whose hits go up by one at each Describe.
type counted struct {
	name string
	hits uint64
}

func (c *counted) Fetch(context.Context, string) (string, error) { return "", nil }

func (c *counted) Describe() pipeline.Description {
	c.hits++
	return pipeline.Description{Name: c.name, Kind: "cache", Stats: &pipeline.Stats{Hits: c.hits}}
}

// newTestSampler is a Sampler that samples only when the test says.
func newTestSampler(size int, outer ...any) *Sampler {
	return &Sampler{outer: outer, every: time.Second, size: size, layers: make(map[string]*series)}
}

func TestSamplerHistoryIsARingOfFixedSize(t *testing.T) {
	t.Parallel()
	s := newTestSampler(4, &counted{name: "l"})
	t0 := time.Unix(1000, 0)
	for i := range 10 {
		s.record(t0.Add(time.Duration(i) * time.Second))
	}
	ser := s.layers["l"]
	require.Len(t, ser.ring, 4, "the ring never grows")
	h := s.historyOf("l")
	require.Len(t, h.points, 4, "the last 4 intervals")
	for i, p := range h.points {
		require.Equal(t, t0.Add(time.Duration(6+i)*time.Second), p.at, "oldest first")
		require.InDelta(t, 1.0, p.ratio, 0)
	}
	require.Equal(t, t0.Add(9*time.Second), h.end)
	require.Equal(t, t0.Add(5*time.Second), h.start)
}

func TestSamplerHistoryKeepsToItsWindow(t *testing.T) {
	t.Parallel()
	s := newTestSampler(4, &counted{name: "l"})
	t0 := time.Unix(1000, 0)
	for _, at := range []time.Duration{0, time.Second, 2 * time.Second, time.Minute} {
		s.record(t0.Add(at)) // held up for most of a minute before the last
	}
	h := s.historyOf("l")
	require.Equal(t, t0.Add(time.Minute), h.end)
	require.Len(t, h.points, 1, "the points from before the window are not drawn at its edge")
	require.Equal(t, h.end, h.points[0].at)
}

func TestSamplerSamplesAtMostMaxLayers(t *testing.T) {
	t.Parallel()
	var outer []any
	for i := range maxLayers + 50 {
		outer = append(outer, &counted{name: fmt.Sprint("l", i)})
	}
	s := newTestSampler(2, outer...)
	s.record(time.Unix(0, 0))
	s.record(time.Unix(1, 0))
	require.Len(t, s.layers, maxLayers)
}

func TestChartSizeIsBounded(t *testing.T) {
	t.Parallel()
	end := time.Unix(100000, 0)
	h := history{end: end, start: end.Add(-maxSamples * time.Second)}
	for i := range maxSamples {
		// Every other sample has no value, so that every point with one
		// is a run of its own: the longest chart.
		p := point{at: h.start.Add(time.Duration(i+1) * time.Second), ratio: math.NaN(), p99: -1}
		if i%2 == 0 {
			p.ratio, p.p99 = 0.123456789, 123456789*time.Millisecond
		}
		h.points = append(h.points, p)
	}
	for name, svg := range map[string]string{
		"hit ratio": string(ratioChart(h, time.Second)),
		"p99":       string(p99Chart(h, time.Second)),
	} {
		require.Less(t, len(svg), 25<<10, name)
		require.Equal(t, maxSamples/2, strings.Count(svg, "<circle"), name)
	}

}

func TestChartLabelsAreShortAndRound(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		got  string
		want string
	}{
		{name: "three digits", got: duration(1234567 * time.Nanosecond), want: "1.23ms"},
		{name: "microseconds", got: duration(523456 * time.Nanosecond), want: "523µs"},
		{name: "nanoseconds", got: duration(999), want: "999ns"},
		{name: "zero", got: duration(0), want: "0"},
		{name: "round up to 1", got: duration(roundUp(0)), want: "1µs"},
		{name: "round up to 2", got: duration(roundUp(1100 * time.Microsecond)), want: "2ms"},
		{name: "round up to 5", got: duration(roundUp(2001 * time.Microsecond)), want: "5ms"},
		{name: "round up to 10", got: duration(roundUp(9 * time.Second)), want: "10s"},
		{name: "a span in minutes", got: shortSpan(15 * time.Minute), want: "15m"},
		{name: "a span in seconds", got: shortSpan(90 * time.Second), want: "90s"},
	} {
		require.Equal(t, tt.want, tt.got, tt.name)
	}
}
