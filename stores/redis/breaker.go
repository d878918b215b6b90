package redis

import (
	"sync"
	"sync/atomic"
	"time"
)

// A BreakerState is the state of a Store's circuit breaker.
type BreakerState uint32

// The states of a circuit breaker.
const (
	// Closed: the Store calls Redis. This is the state a Store starts in.
	Closed BreakerState = iota
	// Open: Redis kept failing; the Store answers reads and writes with an
	// error wrapping ErrBreakerOpen without calling it, until a probe is due.
	Open
	// HalfOpen: a probe is due; the next call goes to Redis and decides:
	// success closes the breaker, failure opens it again.
	HalfOpen
)

var stateNames = [...]string{Closed: "closed", Open: "open", HalfOpen: "half-open"}

// String returns the state's name: "closed", "open" or "half-open".
func (s BreakerState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "BreakerState(?)"
}

// breaker is a consecutive-failure circuit breaker.
//
// Invariant: state is Closed, or Open with retryAt set, or HalfOpen with
// probing telling whether the probe call is under way. failures counts the
// failures since the last success while Closed. state changes only under
// mu; it is read without it, so that a call through a closed breaker takes
// no lock.
type breaker struct {
	threshold int              // consecutive failures that open the breaker
	openFor   time.Duration    // how long it stays open before a probe
	now       func() time.Time // the clock

	state    atomic.Uint32 // a BreakerState
	failures atomic.Int64

	mu      sync.Mutex
	retryAt time.Time // when an open breaker lets a probe through
	probing bool      // a half-open breaker's probe is under way
}

// outcome is what a call tells the breaker.
type outcome uint8

const (
	succeeded outcome = iota // the server answered
	failed                   // the server failed or did not answer in time
	neutral                  // the caller gave up: says nothing of the server
)

// allow reports whether a call may go to the server. A call it allows must
// report its outcome with done.
func (b *breaker) allow() bool {
	if BreakerState(b.state.Load()) == Closed {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch BreakerState(b.state.Load()) {
	case Closed:
		return true
	case Open:
		if b.now().Before(b.retryAt) {
			return false
		}
		b.state.Store(uint32(HalfOpen))
		b.probing = true
		return true
	default: // HalfOpen
		if b.probing {
			return false
		}
		b.probing = true
		return true
	}
}

// done records the outcome of a call and returns the state the breaker
// moved to, with changed true if it moved.
func (b *breaker) done(o outcome) (to BreakerState, changed bool) {
	st := BreakerState(b.state.Load())
	if st == Closed && o == succeeded {
		if b.failures.Load() != 0 {
			b.failures.Store(0)
		}
		return Closed, false
	}
	if o == neutral && st == Closed {
		return Closed, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch BreakerState(b.state.Load()) {
	case Closed:
		if o == failed && b.failures.Add(1) >= int64(b.threshold) {
			b.open()
			return Open, true
		}
	case HalfOpen:
		switch o {
		case succeeded:
			b.failures.Store(0)
			b.probing = false
			b.state.Store(uint32(Closed))
			return Closed, true
		case failed:
			b.open()
			return Open, true
		default:
			b.probing = false // let the next call probe
		}
	}
	// Open: a call that started before the breaker opened, or one that
	// bypasses it, changes nothing: the probe decides.
	return BreakerState(b.state.Load()), false
}

// open opens the breaker; b.mu is held.
func (b *breaker) open() {
	b.retryAt = b.now().Add(b.openFor)
	b.probing = false
	b.state.Store(uint32(Open))
}
