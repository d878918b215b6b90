package debughttp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/pipeline/debughttp"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

// fakeLayer is a Describer that says what it is told.
type fakeLayer struct{ desc pipeline.Description }

func (l *fakeLayer) Fetch(context.Context, string) (string, error) { return "", nil }
func (l *fakeLayer) Describe() pipeline.Description                { return l.desc }

func fake(name, kind string, stats *pipeline.Stats, next ...any) *fakeLayer {
	return &fakeLayer{pipeline.Description{Name: name, Kind: kind, Stats: stats, Next: next}}
}

// testTree is a source, a raw layer shared by two dependents, one through a
// key mapper.
func testTree() []any {
	bucket := pipeline.Source("bucket", pipeline.FetcherFunc[string, string](
		func(context.Context, string) (string, error) { return "", nil }))
	raw := fake("raw", "cache", &pipeline.Stats{Hits: 3, Misses: 1, Fills: 1}, bucket)
	parsed := fake("parsed", "cache", &pipeline.Stats{Hits: 1, Misses: 2, Fills: 1, NotFound: 1, Errors: 4}, fake("", "map key", nil, raw))
	views := fake("views", "cache", &pipeline.Stats{}, raw)
	return []any{parsed, views}
}

const testText = `bucket (source)
└── raw (cache) hits=3 misses=1 fills=1 hit_ratio=75.0%
    ├── map key
    │   └── parsed (cache) hits=1 misses=2 fills=1 not_found=1 errors=4 hit_ratio=33.3%
    └── views (cache) hits=0 misses=0 fills=0
`

// get serves one request and returns the response and its body.
func get(t *testing.T, h http.Handler, method, target, accept string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, target, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	return res, string(body)
}

func TestHandlerFormats(t *testing.T) {
	t.Parallel()
	h := debughttp.Handler(testTree()...)
	tests := []struct {
		name   string
		target string
		accept string
		want   string // "html", "json" or "text"
	}{
		{name: "default", target: "/", want: "html"},
		{name: "a browser", target: "/", accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", want: "html"},
		{name: "curl", target: "/", accept: "*/*", want: "html"},
		{name: "json by query", target: "/?format=json", want: "json"},
		{name: "json by Accept", target: "/", accept: "application/json", want: "json"},
		{name: "json preferred by quality", target: "/", accept: "text/html;q=0.4, application/json;q=0.5", want: "json"},
		{name: "text by query", target: "/?format=text", want: "text"},
		{name: "text by Accept", target: "/", accept: "text/plain", want: "text"},
		{name: "text/* is a tie, won by html", target: "/", accept: "text/*", want: "html"},
		{name: "nothing acceptable falls back to html", target: "/", accept: "image/png", want: "html"},
		{name: "the query wins over Accept", target: "/?format=html", accept: "application/json", want: "html"},
		{name: "a refused type is not served", target: "/", accept: "text/html;q=0, application/json", want: "json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, body := get(t, h, http.MethodGet, tt.target, tt.accept)
			require.Equal(t, http.StatusOK, res.StatusCode)
			require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
			switch tt.want {
			case "html":
				require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
				require.Contains(t, body, "<!DOCTYPE html>")
			case "json":
				require.Equal(t, "application/json", res.Header.Get("Content-Type"))
				require.True(t, json.Valid([]byte(body)))
			case "text":
				require.Equal(t, "text/plain; charset=utf-8", res.Header.Get("Content-Type"))
				require.Equal(t, testText, body)
			}
		})
	}
}

func TestHandlerHTML(t *testing.T) {
	t.Parallel()
	_, body := get(t, debughttp.Handler(testTree()...), http.MethodGet, "/", "")
	require.Contains(t, body, `<pre id="tree">`+testText+`</pre>`)
	for _, row := range []string{
		`<tr><td class="l">raw</td><td class="l">cache</td><td>3</td><td>1</td><td>1</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>–</td><td>75.0%</td></tr>`,
		`<tr><td class="l">parsed</td><td class="l">cache</td><td>1</td><td>2</td><td>1</td><td>1</td><td>0</td><td>4</td><td>0</td><td>0</td><td>0</td><td>0</td><td>–</td><td>33.3%</td></tr>`,
		`<tr><td class="l">views</td><td class="l">cache</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>–</td><td>–</td></tr>`,
	} {
		require.Contains(t, body, row)
	}
	// Layers without counts are in the tree, not in the table.
	require.Equal(t, 4, strings.Count(body, "<tr>"), "a header and three layers")
	require.NotContains(t, body, `<td class="l">bucket</td>`)
}

func TestHandlerHTMLEscapes(t *testing.T) {
	t.Parallel()
	h := debughttp.Handler(fake("<script>alert(1)</script>", "cache & co", &pipeline.Stats{}))
	_, body := get(t, h, http.MethodGet, "/", "")
	require.NotContains(t, body, "<script>")
	require.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt; (cache &amp; co)")
}

func TestHandlerNoCounts(t *testing.T) {
	t.Parallel()
	h := debughttp.Handler(fake("raw", "cache", nil, pipeline.FetcherFunc[string, string](
		func(context.Context, string) (string, error) { return "", nil })))
	_, body := get(t, h, http.MethodGet, "/", "")
	require.Contains(t, body, "<pre id=\"tree\">source\n└── raw (cache)\n</pre>")
	require.Contains(t, body, "No layer counts its events.")
	require.NotContains(t, body, "<table")
}

func TestHandlerJSON(t *testing.T) {
	t.Parallel()
	_, body := get(t, debughttp.Handler(testTree()...), http.MethodGet, "/?format=json", "")
	require.JSONEq(t, `{"tree": [{
		"name": "bucket", "kind": "source",
		"dependents": [{
			"name": "raw", "kind": "cache",
			"stats": {"hits": 3, "misses": 1, "fills": 1, "not_found": 0, "negative_hits": 0, "errors": 0,
				"shared_waits": 0, "stale_served": 0, "invalidated": 0, "evicted": 0, "hit_ratio": 0.75},
			"dependents": [
				{"kind": "map key", "dependents": [{
					"name": "parsed", "kind": "cache",
					"stats": {"hits": 1, "misses": 2, "fills": 1, "not_found": 1, "negative_hits": 0, "errors": 4,
						"shared_waits": 0, "stale_served": 0, "invalidated": 0, "evicted": 0, "hit_ratio": 0.3333333333333333}
				}]},
				{"name": "views", "kind": "cache",
					"stats": {"hits": 0, "misses": 0, "fills": 0, "not_found": 0, "negative_hits": 0, "errors": 0,
						"shared_waits": 0, "stale_served": 0, "invalidated": 0, "evicted": 0, "hit_ratio": 0}}
			]
		}]
	}]}`, body)
}

func TestHandlerLive(t *testing.T) {
	t.Parallel()
	stats := &pipeline.Stats{Hits: 1}
	layer := fake("raw", "cache", stats)
	h := debughttp.Handler(layer)
	_, body := get(t, h, http.MethodGet, "/?format=text", "")
	require.Equal(t, "raw (cache) hits=1 misses=0 fills=0 hit_ratio=100.0%\n", body)
	layer.desc.Stats = &pipeline.Stats{Hits: 1, Misses: 1, Fills: 1}
	_, body = get(t, h, http.MethodGet, "/?format=text", "")
	require.Equal(t, "raw (cache) hits=1 misses=1 fills=1 hit_ratio=50.0%\n", body)
}

func TestHandlerRequests(t *testing.T) {
	t.Parallel()
	h := debughttp.Handler(testTree()...)
	tests := []struct {
		name       string
		method     string
		target     string
		wantStatus int
		wantBody   string
		wantAllow  string
	}{
		{name: "HEAD has headers, no body", method: http.MethodHead, target: "/", wantStatus: http.StatusOK},
		{name: "POST is not allowed", method: http.MethodPost, target: "/", wantStatus: http.StatusMethodNotAllowed,
			wantBody: "debughttp: method not allowed\n", wantAllow: "GET, HEAD"},
		{name: "an unknown format", method: http.MethodGet, target: "/?format=xml", wantStatus: http.StatusBadRequest,
			wantBody: "debughttp: bad format: want html, json or text\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, body := get(t, h, tt.method, tt.target, "")
			require.Equal(t, tt.wantStatus, res.StatusCode)
			require.Equal(t, tt.wantBody, body)
			require.Equal(t, tt.wantAllow, res.Header.Get("Allow"))
		})
	}

	t.Run("HEAD says the length of what GET sends", func(t *testing.T) {
		t.Parallel()
		head, _ := get(t, h, http.MethodHead, "/", "")
		_, body := get(t, h, http.MethodGet, "/", "")
		require.Equal(t, len(body), int(head.ContentLength))
	})
}

// TestHandlerServer serves the page from a real server, over a real
// pipeline, while it is fetched from.
func TestHandlerServer(t *testing.T) {
	t.Parallel()
	src := pipeline.Source("bucket", pipeline.FetcherFunc[string, string](
		func(_ context.Context, k string) (string, error) { return k, nil }))
	counts := &countingObserver{}
	raw := pipeline.Cache("raw", pipeline.StoreFuncs[string, string]{
		GetFunc: func(context.Context, string) (string, bool, error) { return "", false, nil },
		SetFunc: func(context.Context, string, string) error { return nil },
	}, &pipeline.CacheOptions[string]{Observer: counts})(src)
	srv := httptest.NewServer(debughttp.Handler(raw))
	defer srv.Close()

	for range 3 {
		_, err := raw.Fetch(t.Context(), "k")
		require.NoError(t, err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"?format=text", nil)
	require.NoError(t, err)
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, "bucket (source)\n└── raw (cache) hits=0 misses=3 fills=3 hit_ratio=0.0%\n", string(body))
}

// countingObserver counts misses and fills, and is a pipeline.StatsSource.
type countingObserver struct {
	misses, fills atomic.Uint64
}

func (c *countingObserver) Observe(_ context.Context, e pipeline.Event[string]) {
	switch e.Kind {
	case pipeline.Miss:
		c.misses.Add(1)
	case pipeline.Fill:
		c.fills.Add(1)
	}
}

func (c *countingObserver) Stats() pipeline.Stats {
	return pipeline.Stats{Misses: c.misses.Load(), Fills: c.fills.Load()}
}

// TestHandlerEscapesHostileNamesEverywhere: hostile names, kinds and details are
// escaped in the tree and in the counts table, and JSON stays valid and
// escapes markup.
func TestHandlerEscapesHostileNamesEverywhere(t *testing.T) {
	t.Parallel()
	const xss = `<img src=x onerror="alert(1)">`
	top := fake(xss, xss+"kind", &pipeline.Stats{Hits: 1})
	top.desc.Detail = xss + "detail"
	h := debughttp.Handler(top)

	res, body := get(t, h, http.MethodGet, "/?format=html", "")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	require.NotContains(t, body, "<img")
	require.Contains(t, body, `<td class="l">&lt;img src=x onerror=&#34;alert(1)&#34;&gt;</td>`)
	require.Contains(t, body, `<td class="l">&lt;img src=x onerror=&#34;alert(1)&#34;&gt;kind</td>`)
	require.Contains(t, body, "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;detail")

	res, body = get(t, h, http.MethodGet, "/?format=json", "")
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	require.NotContains(t, body, "<img")
	var got struct {
		Tree []pipeline.Node `json:"tree"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	require.Len(t, got.Tree, 1)
	require.Equal(t, xss, got.Tree[0].Name)

	res, body = get(t, h, http.MethodGet, "/?format=text", "")
	require.Equal(t, "text/plain; charset=utf-8", res.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	require.True(t, strings.HasPrefix(body, xss))
}

// TestHandlerRefusesMethodsButGetAndHead: every method but GET and HEAD is refused with 405 and
// an Allow header, and nothing of the tree leaks.
func TestHandlerRefusesMethodsButGetAndHead(t *testing.T) {
	t.Parallel()
	h := debughttp.Handler(testTree()...)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect, "BREW"} {
		t.Run(m, func(t *testing.T) {
			t.Parallel()
			res, body := get(t, h, m, "/?format=json", "")
			require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
			require.Equal(t, "GET, HEAD", res.Header.Get("Allow"))
			require.NotContains(t, body, "raw")
		})
	}
	t.Run("HEAD with every format", func(t *testing.T) {
		t.Parallel()
		for _, f := range []string{"html", "json", "text"} {
			head, body := get(t, h, http.MethodHead, "/?format="+f, "")
			require.Equal(t, http.StatusOK, head.StatusCode)
			require.Empty(t, body)
			_, full := get(t, h, http.MethodGet, "/?format="+f, "")
			require.Equal(t, len(full), int(head.ContentLength), f)
		}
	})
}

// TestHandlerNegotiatesFormatByAccept: the format follows the Accept header.
func TestHandlerNegotiatesFormatByAccept(t *testing.T) {
	t.Parallel()
	h := debughttp.Handler(testTree()...)
	for _, tc := range []struct{ accept, want string }{
		{"", "text/html; charset=utf-8"},
		{"*/*", "text/html; charset=utf-8"},
		{"application/json", "application/json"},
		{"text/plain", "text/plain; charset=utf-8"},
		{"text/html;q=0.1, application/json;q=0.9", "application/json"},
		{"text/*;q=0.5, application/json;q=0.4", "text/html; charset=utf-8"},
		{"text/plain, text/*;q=0", "text/plain; charset=utf-8"},
		{"text/html;q=0, */*", "application/json"},
		{"application/JSON", "application/json"},
		{"image/png", "text/html; charset=utf-8"},
		{"garbage;;;", "text/html; charset=utf-8"},
	} {
		t.Run(tc.accept, func(t *testing.T) {
			t.Parallel()
			res, _ := get(t, h, http.MethodGet, "/", tc.accept)
			require.Equal(t, http.StatusOK, res.StatusCode)
			require.Equal(t, tc.want, res.Header.Get("Content-Type"))
			require.Equal(t, "Accept", res.Header.Get("Vary"))
		})
	}
}
