package middleware_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// logBuffer is where a test logger writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the lines written so far and forgets them.
func (b *logBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimSuffix(b.buf.String(), "\n")
	b.buf.Reset()
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// dropTimes drops the attributes that change from run to run.
func dropTimes(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey || a.Key == "duration" {
		return slog.Attr{}
	}
	return a
}

// newLogger returns a text logger at level, and where it writes.
func newLogger(level slog.Leveler) (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level, ReplaceAttr: dropTimes})), b
}

var errDown = errors.New("down")

// source is a Fetcher of upper-cased keys, with "missing" not found and
// "down" failing.
var source = pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
	switch k {
	case "missing":
		return "", pipeline.ErrNotFound
	case "down":
		return "", errDown
	}
	return strings.ToUpper(k), nil
})

// twoLayers returns outer and inner cache layers over source, with the
// outer store to empty it, and negative caching on the outer layer.
func twoLayers() (pipeline.Fetcher[string, string], *testkit.Map[string, string]) {
	outerMem := testkit.NewMap[string, string]()
	inner := pipeline.Cache("inner", testkit.NewMap[string, string](), nil)(source)
	outer := pipeline.Cache("outer", outerMem, &pipeline.CacheOptions[string]{NegativeTTL: time.Hour})(inner)
	return outer, outerMem
}

func TestLog(t *testing.T) {
	t.Parallel()
	logger, out := newLogger(slog.LevelDebug)
	stack, outerMem := twoLayers()
	f := middleware.Log[string, string](logger, "docs", nil)(stack)

	steps := []struct {
		name    string
		key     string
		prepare func()
		want    string
	}{
		{name: "fill", key: "a", want: "level=DEBUG msg=fetch layer=docs key=a outcome=fill served_by=source"},
		{name: "outer hit", key: "a", want: "level=DEBUG msg=fetch layer=docs key=a outcome=hit served_by=outer"},
		{
			name:    "inner hit",
			key:     "a",
			prepare: func() { outerMem.Delete(t.Context(), "a") },
			want:    "level=DEBUG msg=fetch layer=docs key=a outcome=hit served_by=inner",
		},
		{name: "not found", key: "missing", want: `level=INFO msg=fetch layer=docs key=missing outcome="not found" served_by=source`},
		{name: "negative hit", key: "missing", want: `level=INFO msg=fetch layer=docs key=missing outcome="not found" served_by=outer`},
		{name: "error", key: "down", want: `level=ERROR msg=fetch layer=docs key=down outcome=error error="pipeline: outer: pipeline: inner: down"`},
	}
	for _, st := range steps {
		// Steps build on each other: not parallel.
		t.Run(st.name, func(t *testing.T) {
			if st.prepare != nil {
				st.prepare()
			}
			_, _ = f.Fetch(t.Context(), st.key)
			require.Equal(t, []string{st.want}, out.lines())
		})
	}
}

// TestLogLevels: records are written at the level of their outcome, only
// when the logger is enabled there; served_by needs found records enabled.
func TestLogLevels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler slog.Level
		opts    *middleware.LogOptions[string]
		want    []string
	}{
		{
			name:    "debug handler, defaults",
			handler: slog.LevelDebug,
			want: []string{
				"level=DEBUG msg=fetch layer=l key=a outcome=fill served_by=source",
				`level=INFO msg=fetch layer=l key=missing outcome="not found" served_by=source`,
				`level=ERROR msg=fetch layer=l key=down outcome=error error="pipeline: outer: pipeline: inner: down"`,
			},
		},
		{
			name:    "info handler, defaults: no found records, no tracing",
			handler: slog.LevelInfo,
			want: []string{
				`level=INFO msg=fetch layer=l key=missing outcome="not found"`,
				`level=ERROR msg=fetch layer=l key=down outcome=error error="pipeline: outer: pipeline: inner: down"`,
			},
		},
		{
			name:    "error handler, defaults",
			handler: slog.LevelError,
			want: []string{
				`level=ERROR msg=fetch layer=l key=down outcome=error error="pipeline: outer: pipeline: inner: down"`,
			},
		},
		{
			name:    "info handler, found at info",
			handler: slog.LevelInfo,
			opts:    &middleware.LogOptions[string]{FoundLevel: slog.LevelInfo, NotFoundLevel: slog.LevelWarn, ErrorLevel: slog.LevelWarn + 2},
			want: []string{
				"level=INFO msg=fetch layer=l key=a outcome=fill served_by=source",
				`level=WARN msg=fetch layer=l key=missing outcome="not found" served_by=source`,
				`level=WARN+2 msg=fetch layer=l key=down outcome=error error="pipeline: outer: pipeline: inner: down"`,
			},
		},
		{
			name:    "nothing enabled",
			handler: slog.LevelError + 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logger, out := newLogger(tt.handler)
			stack, _ := twoLayers()
			f := middleware.Log[string, string](logger, "l", tt.opts)(stack)
			for _, k := range []string{"a", "missing", "down"} {
				_, _ = f.Fetch(t.Context(), k)
			}
			require.Equal(t, tt.want, out.lines())
		})
	}
}

// TestLogLevelVar: levels given as a *slog.LevelVar can change while the
// pipeline runs.
func TestLogLevelVar(t *testing.T) {
	t.Parallel()
	logger, out := newLogger(slog.LevelInfo)
	var found slog.LevelVar
	found.Set(slog.LevelDebug)
	f := middleware.Log[string, string](logger, "l", &middleware.LogOptions[string]{FoundLevel: &found})(source)

	_, _ = f.Fetch(t.Context(), "a")
	require.Empty(t, out.lines())
	found.Set(slog.LevelInfo)
	_, _ = f.Fetch(t.Context(), "a")
	require.Equal(t, []string{"level=INFO msg=fetch layer=l key=a outcome=found served_by=source"}, out.lines())
}

// TestLogOverInspect: a Log layer sees the answer of a layer below an
// Inspect layer, whose trace would otherwise hide it.
func TestLogOverInspect(t *testing.T) {
	t.Parallel()
	logger, out := newLogger(slog.LevelDebug)
	var r reports[string]
	f := middleware.Log[string, string](logger, "l", nil)(
		middleware.Inspect[string](r.report)(
			pipeline.Cache("c", testkit.NewMap[string, string](), nil)(source)))

	for range 2 {
		_, err := f.Fetch(t.Context(), "a")
		require.NoError(t, err)
	}
	require.Equal(t, []string{
		"level=DEBUG msg=fetch layer=l key=a outcome=fill served_by=source",
		"level=DEBUG msg=fetch layer=l key=a outcome=hit served_by=c",
	}, out.lines())
	got := r.take()
	require.Len(t, got, 2)
	require.Equal(t, []string{"miss c a", "fill c a"}, got[0].events)
	require.Equal(t, []string{"hit c a"}, got[1].events)
}

// TestLogDuration: the record carries the time spent below.
func TestLogDuration(t *testing.T) {
	t.Parallel()
	b := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := middleware.Log[string, string](logger, "l", nil)(source)
	_, _ = f.Fetch(t.Context(), "a")
	lines := b.lines()
	require.Len(t, lines, 1)
	require.Contains(t, lines[0], `"duration":`)
}

func TestLogPanics(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)
	tests := []struct {
		name  string
		build func()
		want  string
	}{
		{
			name:  "nil logger",
			build: func() { middleware.Log[string, string](nil, "l", nil) },
			want:  "middleware: Log: nil logger",
		},
		{
			name:  "empty name",
			build: func() { middleware.Log[string, string](logger, "", nil) },
			want:  "middleware: Log: empty layer name",
		},
		{
			name:  "nil next",
			build: func() { middleware.Log[string, string](logger, "l", nil)(nil) },
			want:  "middleware: Log l: nil next Fetcher",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.PanicsWithValue(t, tt.want, tt.build)
		})
	}
}

// TestLogKeyOptionDecidesTheKeyAttribute: LogOptions.Key gives the value of
// the key attribute; DropKey, or any empty group, leaves it out.
func TestLogKeyOptionDecidesTheKeyAttribute(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	hashed := middleware.HashKey[string](secret)
	tests := []struct {
		name string
		key  func(string) slog.Value
		want []string
	}{
		{
			name: "default: the key itself",
			want: []string{
				"level=DEBUG msg=fetch layer=l key=a outcome=found served_by=source",
				`level=INFO msg=fetch layer=l key=missing outcome="not found" served_by=source`,
			},
		},
		{
			name: "a function of the key",
			key:  func(k string) slog.Value { return slog.IntValue(len(k)) },
			want: []string{
				"level=DEBUG msg=fetch layer=l key=1 outcome=found served_by=source",
				`level=INFO msg=fetch layer=l key=7 outcome="not found" served_by=source`,
			},
		},
		{
			name: "hashed",
			key:  hashed,
			want: []string{
				"level=DEBUG msg=fetch layer=l key=" + hashed("a").String() + " outcome=found served_by=source",
				`level=INFO msg=fetch layer=l key=` + hashed("missing").String() + ` outcome="not found" served_by=source`,
			},
		},
		{
			name: "dropped",
			key:  middleware.DropKey[string],
			want: []string{
				"level=DEBUG msg=fetch layer=l outcome=found served_by=source",
				`level=INFO msg=fetch layer=l outcome="not found" served_by=source`,
			},
		},
		{
			name: "a group with attributes is kept",
			key:  func(k string) slog.Value { return slog.GroupValue(slog.Int("len", len(k))) },
			want: []string{
				"level=DEBUG msg=fetch layer=l key.len=1 outcome=found served_by=source",
				`level=INFO msg=fetch layer=l key.len=7 outcome="not found" served_by=source`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logger, out := newLogger(slog.LevelDebug)
			f := middleware.Log[string, string](logger, "l", &middleware.LogOptions[string]{Key: tt.key})(source)
			for _, k := range []string{"a", "missing"} {
				_, _ = f.Fetch(t.Context(), k)
			}
			require.Equal(t, tt.want, out.lines())
		})
	}
}

// TestLogKeyIsNotCalledWhenNothingIsWritten: the Key function runs only
// for records that are written.
func TestLogKeyIsNotCalledWhenNothingIsWritten(t *testing.T) {
	t.Parallel()
	logger, out := newLogger(slog.LevelInfo)
	var mu sync.Mutex
	var called []string
	key := func(k string) slog.Value {
		mu.Lock()
		defer mu.Unlock()
		called = append(called, k)
		return slog.StringValue(k)
	}
	f := middleware.Log[string, string](logger, "l", &middleware.LogOptions[string]{Key: key})(source)
	for _, k := range []string{"a", "missing"} {
		_, _ = f.Fetch(t.Context(), k)
	}
	require.Equal(t, []string{`level=INFO msg=fetch layer=l key=missing outcome="not found"`}, out.lines())
	require.Equal(t, []string{"missing"}, called)
}

// TestLogReportsSharedFetch: a fetch that joined another one's flight is logged
// as "shared", served by the layer whose flight it joined.
func TestLogReportsSharedFetch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		logger, buf := newLogger(slog.LevelDebug)
		release := make(chan struct{})
		src := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
			<-release
			return k, nil
		})
		f := middleware.Log[string, string](logger, "top", nil)(
			pipeline.Cache("c", testkit.NewMap[string, string](), nil)(src))
		var wg sync.WaitGroup
		wg.Go(func() {
			_, err := f.Fetch(t.Context(), "a")
			require.NoError(t, err)
		})
		synctest.Wait()
		wg.Go(func() {
			_, err := f.Fetch(t.Context(), "a")
			require.NoError(t, err)
		})
		synctest.Wait()
		close(release)
		wg.Wait()
		require.ElementsMatch(t, []string{
			"level=DEBUG msg=fetch layer=top key=a outcome=fill served_by=source",
			"level=DEBUG msg=fetch layer=top key=a outcome=shared served_by=c",
		}, buf.lines())
	})
}

// TestLogReportsStaleValue: a value served stale-if-error is logged as "stale",
// served by the layer that kept it.
func TestLogReportsStaleValue(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		logger, buf := newLogger(slog.LevelDebug)
		var fail atomic.Bool
		src := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
			if fail.Load() {
				return "", errBatchBelow
			}
			return k, nil
		})
		c := pipeline.Cache("c", newExpiring[string, string](),
			&pipeline.CacheOptions[string]{TTL: time.Minute, StaleIfError: time.Hour})(src)
		f := middleware.Log[string, string](logger, "top", nil)(c)
		_, err := f.Fetch(t.Context(), "a")
		require.NoError(t, err)
		time.Sleep(2 * time.Minute)
		fail.Store(true)
		v, err := f.Fetch(t.Context(), "a")
		require.NoError(t, err)
		require.Equal(t, "a", v)
		require.Equal(t, []string{
			"level=DEBUG msg=fetch layer=top key=a outcome=fill served_by=source",
			"level=DEBUG msg=fetch layer=top key=a outcome=stale served_by=c",
		}, buf.lines())
	})
}

// A logged record carries how long the fetch took below the layer, whether
// found values are logged (the fetch is traced) or not (a plain fetch).
func TestLogRecordsHowLongTheFetchTook(t *testing.T) {
	t.Parallel()
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		t.Run(level.String(), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				b := &logBuffer{}
				keepDuration := func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				}
				logger := slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level, ReplaceAttr: keepDuration}))
				slow := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
					time.Sleep(3 * time.Second)
					return "", pipeline.ErrNotFound
				})
				f := middleware.Log[string, string](logger, "l", nil)(slow)
				_, err := f.Fetch(t.Context(), "k")
				require.ErrorIs(t, err, pipeline.ErrNotFound)
				lines := b.lines()
				require.Len(t, lines, 1)
				require.Contains(t, lines[0], `outcome="not found"`)
				require.True(t, strings.HasSuffix(lines[0], " duration=3s"), lines[0])
			})
		})
	}
}
