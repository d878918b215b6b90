package middleware

import (
	"context"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// Tracing for Inspect and Log.
//
// Both see the events of the layers below them through pipeline.WithTrace.
// A trace in a context hides any trace already in it, so a Log layer above
// an Inspect layer would see nothing of what happens below the Inspect
// layer. To keep both whole, each trace started here is also recorded in the
// context under relayKey, and a trace started below another one passes every
// event it receives up to it, in order.

// relayKey is the context key of the innermost trace started by this
// package.
type relayKey struct{}

// relay passes events up to the trace of an enclosing Inspect or Log layer.
type relay struct {
	up pipeline.Observer[any] // nil when there is none
}

// forward passes e up, if there is a trace above.
func (r *relay) forward(ctx context.Context, e pipeline.Event[any]) {
	if r.up != nil {
		r.up.Observe(ctx, e)
	}
}

// startTrace starts a trace of one fetch under ctx that reports to o, whose
// relay r is connected to the enclosing trace, if any. The caller calls end
// when the fetch has returned.
func startTrace(ctx context.Context, o pipeline.Observer[any], r *relay) (traced context.Context, end func()) {
	r.up, _ = ctx.Value(relayKey{}).(pipeline.Observer[any])
	traced, end = pipeline.WithTrace(ctx, o)
	return context.WithValue(traced, relayKey{}, o), end
}
