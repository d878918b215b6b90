package debughttp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// Handler returns an http.Handler that serves the tree of the pipelines
// whose outermost Fetchers are given (see pipeline.TreeOf), with the live
// counts of their layers, as an HTML page, JSON or text (see the package
// documentation for the formats). It answers methods other than GET and
// HEAD with 405 Method Not Allowed, and an unknown format with 400 Bad
// Request. It is safe for concurrent use.
func Handler(outer ...any) http.Handler {
	return &handler{outer: outer}
}

type handler struct {
	outer []any
}

// The formats the handler serves, and their content types.
const (
	formatHTML = "html"
	formatJSON = "json"
	formatText = "text"
)

var contentTypes = map[string]string{
	formatHTML: "text/html; charset=utf-8",
	formatJSON: "application/json",
	formatText: "text/plain; charset=utf-8",
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "debughttp: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	format := r.URL.Query().Get("format")
	switch format {
	case "":
		format = negotiate(r.Header.Get("Accept"))
		w.Header().Set("Vary", "Accept")
	case formatHTML, formatJSON, formatText:
	default:
		http.Error(w, fmt.Sprintf("debughttp: unknown format %q: want html, json or text", format), http.StatusBadRequest)
		return
	}

	tree := pipeline.TreeOf(h.outer...)
	var body bytes.Buffer
	var err error
	switch format {
	case formatHTML:
		err = page.Execute(&body, newView(tree))
	case formatJSON:
		enc := json.NewEncoder(&body)
		enc.SetIndent("", "  ")
		err = enc.Encode(struct {
			Tree pipeline.Tree `json:"tree"`
		}{tree})
	case formatText:
		body.WriteString(tree.String())
	}
	if err != nil {
		http.Error(w, "debughttp: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentTypes[format])
	w.Header().Set("Content-Length", strconv.Itoa(body.Len()))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = body.WriteTo(w)
}

// negotiate picks the format the Accept header prefers: the one with the
// highest quality, HTML on a tie or when nothing matches.
func negotiate(accept string) string {
	best, bestQ := formatHTML, -1.0
	for _, f := range [...]struct{ format, typ, sub string }{
		{formatHTML, "text", "html"},
		{formatJSON, "application", "json"},
		{formatText, "text", "plain"},
	} {
		if q := quality(accept, f.typ, f.sub); q > bestQ && q > 0 {
			best, bestQ = f.format, q
		}
	}
	return best
}

// quality returns the quality the Accept header gives to typ/sub: that of
// its most specific matching media range, or 0 if none matches.
func quality(accept, typ, sub string) float64 {
	q, specificity := 0.0, -1
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		t, s, _ := strings.Cut(mt, "/")
		var spec int
		switch {
		case t == typ && s == sub:
			spec = 2
		case t == typ && s == "*":
			spec = 1
		case t == "*" && s == "*":
			spec = 0
		default:
			continue
		}
		if spec <= specificity {
			continue
		}
		specificity, q = spec, 1
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
	}
	return q
}

// view is what the page shows.
type view struct {
	Text   string
	Counts []row
}

// row is a layer that has counts, in the page's table.
type row struct {
	Node  *pipeline.Node
	Ratio string
}

func newView(t pipeline.Tree) view {
	v := view{Text: t.String()}
	for _, n := range t.Nodes() {
		if n.Stats == nil {
			continue
		}
		r := row{Node: n, Ratio: "–"}
		if s := n.Stats; s.Hits+s.NegativeHits+s.Misses > 0 {
			r.Ratio = fmt.Sprintf("%.1f%%", 100*s.HitRatio())
		}
		v.Counts = append(v.Counts, r)
	}
	return v
}

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>multilayer pipelines</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
pre { background: #f5f5f5; padding: 1em; overflow-x: auto; line-height: 1.3; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: .3em .55em; border-bottom: 1px solid #ddd; text-align: right; }
th.l, td.l { text-align: left; }
th { font-weight: 600; background: #fafafa; }
</style>
</head>
<body>
<h1>multilayer pipelines</h1>
<p>Each tree starts at a source; below each layer stand the layers that fetch from it, and a layer shared by several stands once, with all of them below it. Counts are live: reload to update. Also as <a href="?format=json">JSON</a> and <a href="?format=text">text</a>.</p>
<h2>Tree</h2>
<pre id="tree">{{.Text}}</pre>
<h2>Counts</h2>
{{if .Counts -}}
<table id="counts">
<thead><tr><th class="l">layer</th><th class="l">kind</th><th>hits</th><th>misses</th><th>fills</th><th>not found</th><th>negative hits</th><th>errors</th><th>shared waits</th><th>stale served</th><th>invalidated</th><th>evicted</th><th>hit ratio</th></tr></thead>
<tbody>
{{range .Counts}}{{with .Node}}<tr><td class="l">{{.Name}}</td><td class="l">{{.Kind}}</td>{{with .Stats}}<td>{{.Hits}}</td><td>{{.Misses}}</td><td>{{.Fills}}</td><td>{{.NotFound}}</td><td>{{.NegativeHits}}</td><td>{{.Errors}}</td><td>{{.SharedWaits}}</td><td>{{.StaleServed}}</td><td>{{.Invalidated}}</td><td>{{.Evicted}}</td>{{end}}{{end}}<td>{{.Ratio}}</td></tr>
{{end -}}
</tbody>
</table>
{{- else -}}
<p>No layer counts its events. Give the cache layers an observer that counts, such as middleware.Observe's.</p>
{{- end}}
</body>
</html>
`))
