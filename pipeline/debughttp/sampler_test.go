package debughttp_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/pipeline/debughttp"
)

// liveLayer is a layer whose counts and latencies the test moves on, and
// that counts the times it was described.
type liveLayer struct {
	mu        sync.Mutex
	stats     pipeline.Stats
	latency   pipeline.Histogram
	described int
}

func newLiveLayer() *liveLayer {
	return &liveLayer{latency: pipeline.Histogram{Bounds: []time.Duration{ms, 10 * ms, 100 * ms}, Counts: make([]uint64, 3)}}
}

func (l *liveLayer) Fetch(context.Context, string) (string, error) { return "", nil }

func (l *liveLayer) Describe() pipeline.Description {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.described++
	s, h := l.stats, l.latency
	h.Counts = append([]uint64(nil), h.Counts...)
	return pipeline.Description{Name: "live", Kind: "cache", Stats: &s, Latency: &h}
}

// serve adds hits and misses, and as many fetches below in the bucket i
// of the histogram.
func (l *liveLayer) serve(hits, misses uint64, bucket int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Hits += hits
	l.stats.Misses += misses
	l.latency.Count += misses
	for i := bucket; i < len(l.latency.Counts); i++ {
		l.latency.Counts[i] += misses
	}
}

func (l *liveLayer) describedTimes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.described
}

func TestSamplerChartsEachLayersLastInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := newLiveLayer()
		l.serve(1000, 1000, 2) // before the sampler: not in the charts
		s, err := debughttp.NewSampler(nil, l)
		require.NoError(t, err)
		defer s.Close()

		l.serve(30, 10, 0)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		l.serve(9, 1, 1)
		time.Sleep(10 * time.Second)
		synctest.Wait()

		_, body := get(t, s.Handler(), http.MethodGet, "/", "")
		require.Contains(t, body, "hit ratio, per 10s: last <b>90.0%</b>")
		require.Contains(t, body, "p99 time below, per 10s: last <b>9.91ms</b>")
		require.Contains(t, body, `<b>50.7%</b><span>hit ratio</span>`, "the figures count from the start")
		require.Equal(t, 2, strings.Count(body, `<svg class="chart"`))
		require.Contains(t, body, `<polyline points="`, "two samples make a line")
		require.Contains(t, body, `class="xl">−15m</text>`)
		require.Contains(t, body, "Charts: a point per 10s over the last 15m;")
	})
}

func TestSamplerStopsOnClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := newLiveLayer()
		s, err := debughttp.NewSampler(&debughttp.SamplerOptions{Every: time.Second, Window: time.Minute}, l)
		require.NoError(t, err)
		time.Sleep(3500 * time.Millisecond)
		synctest.Wait()
		require.Equal(t, 4, l.describedTimes(), "a first sample, then one a second")

		require.NoError(t, s.Close())
		require.NoError(t, s.Close(), "Close is idempotent")
		time.Sleep(time.Minute)
		synctest.Wait()
		require.Equal(t, 4, l.describedTimes(), "no sample after Close")

		res, body := get(t, s.Handler(), http.MethodGet, "/", "")
		require.Equal(t, http.StatusOK, res.StatusCode, "what was sampled is still served")
		require.Contains(t, body, `<svg class="chart"`)
		require.Equal(t, 4+1, l.describedTimes(), "the handler walks the tree, and samples nothing")
	})
}

func TestNewSamplerRejectsOptionsOutOfRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts debughttp.SamplerOptions
	}{
		{name: "under a second", opts: debughttp.SamplerOptions{Every: 500 * time.Millisecond}},
		{name: "negative", opts: debughttp.SamplerOptions{Every: -time.Second}},
		{name: "a window of one sample", opts: debughttp.SamplerOptions{Every: time.Minute, Window: time.Minute}},
		{name: "too many samples", opts: debughttp.SamplerOptions{Every: time.Second, Window: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := debughttp.NewSampler(&tt.opts, newLiveLayer())
			require.ErrorIs(t, err, debughttp.ErrSamplerOptions)
			require.Nil(t, s)
		})
	}
}
