package debughttp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// Handler returns an http.Handler that serves the tree of the pipelines
// whose outermost Fetchers are given (see pipeline.TreeOf), with the live
// state of their layers, as an HTML page, JSON or text (see the package
// documentation). It answers methods other than GET and HEAD with 405, and
// a bad query parameter with a short 400. It is safe for concurrent use.
// For charts of the last minutes, use a Sampler's Handler.
func Handler(outer ...any) http.Handler {
	return &handler{outer: outer}
}

type handler struct {
	outer   []any
	history *Sampler // nil: no charts
}

// contentTypes maps each format the handler serves to its content type.
var contentTypes = map[string]string{
	"html": "text/html; charset=utf-8",
	"json": "application/json",
	"text": "text/plain; charset=utf-8",
}

// Bounds of the refresh parameter, in seconds.
const (
	minRefresh = 1
	maxRefresh = 3600
)

// Errors of the query, answered with 400. They never repeat what the
// request sent.
var (
	errFormat  = "debughttp: bad format: want html, json or text"
	errRefresh = fmt.Sprintf("debughttp: bad refresh: want whole seconds from %d to %d", minRefresh, maxRefresh)
)

// params are what the query asks for.
type params struct {
	format     string
	negotiated bool // format came from the Accept header
	refresh    int  // seconds; 0: no refresh
}

// parseQuery reads the format and refresh parameters of r, or returns the
// error to answer. Other parameters are ignored.
func parseQuery(r *http.Request) (params, string) {
	q := r.URL.Query()
	p := params{format: q.Get("format")}
	if p.format == "" {
		p.format, p.negotiated = negotiate(r.Header.Get("Accept")), true
	}
	if _, ok := contentTypes[p.format]; !ok {
		return p, errFormat
	}
	if v := q.Get("refresh"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < minRefresh || n > maxRefresh {
			return p, errRefresh
		}
		p.refresh = n
	}
	return p, ""
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "debughttp: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p, bad := parseQuery(r)
	if p.negotiated {
		w.Header().Set("Vary", "Accept")
	}
	if bad != "" {
		http.Error(w, bad, http.StatusBadRequest)
		return
	}
	tree := pipeline.TreeOf(h.outer...)
	var body bytes.Buffer
	var err error
	switch p.format {
	case "html":
		err = page.Execute(&body, newView(tree, h.history, p.refresh, time.Now()))
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
	w.Header().Set("Content-Type", contentTypes[p.format])
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
