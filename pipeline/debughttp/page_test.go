package debughttp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/pipeline/debughttp"
	"github.com/multilayer-cache/multilayer/stores"
)

const ms = time.Millisecond

// stateLayer is a layer that says all a layer can say of itself.
func stateLayer(next ...any) *fakeLayer {
	return &fakeLayer{pipeline.Description{
		Name: "profiles", Kind: "cache", Detail: "ttl 1m0s", Next: next,
		Stats: &pipeline.Stats{Hits: 90, Misses: 10, Fills: 9, Errors: 1, Evicted: 7},
		Usage: &pipeline.Usage{Entries: 300, Capacity: 1000},
		Latency: &pipeline.Histogram{Bounds: []time.Duration{ms, 10 * ms, 100 * ms},
			Counts: []uint64{0, 90, 100}, Count: 100},
		LastError:        &pipeline.LastError{Message: "postgres: connection refused", At: time.Date(2026, 12, 6, 20, 1, 2, 0, time.UTC)},
		Settings:         []pipeline.Setting{{Name: "key", Value: "int"}, {Name: "value", Value: "[]byte"}, {Name: "TTL", Value: "1m0s"}},
		ReportsEvictions: true,
	}}
}

func TestPageShowsEachLayersState(t *testing.T) {
	t.Parallel()
	_, body := get(t, debughttp.Handler(stateLayer()), http.MethodGet, "/", "")
	for _, want := range []string{
		`<h3>profiles <span class="kind">cache, ttl 1m0s</span></h3>`,
		`<b>90.0%</b><span>hit ratio</span>`,
		`<b>6ms</b><span>p50 below</span>`,  // 1ms + 50/90 of (1ms, 10ms]
		`<b>91ms</b><span>p99 below</span>`, // in (10ms, 100ms]
		`<div class="bad"><b>1</b><span>errors</span>`,
		`<span>entries 300 of 1000</span><span class="bar" title="30% full">`,
		`<span>30% full</span> · <span>7 evicted</span>`,
		`<span>100 fetches below timed</span>`,
		`last error <time>2026-12-06 20:01:02 UTC</time>`,
		`<code>postgres: connection refused</code>`,
		`<span>key <b>int</b></span> <span>value <b>[]byte</b></span> <span>TTL <b>1m0s</b></span>`,
		`No charts: serve the page from a debughttp.Sampler`,
	} {
		require.Contains(t, body, want)
	}
	require.NotContains(t, body, `http-equiv="refresh"`, "no refresh unless asked")
}

func TestPageSaysWhatALayerDoesNotReport(t *testing.T) {
	t.Parallel()
	l := stateLayer()
	l.desc.Latency, l.desc.LastError, l.desc.ReportsEvictions, l.desc.Usage = nil, nil, false, &pipeline.Usage{Entries: 3}
	_, body := get(t, debughttp.Handler(l), http.MethodGet, "/", "")
	require.Contains(t, body, `<b>–</b><span>p50 below</span>`)
	require.Contains(t, body, `<p class="err ok">no error</p>`)
	require.Contains(t, body, "<span>entries 3</span></p>", "no capacity, no bar, no evictions")
	require.NotContains(t, body, "evicted</p>")
}

func TestPageShowsTypesAsUsersWriteThem(t *testing.T) {
	t.Parallel()
	type doc struct{ Tags map[string]int }
	src := pipeline.FetcherFunc[string, []byte](func(context.Context, string) ([]byte, error) { return nil, nil })
	parsed := middleware.MapKey[doc](func(k int) string { return "" })(
		middleware.Parse[string](func([]byte) (doc, error) { return doc{}, nil })(src))
	c := pipeline.Cache("docs", stores.NewMap[int, map[string][]any](), nil)(
		middleware.Transform[int](func(d doc) map[string][]any { return nil })(parsed))
	_, body := get(t, debughttp.Handler(c), http.MethodGet, "/?format=text", "")
	require.Contains(t, body, "parse ([]byte → debughttp_test.doc)")
	require.Contains(t, body, "map key (int → string)")
	_, body = get(t, debughttp.Handler(c), http.MethodGet, "/", "")
	require.Contains(t, body, "value <b>map[string][]any</b>")
	require.NotContains(t, body, "uint8")
	require.NotContains(t, body, "interface")
}

func TestPageRefreshesWhenAsked(t *testing.T) {
	t.Parallel()
	h := debughttp.Handler(stateLayer())
	_, body := get(t, h, http.MethodGet, "/?refresh=5", "")
	require.Contains(t, body, `<meta http-equiv="refresh" content="5">`)
	require.Contains(t, body, `Auto-refresh: <a href="?">off</a><b>5s</b><a href="?refresh=30">30s</a>`)
	_, body = get(t, h, http.MethodGet, "/?refresh=3600", "")
	require.Contains(t, body, `<meta http-equiv="refresh" content="3600">`)
}

func TestBadParameterGetsAShort400(t *testing.T) {
	t.Parallel()
	h := debughttp.Handler(stateLayer())
	huge := strings.Repeat("A", 1<<20)
	tests := []struct {
		name  string
		query string
		want  string
	}{
		{name: "an unknown format", query: "format=xml", want: "debughttp: bad format: want html, json or text\n"},
		{name: "a huge format", query: "format=" + huge, want: "debughttp: bad format: want html, json or text\n"},
		{name: "a refresh of zero", query: "refresh=0", want: "debughttp: bad refresh: want whole seconds from 1 to 3600\n"},
		{name: "a negative refresh", query: "refresh=-5", want: "debughttp: bad refresh: want whole seconds from 1 to 3600\n"},
		{name: "a refresh too long", query: "refresh=3601", want: "debughttp: bad refresh: want whole seconds from 1 to 3600\n"},
		{name: "a fractional refresh", query: "refresh=1.5", want: "debughttp: bad refresh: want whole seconds from 1 to 3600\n"},
		{name: "a hostile refresh", query: "refresh=%3Cscript%3E", want: "debughttp: bad refresh: want whole seconds from 1 to 3600\n"},
		{name: "a huge refresh", query: "refresh=" + huge, want: "debughttp: bad refresh: want whole seconds from 1 to 3600\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, body := get(t, h, http.MethodGet, "/?"+tt.query, "")
			require.Equal(t, http.StatusBadRequest, res.StatusCode)
			require.Equal(t, tt.want, body)
			require.Less(t, len(body), 100, "the answer is short, whatever came in")
		})
	}
	res, _ := get(t, h, http.MethodGet, "/?utm_source=x&refresh=5", "")
	require.Equal(t, http.StatusOK, res.StatusCode, "other parameters are ignored")
}
