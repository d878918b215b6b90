package middleware

import (
	"context"
	"time"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// CoalesceOptions configure Coalesce. The zero value, and nil, mean
// defaults.
type CoalesceOptions[K any] struct {
	// FetchTimeout bounds a shared fetch, which runs detached from the
	// cancellation of the caller that started it. Default
	// pipeline.DefaultFetchTimeout; negative means no bound.
	FetchTimeout time.Duration
	// Observer receives the layer's events, those of a cache layer whose
	// store keeps nothing: a Miss for every fetch, a SharedWait for every
	// fetch that joined another one, and for each shared fetch the outcome
	// below with its Elapsed: Fill (a value came back; nothing is kept, so
	// Metrics' fills of a Coalesce layer count values passed on), NotFound
	// or Error. Default nil.
	Observer pipeline.Observer[K]
	// Metrics records the layer's events under the layer's name, as
	// pipeline.CacheOptions.Metrics does. Default nil.
	Metrics pipeline.Recorder
}

// Coalesce returns a layer called name that makes concurrent fetches of one
// key share one call to next, for sources with no cache layer in front of
// them (a cache layer coalesces by itself). It keeps nothing: a fetch that
// starts after the shared one ended calls next again.
//
// It follows the rules of pipeline.Cache: each caller honours its own ctx
// and returns ctx.Err() at once when it ends, while the shared fetch goes on
// for the others under a context that keeps the first caller's values but
// not its cancellation, bounded by FetchTimeout; a panic in next reaches
// every waiter as a *pipeline.PanicError and never leaves the key stuck. It
// passes batches, invalidations and Close through pipeline.Cache's
// machinery; it is, in fact, a cache layer over a store that holds nothing.
//
// Coalesce panics if name is empty or next is nil.
func Coalesce[K comparable, V any](name string, opts *CoalesceOptions[K]) pipeline.Middleware[K, V] {
	var o CoalesceOptions[K]
	if opts != nil {
		o = *opts
	}
	if name == "" {
		panic("middleware: Coalesce: empty layer name")
	}
	return pipeline.Cache(name, nothing[K, V]{}, &pipeline.CacheOptions[K]{
		FetchTimeout: o.FetchTimeout,
		Observer:     o.Observer,
		Metrics:      o.Metrics,
	})
}

// nothing is a Store that holds nothing.
type nothing[K, V any] struct{}

func (nothing[K, V]) Get(context.Context, K) (v V, ok bool, err error) { return v, false, nil }
func (nothing[K, V]) Set(context.Context, K, V) error                  { return nil }
func (nothing[K, V]) Delete(context.Context, K) error                  { return nil }
func (nothing[K, V]) Clear(context.Context) error                      { return nil }

// LayerKind names the layer in pipeline descriptions.
func (nothing[K, V]) LayerKind() string { return "coalesce" }
