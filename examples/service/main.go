// Command service is an HTTP service over a layered cache. A bucket of JSON
// files is the source; raw_files caches their bytes; parsed_files caches
// the parsed documents by (blob id, parser version); sizes caches the size
// of each file. raw_files is shared by the two others, so the pipeline is a
// tree. The service exposes
//
//	GET /files/{id}                 the raw file
//	GET /docs/{id}?parser=v1        the parsed document, as JSON
//	GET /sizes/{id}                 the size of the file, in bytes
//	GET /metrics                    the layers' metrics, for Prometheus
//	GET /debug/multilayer           the state of every layer, with charts, and the tree
//
// Run it with
//
//	go run ./examples/service [-addr 127.0.0.1:8080] [-bucket-latency 10ms] [-redis 127.0.0.1:6379]
//
// The listen address comes from -addr, else from the environment variable
// ADDR, else 127.0.0.1:8080. Port 0 picks a free port; the address is
// logged at start. Logs go to standard output, through slog and tint.
//
// With -redis (or the environment variable REDIS_ADDR), raw_files sits on
// the distributed tier: an invalidation bus over a Redis layer, on the
// server at that address, so that several instances of the service share
// the bucket's files and keep their own layers coherent. Without it, the
// service needs no server. A server that does not answer at start is
// logged; the service runs all the same, from the bucket, and uses Redis
// once it answers.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lmittmann/tint"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/middleware/prom"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/pipeline/debughttp"
	"github.com/multilayer-cache/multilayer/stores"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "service:", err)
		os.Exit(1)
	}
}

// config is what the flags and the environment set.
type config struct {
	addr          string
	bucketLatency time.Duration
	redis         string // the Redis server's address; empty: no Redis
}

// parseConfig reads the flags in args, with defaults from the environment
// (through getenv).
func parseConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.SetOutput(usage)
	addr := getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	fs.StringVar(&c.addr, "addr", addr, "listen `address`; port 0 picks a free one, logged at start (default from $ADDR)")
	fs.DurationVar(&c.bucketLatency, "bucket-latency", 10*time.Millisecond, "simulated latency of the bucket")
	fs.StringVar(&c.redis, "redis", getenv("REDIS_ADDR"), "put a Redis layer and an invalidation bus, on the Redis server at `address`, under raw_files (default from $REDIS_ADDR; none if empty)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return c, nil
}

// run reads the configuration from the command line and the environment,
// and serves until ctx ends.
func run(ctx context.Context, w io.Writer) error {
	c, err := parseConfig(os.Args[1:], os.Getenv, w)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	return serve(ctx, w, ln, c)
}

// newLogger returns a logger that writes text to w through tint, without
// colours or times, so that the output is plain and can be checked.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(tint.NewHandler(w, &tint.Options{
		NoColor: true,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// serve serves on ln until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, w io.Writer, ln net.Listener, c config) error {
	logger := newLogger(w)
	p, err := newPipeline(ctx, logger, c)
	if err != nil {
		ln.Close()
		return err
	}
	defer p.close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(prom.NewCollector(p.metrics, nil))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", index)
	mux.HandleFunc("GET /files/{id}", p.file)
	mux.HandleFunc("GET /docs/{id}", p.doc)
	mux.HandleFunc("GET /sizes/{id}", p.size)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	sampler, err := debughttp.NewSampler(nil, p.docs, p.sizes) // charts of the last 15 minutes
	if err != nil {
		ln.Close()
		return err
	}
	defer sampler.Close()
	mux.Handle("GET /debug/multilayer", sampler.Handler())

	srv := &http.Server{
		Handler:           logRequests(logger, mux),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
	}
	url := "http://" + ln.Addr().String()
	logger.Info("listening", "addr", ln.Addr().String(), "debug", url+"/debug/multilayer", "metrics", url+"/metrics")

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	<-served // http.ErrServerClosed
	logger.Info("stopped")
	return err
}

func index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, `multilayer example service

GET /files/{id}            the raw file
GET /docs/{id}?parser=v1   the parsed document, as JSON
GET /sizes/{id}            the size of the file, in bytes
GET /metrics               the layers' metrics, for Prometheus
GET /debug/multilayer      the state of every layer, with charts, and the tree

Files: a, b, c, and broken (which does not parse).
`)
}

// DocKey identifies a parsed document: the blob it came from and the
// version of the parser that made it.
type DocKey struct {
	Blob   string
	Parser string
}

// Doc is a parsed file.
type Doc struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// files stand for an object store's bucket.
var files = map[string]string{
	"a":      `{"key": "a", "value": "apple"}`,
	"b":      `{"key": "b", "value": "banana"}`,
	"c":      `{"key": "c", "value": "cherry"}`,
	"broken": `{"key": `,
}

// bucket returns the source: it reads files after the given latency.
func bucket(latency time.Duration) pipeline.Fetcher[string, []byte] {
	return pipeline.Source("bucket", pipeline.FetcherFunc[string, []byte](
		func(ctx context.Context, id string) ([]byte, error) {
			if latency > 0 {
				t := time.NewTimer(latency)
				defer t.Stop()
				select {
				case <-t.C:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			f, ok := files[id]
			if !ok {
				return nil, fmt.Errorf("bucket: %s: %w", id, pipeline.ErrNotFound)
			}
			return []byte(f), nil
		}))
}

func parseDoc(raw []byte) (Doc, error) {
	var d Doc
	if err := json.Unmarshal(raw, &d); err != nil {
		return Doc{}, fmt.Errorf("parse doc: %w", err)
	}
	return d, nil
}

// layers is the service's pipeline: one tree, with its metrics.
type layers struct {
	logger  *slog.Logger
	metrics *middleware.Metrics
	raw     pipeline.Fetcher[string, []byte]
	docs    pipeline.Fetcher[DocKey, Doc]
	sizes   pipeline.Fetcher[string, int]
	client  *goredis.Client // nil without Redis
}

func newPipeline(ctx context.Context, logger *slog.Logger, c config) (*layers, error) {
	below, client, err := distributed(ctx, logger, c.redis, bucket(c.bucketLatency))
	if err != nil {
		return nil, err
	}
	m := middleware.NewMetrics(nil)
	opts := &pipeline.CacheOptions[string]{Metrics: m} // each layer counts under its own name
	raw := stores.LRUCache[[]byte]("raw_files", 1024, opts)(below)
	docs := stores.LRUCache[Doc]("parsed_files", 1024, &pipeline.CacheOptions[DocKey]{Metrics: m})(
		middleware.MapKey[Doc](func(k DocKey) string { return k.Blob })(
			middleware.Parse[string](parseDoc)(raw)))
	sizes := stores.LRUCache[int]("sizes", 1024, opts)(
		middleware.Transform[string](func(b []byte) int { return len(b) })(raw))
	return &layers{logger: logger, metrics: m, raw: raw, docs: docs, sizes: sizes, client: client}, nil
}

// distributed returns the layers under raw_files: source itself without a
// Redis address; otherwise an invalidation bus over a Redis layer over
// source, on the server at addr, with the client they use.
func distributed(ctx context.Context, logger *slog.Logger, addr string, source pipeline.Fetcher[string, []byte]) (pipeline.Fetcher[string, []byte], *goredis.Client, error) {
	if addr == "" {
		return source, nil, nil
	}
	client := goredis.NewClient(redis.ClientOptions(addr))
	store, err := redis.New(client, "service-raw", nil)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	bus, err := redis.NewBus(client, "service-raw", redis.StringKeys[string](), &redis.BusOptions[string]{
		Reload: []redis.Reloader{store},
	})
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	if err := client.Ping(ctx).Err(); err != nil {
		logger.Warn("redis does not answer; serving from the bucket until it does", "addr", addr, "error", err)
	}
	shared := pipeline.Cache("redis", store, &pipeline.CacheOptions[string]{TTL: time.Hour})(source)
	return redis.Coherent[[]byte](bus)(shared), client, nil
}

// close stops the layers' background work: closing the two outer layers
// closes raw_files, which they share, with the last of them, and the bus
// and the Redis layer under it; then it closes the Redis client, if any.
func (l *layers) close() {
	_ = pipeline.Close(l.docs)
	_ = pipeline.Close(l.sizes)
	if l.client != nil {
		l.client.Close()
	}
}

func (l *layers) file(w http.ResponseWriter, r *http.Request) {
	b, err := l.raw.Fetch(r.Context(), r.PathValue("id"))
	if !l.answered(w, r, err) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (l *layers) doc(w http.ResponseWriter, r *http.Request) {
	parser := r.URL.Query().Get("parser")
	if parser == "" {
		parser = "v1"
	}
	d, err := l.docs.Fetch(r.Context(), DocKey{Blob: r.PathValue("id"), Parser: parser})
	if !l.answered(w, r, err) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(d)
}

func (l *layers) size(w http.ResponseWriter, r *http.Request) {
	n, err := l.sizes.Fetch(r.Context(), r.PathValue("id"))
	if !l.answered(w, r, err) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, n)
}

// answered writes the error response for err, if any, and reports whether
// the handler should go on: not found is 404, a caller that went away gets
// nothing, and anything else is logged and answered 502, for the fault is
// the source's.
func (l *layers) answered(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, pipeline.ErrNotFound):
		http.Error(w, "not found", http.StatusNotFound)
	case r.Context().Err() != nil:
	default:
		l.logger.ErrorContext(r.Context(), "fetch", "path", r.URL.Path, "error", err)
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}
	return false
}

// logRequests logs one record per request: at Info, or at Error for a
// server error.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		logger.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.RequestURI()),
			slog.Int("status", sw.status),
			slog.Duration("duration", time.Since(start)))
	})
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
