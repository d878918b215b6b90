package debughttp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// Handler returns an http.Handler that serves the tree of the pipelines
// whose outermost Fetchers are given (see pipeline.TreeOf), with the live
// counts of their layers, as an HTML page, JSON or text (see the package
// documentation). It answers methods other than GET and HEAD with 405, and
// an unknown format with 400. It is safe for concurrent use.
func Handler(outer ...any) http.Handler {
	return &handler{outer: outer}
}

type handler struct{ outer []any }

// contentTypes maps each format the handler serves to its content type.
var contentTypes = map[string]string{
	"html": "text/html; charset=utf-8",
	"json": "application/json",
	"text": "text/plain; charset=utf-8",
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "debughttp: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = negotiate(r.Header.Get("Accept"))
		w.Header().Set("Vary", "Accept")
	}
	contentType, ok := contentTypes[format]
	if !ok {
		msg := fmt.Sprintf("debughttp: unknown format %q: want html, json or text", format)
		http.Error(w, msg, http.StatusBadRequest)
		return
	}

	tree := pipeline.TreeOf(h.outer...)
	var body bytes.Buffer
	var err error
	switch format {
	case "html":
		err = page.Execute(&body, newView(tree))
	case "json":
		enc := json.NewEncoder(&body)
		enc.SetIndent("", "  ")
		err = enc.Encode(struct {
			Tree pipeline.Tree `json:"tree"`
		}{tree})
	case "text":
		body.WriteString(tree.String())
	}
	if err != nil {
		http.Error(w, "debughttp: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(body.Len()))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodHead {
		_, _ = body.WriteTo(w)
	}
}

// negotiate returns the format whose media type the Accept header rates
// highest; html on a tie or when it accepts none of them.
func negotiate(accept string) string {
	best, bestQ := "html", 0.0
	for _, f := range [...]struct{ format, mediaType string }{
		{"html", "text/html"}, {"json", "application/json"}, {"text", "text/plain"},
	} {
		if q := quality(accept, f.mediaType); q > bestQ {
			best, bestQ = f.format, q
		}
	}
	return best
}

// quality returns the quality the Accept header gives to mediaType: that of
// its most specific matching range (type/sub, then type/*, then */*), or 0
// if none matches.
func quality(accept, mediaType string) float64 {
	typ, _, _ := strings.Cut(mediaType, "/")
	ranges := []string{"*/*", typ + "/*", mediaType} // least specific first
	q, specificity := 0.0, -1
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(part)
		s := slices.Index(ranges, mt)
		if err != nil || s <= specificity {
			continue
		}
		specificity, q = s, 1
		if f, err := strconv.ParseFloat(params["q"], 64); err == nil {
			q = f
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
<thead><tr><th class="l">layer</th><th class="l">kind</th><th>hits</th><th>misses</th><th>fills</th><th>not found</th><th>negative hits</th><th>errors</th><th>shared waits</th><th>stale served</th><th>invalidated</th><th>evicted</th><th>entries</th><th>hit ratio</th></tr></thead>
<tbody>
{{range .Counts}}{{with .Node}}<tr><td class="l">{{.Name}}</td><td class="l">{{.Kind}}</td>{{with .Stats}}<td>{{.Hits}}</td><td>{{.Misses}}</td><td>{{.Fills}}</td><td>{{.NotFound}}</td><td>{{.NegativeHits}}</td><td>{{.Errors}}</td><td>{{.SharedWaits}}</td><td>{{.StaleServed}}</td><td>{{.Invalidated}}</td><td>{{.Evicted}}</td>{{end}}<td>{{with .Usage}}{{.Entries}}{{if .Capacity}}/{{.Capacity}}{{end}}{{else}}–{{end}}</td>{{end}}<td>{{.Ratio}}</td></tr>
{{end -}}
</tbody>
</table>
{{- else -}}
<p>No layer counts its events. Give the cache layers an observer that counts, such as middleware.Observe's.</p>
{{- end}}
</body>
</html>
`))
