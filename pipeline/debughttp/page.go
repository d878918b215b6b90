package debughttp

import "html/template"

// page is the HTML form: a card per layer, then the tree and the table of
// counts. It needs no script; with a refresh, a meta refresh reloads it.
var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"refreshes": func() []int { return []int{0, 5, 30} },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">
{{end -}}
<title>multilayer pipelines</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.2em 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
.meta { color: #555; margin: 0 0 1em; }
.meta a, .meta b { margin: 0 .15em; }
pre { background: #f5f5f5; padding: 1em; overflow-x: auto; line-height: 1.3; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: .3em .55em; border-bottom: 1px solid #ddd; text-align: right; }
th.l, td.l { text-align: left; }
th { font-weight: 600; background: #fafafa; }
.cards { display: grid; gap: 1em; }
.body { display: flex; flex-wrap: wrap; gap: .5em 2em; justify-content: space-between; }
.state { flex: 1 1 28em; min-width: 0; }
.note { color: #666; }
.card { min-width: 0; border: 1px solid #ccc; border-left: 6px solid #3a7; border-radius: 4px; padding: .6em .9em; }
.card.failing { border-left-color: #c33; }
.card.quiet { border-left-color: #bbb; }
.card h3 { margin: 0 0 .4em; font-size: 1.15em; }
.kind { font-weight: normal; color: #666; font-size: .85em; }
.figures { display: flex; gap: 1.6em; margin: .2em 0 .5em; font-variant-numeric: tabular-nums; }
.figures div { display: flex; flex-direction: column; }
.figures b { font-size: 1.5em; }
.figures span { color: #666; font-size: .8em; }
.figures .bad b { color: #c33; }
.line1 { margin: .2em 0; font-size: .9em; font-variant-numeric: tabular-nums; }
.counts span { white-space: nowrap; }
.bar { display: inline-block; width: 8em; height: .7em; background: #e6e6e6; vertical-align: middle; margin: 0 .4em; }
.bar i { display: block; height: 100%; background: #58a; }
.charts { display: flex; flex-wrap: wrap; gap: .5em; margin: .3em 0; }
.charts figure { margin: 0; }
.charts figcaption { font-size: .8em; color: #555; }
.chart .plot { fill: #fafafa; stroke: #ddd; }
.chart .grid { stroke: #e4e4e4; }
.chart .line { fill: none; stroke: #36c; stroke-width: 1.6; }
.chart .dot { fill: #36c; }
.chart text { font-size: 10px; fill: #666; }
.chart .yl { text-anchor: end; }
.chart .xr { text-anchor: end; }
.err { margin: .4em 0 .2em; font-size: .9em; }
.err code { color: #a22; word-break: break-word; }
.ok { color: #2a6; }
.settings { font-size: .8em; color: #444; margin: .4em 0 0; line-height: 1.5; }
.settings span { white-space: nowrap; margin-right: .9em; }
.settings b { font-weight: 600; color: #222; }
</style>
</head>
<body>
<h1>multilayer pipelines</h1>
<p class="meta">As of {{.Now}}. Auto-refresh: {{$r := .Refresh}}{{range $s := (refreshes)}}{{if eq $s $r}}<b>{{if $s}}{{$s}}s{{else}}off{{end}}</b>{{else}}<a href="?{{if $s}}refresh={{$s}}{{end}}">{{if $s}}{{$s}}s{{else}}off{{end}}</a>{{end}}{{end}}.
Also as <a href="?format=json">JSON</a> and <a href="?format=text">text</a>.{{if .HasHistory}}
Charts: a point per {{.Every}} over the last {{.Window}}; a gap is an interval with no lookup, or no fetch below.{{end}}</p>
{{if .Cards}}<section class="cards">
{{range .Cards}}<article class="card{{if .Recent}} failing{{else if not .Counted}} quiet{{end}}"{{if .Recent}} title="an error less than 15 minutes ago"{{end}}>
<h3>{{.Name}} <span class="kind">{{.Kind}}{{with .Detail}}, {{.}}{{end}}</span></h3>
<div class="body">
<div class="state">
{{if .Counted}}<div class="figures">
<div><b>{{.Ratio}}</b><span>hit ratio</span></div>
<div><b>{{.P50}}</b><span>p50 below</span></div>
<div><b>{{.P99}}</b><span>p99 below</span></div>
<div{{if .Errors}} class="bad"{{end}}><b>{{.Errors}}</b><span>errors</span></div>
</div>
{{else}}<p class="line1">No counts: give the layer a middleware.Metrics (as pipeline.CacheOptions.Metrics) or another observer that counts.</p>
{{end}}{{if .Entries}}<p class="line1 counts"><span>entries {{.Entries}}</span>{{if ge .FillPct 0}}<span class="bar" title="{{.FillPct}}% full"><i style="width: {{.FillPct}}%"></i></span><span>{{.FillPct}}% full</span>{{end}}{{with .Evicted}} · <span>{{.}} evicted</span>{{end}}</p>
{{end}}{{if .Counted}}<p class="line1 counts"><span>hits {{.Hits}}</span> · <span>misses {{.Misses}}</span>{{range .Others}} · <span>{{.Name}} {{.N}}</span>{{end}}{{if .Timed}} · <span>{{.Timed}} fetches below timed</span>{{end}}</p>
{{end}}{{if .LastError}}<p class="err">last error <time>{{.ErrorAt}}</time> ({{.ErrorAgo}}):<br><code>{{.LastError.Message}}</code></p>
{{else if .Counted}}<p class="err ok">no error</p>
{{end}}</div>
{{if .RatioChart}}<div class="charts">
<figure><figcaption>hit ratio, per {{$.Every}}{{with .RatioNow}}: last <b>{{.}}</b>{{end}}</figcaption>{{.RatioChart}}</figure>
<figure><figcaption>p99 time below, per {{$.Every}}{{if .RatioNow}}: last <b>{{or .P99Now "no fetch below"}}</b>{{end}}</figcaption>{{.P99Chart}}</figure>
</div>
{{else if and .Counted (not $.HasHistory)}}<p class="line1 note">No charts: serve the page from a debughttp.Sampler to chart the last minutes.</p>
{{end}}</div>
{{with .Settings}}<p class="settings">{{range .}}<span>{{.Name}} <b>{{.Value}}</b></span> {{end}}</p>
{{end}}</article>
{{end}}</section>
{{end}}
<h2>Tree</h2>
<p>Each tree starts at a source; below each layer stand the layers that fetch from it, and a layer shared by several stands once, with all of them below it.</p>
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
<p>No layer counts its events. Give the cache layers a middleware.Metrics (as pipeline.CacheOptions.Metrics) or another observer that counts.</p>
{{- end}}
</body>
</html>
`))
