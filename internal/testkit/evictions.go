package testkit

import (
	"sync"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// Evictions records the keys a store reports evicted: give its Notify
// method to the store's Notify. Its zero value is ready to use, and it is
// safe for concurrent use.
type Evictions struct {
	mu   sync.Mutex
	keys []string
}

// Notify records the key of ev. It panics if ev is not of Kind
// pipeline.Evicted, the only kind a store reports.
func (e *Evictions) Notify(ev pipeline.StoreEvent[string]) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ev.Kind != pipeline.Evicted {
		panic("unexpected event " + ev.Kind.String())
	}
	e.keys = append(e.keys, ev.Key)
}

// Keys returns a copy of the keys recorded so far, in order.
func (e *Evictions) Keys() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.keys...)
}
