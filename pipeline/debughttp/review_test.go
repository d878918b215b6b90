package debughttp_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/pipeline/debughttp"
)

// TestReviewHTMLEscapesEverywhere: hostile names, kinds and details are
// escaped in the tree and in the counts table, and JSON stays valid and
// escapes markup.
func TestReviewHTMLEscapesEverywhere(t *testing.T) {
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

// TestReviewMethods: every method but GET and HEAD is refused with 405 and
// an Allow header, and nothing of the tree leaks.
func TestReviewMethods(t *testing.T) {
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

// TestReviewNegotiate: content negotiation by Accept.
func TestReviewNegotiate(t *testing.T) {
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
