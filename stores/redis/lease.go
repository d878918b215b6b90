package redis

import (
	"context"
	"fmt"
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
// A Get of the Store that holds the lease waits like any other: the Store
// does not know which of its callers' loads are under way (with a
// coalescing cache layer over it, they join the holder's flight once their
// Get returns).

// The polling of a wait: the first poll after pollFirst, each next one
// twice as late, up to pollMax apart.
const (
	pollFirst = 2 * time.Millisecond
	pollMax   = 50 * time.Millisecond
)

// await finishes a GetEntry that found no value in k with the lease on: kd
// says what it found (missingKind or leaseKind). It takes the lease if the
// key holds nothing, or waits for the value of another's.
func (s *Store) await(ctx context.Context, k string, kd kind) (pipeline.Entry[[]byte], bool, error) {
	start := time.Now()
	delay := pollFirst
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if kd == missingKind {
			took, err := s.take(ctx, k)
			if err != nil || took {
				return pipeline.Entry[[]byte]{}, false, err
			}
		}
		left := s.wait - time.Since(start)
		if left <= 0 {
			return pipeline.Entry[[]byte]{}, false, nil // load on its own
		}
		d := min(delay, left)
		delay = min(2*delay, pollMax)
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return pipeline.Entry[[]byte]{}, false, fmt.Errorf("stores/redis: wait for a lease: %w", ctx.Err())
		case <-timer.C:
		}
		if !s.breaker.allow() {
			return pipeline.Entry[[]byte]{}, false, errOpen("wait for a lease")
		}
		var e pipeline.Entry[[]byte]
		var err error
		switch e, kd, err = s.read(ctx, k); {
		case err != nil:
			return pipeline.Entry[[]byte]{}, false, err
		case kd == valueKind:
			return e, true, nil
		case kd == tombstoneKind:
			return pipeline.Entry[[]byte]{}, false, nil
		}
	}
}

// take takes the lease in k, if k holds nothing, with one SET NX PX in the
// generation the Store uses, and reports whether it did.
func (s *Store) take(ctx context.Context, k string) (bool, error) {
	if !s.breaker.allow() {
		return false, errOpen("take a lease")
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	r, err := s.startGen(cctx, false)
	var took bool
	if err == nil {
		took, err = s.client.SetNX(cctx, key(r.g.prefix, k), lease, s.lease).Result()
		if r.owned { // not read along: leave the refresh to the next call
			s.genLoading.Store(false)
		}
	}
	s.record(ctx, err)
	if err != nil {
		return false, fmt.Errorf("stores/redis: take a lease: %w", err)
	}
	return took, nil
}
