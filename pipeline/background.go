package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
)

// Background work of a cache layer: calls detached from a cancellable
// caller, and refresh-ahead. All of it is counted in wg, so that Close can
// cancel it and wait for it; once closed, nothing new starts in the
// background and calls run in their callers' goroutines.
//
// A detached call is bounded by FetchTimeout without a timer of its own:
// calls started within a sixteenth of FetchTimeout of each other share one
// bound, a context that ends FetchTimeout after the first of them started
// plus that sixteenth, or at Close.
type background struct {
	mu      sync.Mutex
	closed  bool
	wg      sync.WaitGroup
	closing context.Context // cancelled by Close
	cancel  context.CancelFunc
	timeout time.Duration // negative: no bound but Close
	bound   context.Context
	stop    context.CancelFunc // bound's, kept only to keep vet's lostcancel quiet: the bound ends on its own
	until   int64              // Unix nanoseconds after which bound is not handed out any more
}

func (b *background) init(timeout time.Duration) {
	b.closing, b.cancel = context.WithCancel(context.Background())
	b.timeout = timeout
}

// acquire counts one more piece of background work and returns its bound,
// or reports false if the layer is closed.
func (b *background) acquire() (context.Context, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, false
	}
	b.wg.Add(1)
	if b.timeout < 0 {
		return b.closing, true
	}
	if now := time.Now().UnixNano(); b.bound == nil || now > b.until {
		window := int64(b.timeout / 16)
		b.bound, b.stop = context.WithDeadline(b.closing, time.Unix(0, now+int64(b.timeout)+window))
		b.until = now + window
	}
	return b.bound, true
}

// close cancels the background work and waits for it.
func (b *background) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}

// Close stops the layer's background work (shared fetches and refreshes
// under way are cancelled) and waits for it, then passes Close inward; see
// Closer for trees. It does not close the store.
func (c *cache[K, V]) Close() error {
	if !c.refs.Close() {
		return nil
	}
	c.bg.close()
	return plumbing.Release(c.inner)
}

// Hold counts a layer above that will release this one when it closes.
func (c *cache[K, V]) Hold() { c.refs.Hold() }

// Release closes the layer when the last layer above that holds it closes.
func (c *cache[K, V]) Release() error {
	if c.refs.Release() {
		return c.Close()
	}
	return nil
}

// refreshAhead starts a background refresh of key, whose value is fresh but
// due, unless a fetch of key is under way, RefreshConcurrency refreshes
// run, or the key is backing off after a failed refresh. old is the value,
// read from the store after landed was (see flights): a miss that joins the
// refresh once it expired is served it if below fails (stale-if-error),
// unless a drop came in between.
func (c *cache[K, V]) refreshAhead(ctx context.Context, key K, old Entry[V], landed uint64) {
	if int(c.refresh.Add(1)) > c.opts.RefreshConcurrency {
		c.refresh.Add(-1)
		return
	}
	if _, backingOff := c.backoff.get(key, c.opts.Clock()); backingOff {
		c.refresh.Add(-1)
		return
	}
	bound, open := c.bg.acquire()
	if !open { // closed: no refresh; the value is served until it expires
		c.refresh.Add(-1)
		return
	}
	c.flights.mu.Lock()
	if _, busy := c.flights.find(key); busy {
		c.flights.mu.Unlock()
		c.refresh.Add(-1)
		c.bg.wg.Done()
		return
	}
	f := c.newCall(ctx, 1)
	w := work[V]{}
	if c.flights.landed.Load() == landed { // no drop since old was read: any later one voids f
		w.old = &stale[V]{e: old}
	}
	f.add(key, w)
	f.refresh, f.bound = true, bound
	c.flights.m[key] = slot[K, V]{f, 0}
	c.flights.mu.Unlock()
	go f.runDetached()
}

// refreshed ends a refresh: a failed one makes the key back off, doubling
// the wait with each failure in a row; so does one that left the value due
// (a layer over a cache, whose value keeps its expiry), which every hit
// would otherwise start again.
func (c *cache[K, V]) refreshed(f *call[K, V]) {
	c.refresh.Add(-1)
	key, now := f.keys[0], c.opts.Clock()
	if f.res[0].Err == nil && f.work[0].ev != StaleServed && !c.stillDue(f.res[0].Expires, now) { // StaleServed: below failed
		c.backoff.remove(key)
		return
	}
	t, _ := c.backoff.get(key, time.Time{})
	t.n = min(t.n+1, 7)
	t.until = now.Add(c.opts.RefreshBackoff << (t.n - 1))
	c.backoff.put(key, t, now)
}

// stillDue reports whether a value that expires at exp is due for refresh
// at now.
func (c *cache[K, V]) stillDue(exp, now time.Time) bool {
	return !exp.IsZero() && !now.Before(exp.Add(-c.opts.RefreshAhead))
}

// A timedSet remembers keys until a time: keys not found (negative
// caching), keys backing off. It holds at most max keys: when full, it
// forgets the expired ones, then an arbitrary tenth. Forgetting costs an
// extra fetch, never a wrong answer.
type timedSet[K comparable] struct {
	mu  sync.Mutex
	m   map[K]timed
	max int
}

// timed is what a timedSet keeps of a key.
type timed struct {
	until time.Time
	n     uint8 // failures in a row, for backoff
}

func newTimedSet[K comparable](max int) *timedSet[K] {
	return &timedSet[K]{m: make(map[K]timed), max: max}
}

// get returns the key's entry if it is there and its time has not come by
// now; a zero now returns it however old.
func (s *timedSet[K]) get(key K, now time.Time) (timed, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[key]
	return t, ok && (now.IsZero() || now.Before(t.until))
}

func (s *timedSet[K]) put(key K, t timed, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; !ok && len(s.m) >= s.max {
		for k, old := range s.m {
			if !now.Before(old.until) {
				delete(s.m, k)
			}
		}
		for k := range s.m {
			if len(s.m) < s.max-s.max/10 {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[key] = t
}

func (s *timedSet[K]) remove(key K) {
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

func (s *timedSet[K]) reset() {
	s.mu.Lock()
	clear(s.m)
	s.mu.Unlock()
}

// len returns the number of keys held, expired or not.
func (s *timedSet[K]) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
