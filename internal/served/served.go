// Package served finds, in the trace of one fetch (see pipeline.WithTrace),
// the layer that answered it: what middleware.Log and middleware/tracing
// both report.
package served

import (
	"context"
	"sync"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// An Answer is a trace observer that notes the first layer to answer a
// fetch: to emit a hit, a negative hit, a stale value or a shared wait. A
// shared fetch may go on emitting after the fetch returned: once read with
// Result, an Answer notes nothing more. Its zero value is ready to use.
type Answer struct {
	mu     sync.Mutex
	layer  string
	kind   pipeline.EventKind // zero until a layer answered
	filled bool
	done   bool
}

// Observe notes e, unless the answer was read already.
func (a *Answer) Observe(_ context.Context, e pipeline.Event[any]) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return
	}
	switch e.Kind {
	case pipeline.Hit, pipeline.NegativeHit, pipeline.StaleServed, pipeline.SharedWait:
		if a.kind == 0 {
			a.layer, a.kind = e.Layer, e.Kind
		}
	case pipeline.Fill:
		a.filled = true
	}
}

// Result ends the observation and returns the layer that answered and how
// (kind is zero if none did, and the value came from the source), and
// whether a layer filled.
func (a *Answer) Result() (layer string, kind pipeline.EventKind, filled bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.done = true
	return a.layer, a.kind, a.filled
}

// Found ends the observation and names the outcome of a fetch that found a
// value, and what served it: "hit", "stale" or "shared" and the layer that
// answered; or, if none did, "fill" (a layer filled) or "found", and
// "source".
func (a *Answer) Found() (outcome, servedBy string) {
	layer, kind, filled := a.Result()
	switch kind {
	case pipeline.Hit:
		return "hit", layer
	case pipeline.StaleServed:
		return "stale", layer
	case pipeline.SharedWait:
		return "shared", layer
	case 0:
		if filled {
			return "fill", "source"
		}
		return "found", "source"
	}
	return "found", layer
}

// NotFound ends the observation and names what served a fetch that found
// nothing: the layer that answered (with a negative hit, say), or "source".
func (a *Answer) NotFound() (servedBy string) {
	if layer, kind, _ := a.Result(); kind != 0 {
		return layer
	}
	return "source"
}
