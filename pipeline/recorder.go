package pipeline

import (
	"context"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
)

// A Recorder keeps the metrics of many layers, each under its layer's name,
// whatever their key types, as middleware.Metrics does. A layer given one
// (CacheOptions.Metrics) asks it once, when the layer is built, for the
// observer of the layer's own name, so that the name is written once, in
// the layer's constructor, and no typo can split a layer's counts.
//
// LayerObserver returns the observer of the layer called name; layers that
// share a name share it. It may return nil: the layer then records
// nothing. The observer follows the rules of Observer, and receives events
// with a nil Key: a Recorder counts, and putting every key in an interface
// would cost an allocation per event. An observer that needs keys is given
// as CacheOptions.Observer instead. If the observer is also a StatsSource
// or a MeterObserver, the layer uses it as such (see Describer and
// MeterObserver).
type Recorder interface {
	LayerObserver(name string) Observer[any]
}

// recorded adapts the observer that a Recorder made for a layer to the
// layer's key type. It passes each event on without its key, and hands out
// the observer's counters (see plumbing.Counter), so that a hit is counted
// with one atomic addition, as with the observer itself.
type recorded[K any] struct{ o Observer[any] }

// recorderObserver returns the Observer[K] of the layer called name that r
// makes, or nil if r is nil or makes none.
func recorderObserver[K any](r Recorder, name string) Observer[K] {
	if r == nil {
		return nil
	}
	o := r.LayerObserver(name)
	if o == nil {
		return nil
	}
	return recorded[K]{o}
}

// Observe passes e on, without its key.
func (r recorded[K]) Observe(ctx context.Context, e Event[K]) {
	r.o.Observe(ctx, Event[any]{Layer: e.Layer, Kind: e.Kind, Err: e.Err, Elapsed: e.Elapsed})
}

// Counter returns the observer's counter of kind, if it counts.
func (r recorded[K]) Counter(kind uint8) *plumbing.Count {
	if c, ok := r.o.(plumbing.Counter); ok {
		return c.Counter(kind)
	}
	return nil
}
