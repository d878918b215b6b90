package pipeline

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
)

// An EventKind says what happened at a layer.
type EventKind uint8

// The kinds of events a layer emits. A value that was not kept (the store
// failed, or an invalidation raced the fill) is returned without a Fill. The
// Err of an Error event is from below, and returned to the caller, or from
// the store, and does not fail the fetch.
const (
	Hit           EventKind = iota + 1 // the layer held a fresh value; nothing below was called
	Miss                               // the layer asks below; emitted before any event from below
	Fill                               // the value from below was stored; Elapsed is the time below
	NotFound                           // below reported ErrNotFound; nothing was stored
	NegativeHit                        // negative caching: ErrNotFound without asking below
	Error                              // something failed; Err says what
	SharedWait                         // the caller joined a fetch of the key that another had started
	StaleServed                        // below failed (Err); an expired value was served (stale-if-error)
	Invalidated                        // an invalidation dropped the key
	Evicted                            // the store dropped the key to make room, or the index below forgot what it derives from (see CacheOptions.DependentsBytes)
	BreakerOpened                      // the store stopped calling a failing server; reads miss
	BreakerClosed                      // the store's server answered again, and is called again
)

var kindNames = [...]string{
	Hit: "hit", Miss: "miss", Fill: "fill", NotFound: "not found",
	NegativeHit: "negative hit", Error: "error", SharedWait: "shared wait",
	StaleServed: "stale served", Invalidated: "invalidated", Evicted: "evicted",
	BreakerOpened: "breaker opened", BreakerClosed: "breaker closed",
}

// String returns the kind's name in lower case, such as "hit".
func (k EventKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// An Event is something that happened at one layer during a fetch.
type Event[K any] struct {
	Layer string    // the layer's name
	Kind  EventKind // what happened
	Key   K         // the key at that layer
	Err   error     // the error of Error and StaleServed events
	// Elapsed is the time spent below the layer, for Fill, NotFound and Error
	// events that followed a call below, and measured only while the layer is
	// observed or traced; zero otherwise, so that a hit reads no clock.
	Elapsed time.Duration
}

// String formats the event as "kind layer key", with ": err" when Err is set.
func (e Event[K]) String() string {
	if e.Err != nil {
		return fmt.Sprintf("%v %s %v: %v", e.Kind, e.Layer, e.Key, e.Err)
	}
	return fmt.Sprintf("%v %s %v", e.Kind, e.Layer, e.Key)
}

// An Observer receives a layer's events. Observe is called synchronously on
// the fetching goroutine, from many goroutines at once: it must be safe for
// concurrent use and quick, must not retain ctx, and must not panic (a panic
// from a layer's background work, a shared fetch or a refresh, reaches no
// caller and ends the program; the layer releases its flights first).
type Observer[K any] interface {
	Observe(ctx context.Context, e Event[K])
}

// The ObserverFunc type is an adapter to allow the use of ordinary functions
// as Observers.
type ObserverFunc[K any] func(ctx context.Context, e Event[K])

// Observe calls f(ctx, e).
func (f ObserverFunc[K]) Observe(ctx context.Context, e Event[K]) { f(ctx, e) }

// Observers returns an Observer that passes each event to every non-nil
// observer in order: nil when there is none, and the observer itself when
// there is one, so that an unobserved layer pays nothing.
func Observers[K any](obs ...Observer[K]) Observer[K] {
	var list multiObserver[K]
	for _, o := range obs {
		if o != nil {
			list = append(list, o)
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return list
}

type multiObserver[K any] []Observer[K]

func (m multiObserver[K]) Observe(ctx context.Context, e Event[K]) {
	for _, o := range m {
		o.Observe(ctx, e)
	}
}

// tracing counts the fetches running under WithTrace. While it is zero, layers
// do not look in the context for a trace, so an untraced hit pays one atomic
// load for the feature.
var tracing atomic.Int64

type traceKey struct{}

// WithTrace returns a context under which every layer a fetch reaches reports
// its events to o, with keys as any, besides its own observers: the inspect
// middleware sees one request's events this way, in order, across key types.
// In a context that is already traced, events go to o and then to the
// enclosing trace. The caller must call end once the traced fetch has
// returned. Tracing allocates per event: it is for one request at a time, not
// for metrics.
func WithTrace(ctx context.Context, o Observer[any]) (traced context.Context, end func()) {
	if o == nil {
		panic("pipeline: WithTrace: nil observer")
	}
	if outer, ok := ctx.Value(traceKey{}).(Observer[any]); ok {
		o = multiObserver[any]{o, outer}
	}
	tracing.Add(1)
	var once atomic.Bool
	return context.WithValue(ctx, traceKey{}, o), func() {
		if once.CompareAndSwap(false, true) {
			tracing.Add(-1)
		}
	}
}

// emitter delivers a layer's events to its observer and to a trace in the
// context. Layers embed it; its zero value (no observer) emits nothing.
type emitter[K any] struct {
	name     string
	observer Observer[K]
	counts   [BreakerClosed + 1]*plumbing.Count // the observer's counters, if it is a Counter
}

// newEmitter returns the emitter of the layer called name.
func newEmitter[K any](name string, observer Observer[K]) emitter[K] {
	m := emitter[K]{name: name, observer: observer}
	if c, ok := observer.(plumbing.Counter); ok {
		for k := Hit; k < EventKind(len(m.counts)); k++ {
			m.counts[k] = c.Counter(uint8(k))
		}
	}
	return m
}

// observed reports whether anyone would see an event now; layers measure
// elapsed times only then.
func (m *emitter[K]) observed() bool {
	return m.observer != nil || tracing.Load() != 0
}

// emit reports an event. It is small enough to inline, so that a layer with
// no observer pays a nil check and an atomic load.
func (m *emitter[K]) emit(ctx context.Context, kind EventKind, key K, err error, elapsed time.Duration) {
	if m.observed() {
		m.emitSlow(ctx, kind, key, err, elapsed)
	}
}

func (m *emitter[K]) emitSlow(ctx context.Context, kind EventKind, key K, err error, elapsed time.Duration) {
	switch {
	case int(kind) < len(m.counts) && m.counts[kind] != nil && err == nil && elapsed == 0:
		m.counts[kind].Add(1)
	case m.observer != nil:
		m.observer.Observe(ctx, Event[K]{Layer: m.name, Kind: kind, Key: key, Err: err, Elapsed: elapsed})
	}
	if tracing.Load() != 0 {
		if t, ok := ctx.Value(traceKey{}).(Observer[any]); ok {
			t.Observe(ctx, Event[any]{Layer: m.name, Kind: kind, Key: key, Err: err, Elapsed: elapsed})
		}
	}
}

// now returns the current time if anyone observes, for measuring Elapsed.
func (m *emitter[K]) now() time.Time {
	if m.observed() {
		return time.Now()
	}
	return time.Time{}
}

// since returns the time elapsed since start, or zero if start is zero (not
// measured).
func since(start time.Time) time.Duration {
	if start.IsZero() {
		return 0
	}
	return time.Since(start)
}
