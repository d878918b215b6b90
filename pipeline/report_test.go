package pipeline_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

const ms = time.Millisecond

func TestHistogramQuantileInterpolatesWithinItsBucket(t *testing.T) {
	t.Parallel()
	bounds := []time.Duration{ms, 10 * ms, 100 * ms}
	tests := []struct {
		name  string
		h     pipeline.Histogram
		q     float64
		want  time.Duration
		above bool
	}{
		{name: "empty", h: pipeline.Histogram{Bounds: bounds, Counts: []uint64{0, 0, 0}}, q: 0.5, want: 0},
		{name: "all in the first bucket, from zero", h: pipeline.Histogram{Bounds: bounds, Counts: []uint64{4, 4, 4}, Count: 4}, q: 0.5, want: ms / 2},
		{name: "the median in the second bucket", h: pipeline.Histogram{Bounds: bounds, Counts: []uint64{2, 6, 6}, Count: 6}, q: 0.5, want: ms + 9*ms/4},
		{name: "p99 in the last bucket", h: pipeline.Histogram{Bounds: bounds, Counts: []uint64{50, 90, 100}, Count: 100}, q: 0.99, want: 10*ms + 90*ms*9/10},
		{name: "above the last bound", h: pipeline.Histogram{Bounds: bounds, Counts: []uint64{50, 90, 95}, Count: 100}, q: 0.99, want: 100 * ms, above: true},
		{name: "q clamped to 1", h: pipeline.Histogram{Bounds: bounds, Counts: []uint64{1, 1, 1}, Count: 1}, q: 7, want: ms},
		{name: "malformed", h: pipeline.Histogram{Bounds: bounds, Counts: []uint64{1}, Count: 1}, q: 0.5, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.InDelta(t, float64(tt.want), float64(tt.h.Quantile(tt.q)), 1)
			require.Equal(t, tt.above, tt.h.Above(tt.q))
		})
	}
}

func TestHistogramSubIsTheIntervalBetweenSnapshots(t *testing.T) {
	t.Parallel()
	bounds := []time.Duration{ms, 10 * ms}
	old := pipeline.Histogram{Bounds: bounds, Counts: []uint64{5, 8}, Count: 9, Sum: 30 * ms}
	now := pipeline.Histogram{Bounds: bounds, Counts: []uint64{5, 18}, Count: 20, Sum: 130 * ms}
	require.Equal(t, pipeline.Histogram{Bounds: bounds, Counts: []uint64{0, 10}, Count: 11, Sum: 100 * ms}, now.Sub(old))
	require.Equal(t, now, now.Sub(pipeline.Histogram{}), "other bounds: the whole histogram")
	require.Equal(t, uint64(0), old.Sub(now).Count, "counts never go below zero")
}

func TestHistogramJSONHasItsPercentiles(t *testing.T) {
	t.Parallel()
	h := pipeline.Histogram{Bounds: []time.Duration{ms}, Counts: []uint64{2}, Count: 2, Sum: ms}
	got, err := json.Marshal(h)
	require.NoError(t, err)
	require.JSONEq(t, `{"bounds": [1000000], "counts": [2], "count": 2, "sum": 1000000, "p50": 500000, "p99": 990000}`, string(got))
}

// reporter is an observer that keeps a latency histogram and a last error.
type reporter struct{ pipeline.ObserverFunc[string] }

func (reporter) Latency() pipeline.Histogram {
	return pipeline.Histogram{Bounds: []time.Duration{ms}, Counts: []uint64{1}, Count: 1, Sum: ms}
}

func (reporter) LastError() (pipeline.LastError, bool) {
	return pipeline.LastError{Message: "boom", At: time.Unix(100, 0)}, true
}

func TestCacheDescribesWhatItsObserverReports(t *testing.T) {
	t.Parallel()
	nop := reporter{func(context.Context, pipeline.Event[string]) {}}
	tests := []struct {
		name     string
		observer pipeline.Observer[string]
		reports  bool
	}{
		{name: "no observer"},
		{name: "an observer that reports", observer: nop, reports: true},
		{name: "one of several", observer: pipeline.Observers[string](&statsCounter[string]{}, nop), reports: true},
		{name: "an observer that only counts", observer: &statsCounter[string]{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := pipeline.Cache("c", newMemStore[string, string](), &pipeline.CacheOptions[string]{Observer: tt.observer})(newSource())
			d := c.(pipeline.Describer).Describe()
			if !tt.reports {
				require.Nil(t, d.Latency)
				require.Nil(t, d.LastError)
				return
			}
			require.Equal(t, nop.Latency(), *d.Latency)
			require.Equal(t, "boom", d.LastError.Message)
		})
	}
}

func TestCacheDescribesItsSettings(t *testing.T) {
	t.Parallel()
	c := pipeline.Cache("c", newMemStore[string, []byte](), &pipeline.CacheOptions[string]{
		TTL: time.Minute, Jitter: 0.1, NegativeTTL: time.Second, StaleIfError: time.Hour,
		RefreshAhead: 10 * time.Second, NoCoalesce: true, FetchTimeout: -1,
	})(pipeline.FetcherFunc[string, []byte](func(context.Context, string) ([]byte, error) { return nil, nil }))
	d := c.(pipeline.Describer).Describe()
	require.Equal(t, []pipeline.Setting{
		{Name: "key", Value: "string"}, {Name: "value", Value: "[]byte"},
		{Name: "store", Value: "*pipeline_test.memStore[string, []byte]"},
		{Name: "TTL", Value: "1m0s"}, {Name: "Jitter", Value: "0.1"},
		{Name: "NegativeTTL", Value: "1s"}, {Name: "NegativeSize", Value: "10000"},
		{Name: "StaleIfError", Value: "1h0m0s"}, {Name: "RefreshAhead", Value: "10s"},
		{Name: "RefreshConcurrency", Value: "4"}, {Name: "RefreshBackoff", Value: "1s"},
		{Name: "coalescing", Value: "off (NoCoalesce)"}, {Name: "FetchTimeout", Value: "none"},
	}, d.Settings)
	require.False(t, d.ReportsEvictions, "the store is not bounded")
}
