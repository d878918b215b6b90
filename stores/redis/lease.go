package redis

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// The lease: one load per fleet for a missing key (Options.Lease).
//
// Invariant: a lease is a marker in the entry's own key (so nothing
// crosses hash slots), taken with SET NX PX, so only on a key that holds
// nothing: not over a value, another lease or a tombstone. Whoever takes it
// returns a miss and its caller loads; every other Get that finds it waits
// for the value in Redis, polling, for at most Options.LeaseWait, then
// returns a miss and its caller loads on its own. Any write replaces a
// lease (the holder's, or that of a waiter that gave up: both read the
// source after the lease was taken, and no tombstone came since, or the
// lease would be gone); a Delete replaces it with a tombstone, which the
// holder's write then finds (see guard.go). A lease whose holder never
// writes (its load failed, it died) ends after Options.Lease, and the next
// Get takes a new one. Redis trouble ends a wait with an error, which a
// cache layer treats as a miss: with Redis down, each instance loads on
// its own.
//
// A Get that finds a lease this Store took, and has not written over since
// (held), returns the miss at once, as the taking Get did: the holder's own
// flight may read the store again before it loads (a cache layer does when
// another of its flights landed meanwhile), and must not wait for itself;
// over a coalescing cache layer, the other callers of the process join the
// holder's flight.

// The polling of a wait: the first poll after pollFirst, each next one
// twice as late, up to pollMax apart.
const (
	pollFirst = 2 * time.Millisecond
	pollMax   = 50 * time.Millisecond
)

// maxHeld bounds the leases a Store remembers taking; past it, those whose
// life ended are forgotten, and if none has, a Get that finds one of the
// others waits for it as for another Store's.
const maxHeld = 4096

// held is the leases a Store took and has not written over yet, with the
// end of their life, under mu.
type held struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// hold notes that the Store took the lease of k, now.
func (h *held) hold(k string, life time.Duration) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[string]time.Time)
	}
	if len(h.m) >= maxHeld {
		for k, end := range h.m {
			if !now.Before(end) {
				delete(h.m, k)
			}
		}
		if len(h.m) >= maxHeld {
			return
		}
	}
	h.m[k] = now.Add(life)
}

// holds reports whether the Store holds the lease of k.
func (h *held) holds(k string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	end, ok := h.m[k]
	return ok && time.Now().Before(end)
}

// release forgets the leases of keys: the Store wrote over them.
func (h *held) release(keys ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.m) == 0 {
		return
	}
	for _, k := range keys {
		delete(h.m, k)
	}
}

// waits are the waits for a lease under way in a Store: one poller per
// key, whose callers wait for its result, so that many callers waiting in
// one process poll Redis as one.
//
// Invariant: m[k] is the wait that polls k, made and removed under mu;
// its done is closed, once, after its result is final.
type waits struct {
	mu sync.Mutex
	m  map[string]*wait
}

// A wait is one poll of a key for the value of a lease.
type wait struct {
	done  chan struct{}
	e     pipeline.Entry[[]byte]
	ok    bool
	err   error
	again bool // the result is the poller's own (it took the lease, or its ctx ended): wait on
}

// await finishes a GetEntry that found no value in k with the lease on: kd
// says what it found (missingKind or leaseKind). It takes the lease if the
// key holds nothing, or waits for the value of another's: it joins the
// wait of k under way in this Store, or polls itself, until it has the
// value, a tombstone, the lease (the key was left empty) or an error, or
// until Options.LeaseWait has passed since it began.
func (s *Store) await(ctx context.Context, k string, kd kind) (pipeline.Entry[[]byte], bool, error) {
	deadline := time.Now().Add(s.wait)
	for {
		if kd == missingKind {
			took, err := s.take(ctx, k)
			if err != nil || took {
				return pipeline.Entry[[]byte]{}, false, err
			}
		}
		if s.held.holds(k) {
			return pipeline.Entry[[]byte]{}, false, nil // see "A Get that finds a lease this Store took"
		}
		s.waits.mu.Lock()
		if w, ok := s.waits.m[k]; ok {
			s.waits.mu.Unlock()
			select {
			case <-ctx.Done():
				return pipeline.Entry[[]byte]{}, false, fmt.Errorf("stores/redis: wait for a lease: %w", ctx.Err())
			case <-w.done:
			}
			if !w.again {
				return w.e, w.ok, w.err
			}
			kd = leaseKind // read again, in a wait of its own or another's
			if !time.Now().Before(deadline) {
				return pipeline.Entry[[]byte]{}, false, nil
			}
			continue
		}
		if s.waits.m == nil {
			s.waits.m = make(map[string]*wait)
		}
		w := &wait{done: make(chan struct{})}
		s.waits.m[k] = w
		s.waits.mu.Unlock()
		if kd = s.lead(ctx, k, w, deadline); kd != missingKind {
			return w.e, w.ok, w.err
		}
	}
}

// lead polls k for the callers of w, which is m[k], and sets w's result;
// it removes w and closes its done however it returns. It returns what the
// poll found: missingKind if the caller must try to take the lease.
func (s *Store) lead(ctx context.Context, k string, w *wait, deadline time.Time) (kd kind) {
	polled := false
	defer func() {
		w.again = !polled || kd == missingKind || ctx.Err() != nil // !polled: a panic
		s.waits.mu.Lock()
		delete(s.waits.m, k)
		s.waits.mu.Unlock()
		close(w.done)
	}()
	kd, w.e, w.ok, w.err = s.poll(ctx, k, deadline)
	polled = true
	return kd
}

// poll reads k until it holds a value or a tombstone, or nothing (then it
// returns missingKind, for the caller to take the lease), or until
// deadline, ctx's end, or an error. The reads come pollFirst, then twice as
// late each, up to pollMax apart.
func (s *Store) poll(ctx context.Context, k string, deadline time.Time) (kind, pipeline.Entry[[]byte], bool, error) {
	delay := pollFirst
	timer := time.NewTimer(pollMax) // reset before each use (Go 1.23 timers: no stale tick)
	defer timer.Stop()
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return leaseKind, pipeline.Entry[[]byte]{}, false, nil // load on its own
		}
		timer.Reset(min(delay, left))
		delay = min(2*delay, pollMax)
		select {
		case <-ctx.Done():
			return leaseKind, pipeline.Entry[[]byte]{}, false, fmt.Errorf("stores/redis: wait for a lease: %w", ctx.Err())
		case <-timer.C:
		}
		if !s.breaker.allow() {
			return leaseKind, pipeline.Entry[[]byte]{}, false, errOpen("wait for a lease")
		}
		switch e, kd, err := s.read(ctx, k); {
		case err != nil:
			return leaseKind, pipeline.Entry[[]byte]{}, false, err
		case kd == valueKind:
			return kd, e, true, nil
		case kd != leaseKind: // a tombstone: a miss; nothing: take the lease
			return kd, pipeline.Entry[[]byte]{}, false, nil
		case s.held.holds(k): // the key emptied, and another caller here took it
			return kd, pipeline.Entry[[]byte]{}, false, nil
		}
	}
}

// take takes the lease in k, if k holds nothing, with one SET NX PX in the
// generation the Store uses (it leaves a refresh that is due to the next
// call that reads the generation along), and reports whether it did.
func (s *Store) take(ctx context.Context, k string) (bool, error) {
	if !s.breaker.allow() {
		return false, errOpen("take a lease")
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	g := s.gen.Load() // not nil: a read of k came first, and loaded it
	took, err := s.client.SetNX(cctx, redisKey(g.prefix, k), lease, s.lease).Result()
	if took {
		s.held.hold(k, s.lease)
	}
	s.record(ctx, err)
	if err != nil {
		return false, fmt.Errorf("stores/redis: take a lease: %w", err)
	}
	return took, nil
}
