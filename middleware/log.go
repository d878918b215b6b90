package middleware

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/multilayer-cache/multilayer/internal/clock"
	"github.com/multilayer-cache/multilayer/internal/plumbing"
	"github.com/multilayer-cache/multilayer/internal/served"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// LogOptions configure Log for keys of type K. The zero value, and a nil
// pointer, mean defaults. The levels are slog.Levelers, so that a
// *slog.LevelVar can change them while the pipeline runs; a nil Leveler
// means the default.
type LogOptions[K any] struct {
	// FoundLevel is the level of a fetch that returned a value, whether a
	// layer below held it or the source gave it. Default slog.LevelDebug:
	// found values are the common case, worth seeing while debugging only.
	FoundLevel slog.Leveler
	// NotFoundLevel is the level of a fetch that reported not found (an
	// error wrapping pipeline.ErrNotFound). Default slog.LevelInfo.
	NotFoundLevel slog.Leveler
	// ErrorLevel is the level of a fetch that failed otherwise, a caller's
	// cancellation included. Default slog.LevelError.
	ErrorLevel slog.Leveler
	// Key decides how a key appears in a record: it returns the value of
	// the "key" attribute. Default: the key itself (slog.AnyValue), which
	// writes user ids, emails and other personal data to the logs as they
	// are. Use HashKey to write a keyed hash instead, from which the key
	// cannot be read back without the secret, or DropKey to leave the
	// attribute out: a Key that returns an empty group value
	// (slog.GroupValue()) writes no "key" attribute. Key is called on the
	// fetching goroutine, only for records that are written, from many
	// goroutines at once: it must be safe for concurrent use.
	Key func(K) slog.Value
}

// Log returns a middleware that writes one record per fetch to logger, at a
// level chosen by the outcome (see LogOptions). The message is "fetch" and
// the attributes are:
//
//   - layer: name;
//   - key: the key, as LogOptions.Key shows it (the key itself by default;
//     see HashKey and DropKey to keep keys out of logs);
//   - outcome: "hit" (a cache layer below held the value), "stale" (a layer
//     served an expired value because below it failed), "shared" (a layer
//     joined a fetch of the key that another caller had started), "fill"
//     (the value came from the source and the cache layers below stored it),
//     "found" (the value came from below with no cache layer storing it, or
//     the fetch was not traced, see below), "not found" or "error";
//   - served_by: which layer answered, for found and not-found outcomes: the
//     name of the layer whose hit, negative hit, stale value or shared fetch
//     answered first, or "source" when every layer below missed;
//   - duration: the time the fetch took below this layer;
//   - error: the error, for the "error" outcome.
//
// Log takes the user's logger and never picks a handler. It checks
// logger.Enabled first and does nothing more when no record could be
// written. Keys also reach logs inside errors whose text names them (a
// source's "bucket: c: not found"): Key does not change errors.
// served_by and the hit/fill distinction come from tracing the
// fetch (pipeline.WithTrace, as Inspect does), which costs allocations, so
// the fetch is traced only when the logger is enabled at FoundLevel, that
// is, when every fetch is logged; otherwise records carry no served_by and
// a found value is "found". Errors and values from below are returned
// unchanged. Log is safe for concurrent use.
//
// The returned Fetcher implements pipeline.EntryFetcher,
// pipeline.Invalidator, pipeline.Clearer and pipeline.Closer (passed to
// next, not logged), and pipeline.Describer. It is not a
// pipeline.BatchFetcher: a batch reaching it is fetched key by key, each
// fetch logged on its own.
//
// Log panics if logger is nil or name is empty, and the middleware panics if
// next is nil.
func Log[K, V any](logger *slog.Logger, name string, opts *LogOptions[K]) pipeline.Middleware[K, V] {
	if logger == nil {
		panic("middleware: Log: nil logger")
	}
	if name == "" {
		panic("middleware: Log: empty layer name")
	}
	var o LogOptions[K]
	if opts != nil {
		o = *opts
	}
	if o.FoundLevel == nil {
		o.FoundLevel = slog.LevelDebug
	}
	if o.NotFoundLevel == nil {
		o.NotFoundLevel = slog.LevelInfo
	}
	if o.ErrorLevel == nil {
		o.ErrorLevel = slog.LevelError
	}
	return func(next pipeline.Fetcher[K, V]) pipeline.Fetcher[K, V] {
		plumbing.MustNext("middleware: Log "+name, next)
		return &logged[K, V]{logger: logger, name: name, opts: o, passInward: inward(next), entries: pipeline.Entries(next)}
	}
}

// logged is the Fetcher returned by Log.
type logged[K, V any] struct {
	logger           *slog.Logger
	name             string
	opts             LogOptions[K] // levels set; Key may be nil
	passInward[K, V]               // next, and Invalidate, Clear and Close passed to it
	entries          pipeline.EntryFetcher[K, V]
}

// Fetch fetches key from next and logs the outcome. When found values are
// not logged, it asks next with Fetch, a cache layer's fastest path, and
// logs only a fetch that failed.
func (l *logged[K, V]) Fetch(ctx context.Context, key K) (V, error) {
	on, traced := l.mode(ctx)
	switch {
	case !on:
		return l.next.Fetch(ctx, key)
	case !traced:
		start := clock.Mono()
		v, err := l.next.Fetch(ctx, key)
		if err != nil {
			l.log(ctx, key, err, clock.Mono()-start, nil)
		}
		return v, err
	}
	e, err := l.fetch(ctx, key, traced)
	return e.Value, err
}

// FetchEntry fetches the entry of key from next and logs the outcome.
func (l *logged[K, V]) FetchEntry(ctx context.Context, key K) (pipeline.Entry[V], error) {
	on, traced := l.mode(ctx)
	if !on {
		return l.entries.FetchEntry(ctx, key)
	}
	return l.fetch(ctx, key, traced)
}

// mode tells whether a record could be written (on), and whether to trace
// the fetch: only when found values, the common case, are logged.
func (l *logged[K, V]) mode(ctx context.Context) (on, traced bool) {
	if l.logger.Enabled(ctx, l.opts.FoundLevel.Level()) {
		return true, true
	}
	return l.logger.Enabled(ctx, l.opts.NotFoundLevel.Level()) || l.logger.Enabled(ctx, l.opts.ErrorLevel.Level()), false
}

// fetch fetches key, timed and maybe traced, and logs the outcome.
func (l *logged[K, V]) fetch(ctx context.Context, key K, traced bool) (pipeline.Entry[V], error) {
	var a *answer
	fctx := ctx
	if traced {
		a = &answer{}
		var end func()
		fctx, end = pipeline.WithTrace(ctx, a)
		defer end()
	}
	start := clock.Mono() // cheaper than time.Now: see clock.Mono
	e, err := l.entries.FetchEntry(fctx, key)
	l.log(ctx, key, err, clock.Mono()-start, a)
	return e, err
}

// log writes the record of one fetch. a is nil if the fetch was not traced.
func (l *logged[K, V]) log(ctx context.Context, key K, err error, d time.Duration, a *answer) {
	var level slog.Level
	var outcome, servedBy string
	switch {
	case err == nil:
		level = l.opts.FoundLevel.Level()
		outcome, servedBy = a.found()
	case errors.Is(err, pipeline.ErrNotFound):
		level = l.opts.NotFoundLevel.Level()
		outcome, servedBy = "not found", a.notFound()
	default:
		level = l.opts.ErrorLevel.Level()
		outcome = "error"
	}
	if !l.logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs, slog.String("layer", l.name))
	if v := l.keyValue(key); v.Kind() != slog.KindGroup || len(v.Group()) > 0 {
		attrs = append(attrs, slog.Attr{Key: "key", Value: v})
	}
	attrs = append(attrs, slog.String("outcome", outcome))
	if servedBy != "" {
		attrs = append(attrs, slog.String("served_by", servedBy))
	}
	attrs = append(attrs, slog.Duration("duration", d))
	if outcome == "error" {
		attrs = append(attrs, slog.Any("error", err))
	}
	l.logger.LogAttrs(ctx, level, "fetch", attrs...)
}

// keyValue returns the value of the key attribute of key's record.
func (l *logged[K, V]) keyValue(key K) slog.Value {
	if l.opts.Key == nil {
		return slog.AnyValue(key)
	}
	return l.opts.Key(key)
}

// Describe says that the layer logs fetches.
func (l *logged[K, V]) Describe() pipeline.Description {
	return pipeline.Description{Name: l.name, Kind: "log", Next: []any{l.next}}
}

// answer is the layer that answered a fetch, as its trace shows (nil when
// the fetch was not traced).
type answer struct{ served.Answer }

// found returns the outcome and server of a fetch that found a value; a may
// be nil (not traced).
func (a *answer) found() (outcome, servedBy string) {
	if a == nil {
		return "found", ""
	}
	return a.Found()
}

// notFound returns the server of a fetch that found nothing; a may be nil.
func (a *answer) notFound() (servedBy string) {
	if a == nil {
		return ""
	}
	return a.NotFound()
}
