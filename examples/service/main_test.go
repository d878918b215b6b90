package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/redistest"
	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

// syncBuffer is a buffer that the server's goroutines write logs to while
// the test reads them.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// service is a running service.
type service struct {
	url  string
	logs *syncBuffer
	stop func() error // shuts the service down and returns serve's error
}

// start serves on a free port of 127.0.0.1, with no bucket latency.
func start(t *testing.T) *service {
	t.Helper()
	return startWith(t, config{})
}

// startWith serves on a free port of 127.0.0.1, with c (whose addr it
// ignores).
func startWith(t *testing.T, c config) *service {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, logs, ln, c) }()
	var once sync.Once
	var err2 error
	s := &service{url: "http://" + ln.Addr().String(), logs: logs, stop: func() error {
		once.Do(func() { cancel(); err2 = <-done })
		return err2
	}}
	t.Cleanup(func() { _ = s.stop() })
	return s
}

// get fetches path from the service with a client that keeps no
// connection, and returns the status and body.
func (s *service) get(t *testing.T, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url+path, nil)
	require.NoError(t, err)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(body)
}

// script is a sequence of requests, with the answers they get; after it, the
// layers hold the counts in scriptTree and scriptCounts.
var script = []struct {
	path   string
	status int
	body   string
}{
	{"/docs/a", http.StatusOK, `{"key":"a","value":"apple"}` + "\n"},           // both miss
	{"/docs/a", http.StatusOK, `{"key":"a","value":"apple"}` + "\n"},           // parsed_files hits
	{"/docs/a?parser=v2", http.StatusOK, `{"key":"a","value":"apple"}` + "\n"}, // parsed_files misses, raw_files hits
	{"/docs/nope", http.StatusNotFound, "not found\n"},                         // not in the bucket
	{"/docs/broken", http.StatusBadGateway, "bad gateway\n"},                   // raw_files fills, parsing fails
	{"/sizes/a", http.StatusOK, "30\n"},                                        // sizes misses, raw_files hits
	{"/sizes/a", http.StatusOK, "30\n"},                                        // sizes hits
	{"/files/b", http.StatusOK, `{"key": "b", "value": "banana"}`},             // raw_files misses
	{"/files/b", http.StatusOK, `{"key": "b", "value": "banana"}`},             // raw_files hits
}

const scriptTree = `bucket (source)
└── raw_files (cache) entries=3/1024 hits=3 misses=4 fills=3 not_found=1 hit_ratio=42.9%
    ├── parse ([]byte → main.Doc)
    │   └── map key (main.DocKey → string)
    │       └── parsed_files (cache) entries=2/1024 hits=1 misses=4 fills=2 not_found=1 errors=1 hit_ratio=20.0%
    └── transform ([]byte → int)
        └── sizes (cache) entries=1/1024 hits=1 misses=1 fills=1 hit_ratio=50.0%
`

// scriptCounts are the rows of the debug page's table of counts: layer,
// kind, hits, misses, fills, not found, negative hits, errors, shared
// waits, stale served, invalidated, evicted, entries (of capacity) and hit
// ratio.
var scriptCounts = [][]string{
	{"layer", "kind", "hits", "misses", "fills", "not found", "negative hits", "errors", "shared waits",
		"stale served", "invalidated", "evicted", "entries", "hit ratio"},
	{"raw_files", "cache", "3", "4", "3", "1", "0", "0", "0", "0", "0", "0", "3/1024", "42.9%"},
	{"parsed_files", "cache", "1", "4", "2", "1", "0", "1", "0", "0", "0", "0", "2/1024", "20.0%"},
	{"sizes", "cache", "1", "1", "1", "0", "0", "0", "0", "0", "0", "0", "1/1024", "50.0%"},
}

func runScript(t *testing.T, s *service) {
	t.Helper()
	for _, r := range script {
		status, body := s.get(t, r.path)
		require.Equal(t, r.status, status, r.path)
		require.Equal(t, r.body, body, r.path)
	}
}

func TestService(t *testing.T) {
	t.Parallel()
	s := start(t)
	runScript(t, s)

	status, body := s.get(t, "/debug/multilayer?format=text")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, scriptTree, body)

	status, body = s.get(t, "/metrics")
	require.Equal(t, http.StatusOK, status)
	for _, line := range []string{
		`multilayer_hits_total{layer="raw_files"} 3`,
		`multilayer_misses_total{layer="raw_files"} 4`,
		`multilayer_fills_total{layer="raw_files"} 3`,
		`multilayer_not_found_total{layer="raw_files"} 1`,
		`multilayer_hits_total{layer="parsed_files"} 1`,
		`multilayer_misses_total{layer="parsed_files"} 4`,
		`multilayer_errors_total{layer="parsed_files"} 1`,
		`multilayer_hits_total{layer="sizes"} 1`,
		`multilayer_fetch_duration_seconds_count{layer="raw_files"} 4`,
		`multilayer_fetch_duration_seconds_count{layer="sizes"} 1`,
	} {
		require.Contains(t, body, line+"\n")
	}

	status, body = s.get(t, "/")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "GET /debug/multilayer")
	status, _ = s.get(t, "/nothing/here")
	require.Equal(t, http.StatusNotFound, status)

	require.NoError(t, s.stop())
	logs := regexp.MustCompile(` duration=\S+`).ReplaceAllString(s.logs.String(), "")
	logs = strings.ReplaceAll(logs, strings.TrimPrefix(s.url, "http://"), "ADDR")
	require.Equal(t, `INF listening addr=ADDR debug=http://ADDR/debug/multilayer metrics=http://ADDR/metrics
INF request method=GET path=/docs/a status=200
INF request method=GET path=/docs/a status=200
INF request method=GET path="/docs/a?parser=v2" status=200
INF request method=GET path=/docs/nope status=404
ERR fetch path=/docs/broken error="pipeline: parsed_files: middleware: parse: parse doc: unexpected end of JSON input"
ERR request method=GET path=/docs/broken status=502
INF request method=GET path=/sizes/a status=200
INF request method=GET path=/sizes/a status=200
INF request method=GET path=/files/b status=200
INF request method=GET path=/files/b status=200
INF request method=GET path="/debug/multilayer?format=text" status=200
INF request method=GET path=/metrics status=200
INF request method=GET path=/ status=200
INF request method=GET path=/nothing/here status=404
INF stopped
`, logs)
}

// TestDebugPageInBrowser loads the debug page in headless Chromium and
// checks the text it renders: every layer, and every count.
func TestDebugPageInBrowser(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	s := start(t)
	runScript(t, s)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-quic", "--no-first-run", "--no-proxy-server",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-crash-reporter",
		"--user-data-dir="+t.TempDir(),
		"--dump-dom", s.url+"/debug/multilayer?refresh=30")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Run(), "chromium: %s", stderr.String())
	dom := stdout.String()

	tree := regexp.MustCompile(`(?s)<pre id="tree">(.*?)</pre>`).FindStringSubmatch(dom)
	require.NotNil(t, tree, "no tree in the page:\n%s", dom)
	require.Equal(t, scriptTree, html.UnescapeString(tree[1]))

	var rows [][]string
	cell := regexp.MustCompile(`(?s)<t[hd][^>]*>(.*?)</t[hd]>`)
	for _, tr := range regexp.MustCompile(`(?s)<tr>(.*?)</tr>`).FindAllStringSubmatch(dom, -1) {
		var row []string
		for _, c := range cell.FindAllStringSubmatch(tr[1], -1) {
			row = append(row, html.UnescapeString(c[1]))
		}
		rows = append(rows, row)
	}
	require.Equal(t, scriptCounts, rows)
	requireCards(t, dom)
}

// requireCards checks the cards of the page as the browser renders them:
// one per layer that counts, each with its figures, two charts, its last
// error and its settings, types as Go code writes them; and the refresh.
func requireCards(t *testing.T, dom string) {
	t.Helper()
	require.Contains(t, dom, `<meta http-equiv="refresh" content="30">`)
	require.Equal(t, 3, strings.Count(dom, `<article class="card`))
	require.Equal(t, 6, strings.Count(dom, `<svg class="chart"`))
	for _, want := range []string{
		`<h3>raw_files <span class="kind">cache</span></h3>`,
		`<b>42.9%</b><span>hit ratio</span>`,
		`<h3>parsed_files <span class="kind">cache</span></h3>`,
		`<span>entries 2 of 1024</span>`,
		`<code>pipeline: parsed_files: middleware: parse: parse doc: unexpected end of JSON input</code>`,
		`<span>key <b>main.DocKey</b></span> <span>value <b>main.Doc</b></span>`,
		`<span>key <b>string</b></span> <span>value <b>[]byte</b></span>`,
		`<span>TTL <b>none</b></span>`,
	} {
		require.Contains(t, dom, want)
	}
	// Every layer fetched below, so each has its percentiles.
	p50 := regexp.MustCompile(`<b>([^<]*)</b><span>p50 below</span>`).FindAllStringSubmatch(dom, -1)
	require.Len(t, p50, 3)
	for _, m := range p50 {
		require.NotEqual(t, "–", m[1])
	}
}

// findChromium returns the path of Chromium. Without one, the test is
// skipped, or fails under CI, where it must run.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const msg = "chromium not found: install it (apt-get install -y --no-install-recommends chromium) to check the debug page in a browser"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    config
		wantErr string
	}{
		{
			name: "defaults",
			want: config{addr: "127.0.0.1:8080", bucketLatency: 10 * time.Millisecond},
		},
		{
			name: "the address from the environment",
			env:  map[string]string{"ADDR": "127.0.0.1:0"},
			want: config{addr: "127.0.0.1:0", bucketLatency: 10 * time.Millisecond},
		},
		{
			name: "flags win over the environment",
			args: []string{"-addr", ":9090", "-bucket-latency", "0"},
			env:  map[string]string{"ADDR": "127.0.0.1:0"},
			want: config{addr: ":9090"},
		},
		{
			name: "Redis from the environment",
			env:  map[string]string{"REDIS_ADDR": "127.0.0.1:6380"},
			want: config{addr: "127.0.0.1:8080", bucketLatency: 10 * time.Millisecond, redis: "127.0.0.1:6380"},
		},
		{
			name: "Redis from the flag",
			args: []string{"-redis", "127.0.0.1:6381"},
			env:  map[string]string{"REDIS_ADDR": "127.0.0.1:6380"},
			want: config{addr: "127.0.0.1:8080", bucketLatency: 10 * time.Millisecond, redis: "127.0.0.1:6381"},
		},
		{
			name:    "an unknown flag",
			args:    []string{"-port", "80"},
			wantErr: "flag provided but not defined: -port",
		},
		{
			name:    "arguments",
			args:    []string{"serve"},
			wantErr: `unexpected arguments: ["serve"]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var usage bytes.Buffer
			got, err := parseConfig(tt.args, func(k string) string { return tt.env[k] }, &usage)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	t.Run("help", func(t *testing.T) {
		t.Parallel()
		var usage bytes.Buffer
		_, err := parseConfig([]string{"-h"}, func(string) string { return "" }, &usage)
		require.True(t, errors.Is(err, flag.ErrHelp))
		require.Contains(t, usage.String(), "-addr address")
	})
}

// TestServicesShareTheirFilesThroughRedisAndStayCoherent runs two
// instances of the service over one Redis (-redis): a file one of them
// loaded is served to the other from Redis.
func TestServicesShareTheirFilesThroughRedisAndStayCoherent(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, nil)
	one := startWith(t, config{redis: srv.Addr})
	two := startWith(t, config{redis: srv.Addr})

	status, body := one.get(t, "/files/a")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, files["a"], body)
	status, body = two.get(t, "/files/a")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, files["a"], body)

	_, tree := two.get(t, "/debug/multilayer?format=text")
	require.Regexp(t, `(?m)^└── redis \(cache, ttl 1h0m0s\)\n    └── service-raw \(invalidation bus, (starting|healthy), applied 0, gap clears [01], max stale 1m0s\)\n        └── raw_files \(cache\)`, tree)
	n, err := srv.Do("DBSIZE")
	require.NoError(t, err)
	require.NotEqual(t, "0", n, "the files are in Redis")
	require.NoError(t, one.stop())
	require.NoError(t, two.stop())
}

// TestServiceRunsWhenRedisDoesNotAnswer starts the service with -redis
// pointing where nothing listens: it warns, and serves from the bucket.
func TestServiceRunsWhenRedisDoesNotAnswer(t *testing.T) {
	t.Parallel()
	s := startWith(t, config{redis: "127.0.0.1:1"})
	status, body := s.get(t, "/files/a")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, files["a"], body)
	require.NoError(t, s.stop())
	require.Contains(t, s.logs.String(), "WRN redis does not answer; serving from the bucket until it does addr=127.0.0.1:1")
}
