package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultFetchTimeout bounds a shared fetch when CacheOptions.FetchTimeout
// is zero.
const DefaultFetchTimeout = 30 * time.Second

// CacheOptions configure a cache layer. The zero value, and a nil pointer,
// mean defaults: no TTL, coalescing on, no negative caching, no
// stale-if-error, no observer.
type CacheOptions[K any] struct {
	// TTL is the longest the layer keeps a value. A value from below with a
	// shorter remaining lifetime keeps that lifetime; one with an unknown
	// lifetime gets TTL. Zero means the layer adds no limit of its own (it
	// still keeps lifetimes that come from below). A TTL needs an
	// ExpiringStore.
	TTL time.Duration
	// Jitter shortens each lifetime the layer sets (TTL and NegativeTTL) by a
	// random fraction of it in [0, Jitter), so that keys filled together do
	// not expire together. It must be in [0, 1). Default 0.
	Jitter float64
	// NegativeTTL turns on negative caching: a key that below reported as
	// not found is answered with ErrNotFound, without asking below, for this
	// long. Default 0: off.
	NegativeTTL time.Duration
	// NegativeSize bounds the number of keys remembered as not found.
	// Default 10000.
	NegativeSize int
	// StaleIfError turns on stale-if-error: when below fails (not when it
	// reports not found) and the layer holds a value that expired less than
	// StaleIfError ago, the layer returns that value with a nil error and
	// reports the failure as a StaleServed event. Needs an ExpiringStore that
	// keeps expired entries at least this long. Default 0: off.
	StaleIfError time.Duration
	// FetchTimeout bounds a fetch shared by coalesced callers, which runs
	// detached from the cancellation of the caller that started it. Default
	// DefaultFetchTimeout; negative means no bound.
	FetchTimeout time.Duration
	// NoCoalesce turns off coalescing: each miss calls below on its own.
	NoCoalesce bool
	// RefreshAhead turns on refresh-ahead (stale-while-revalidate): a hit on
	// a value that expires within RefreshAhead returns the value at once and
	// starts one background fetch that replaces it, coalesced with any fetch
	// of the key under way. Refreshes follow reads: a key not read in that
	// window is left to expire. Past its expiry a value is fetched
	// synchronously, as always. Needs an ExpiringStore. Default 0: off.
	RefreshAhead time.Duration
	// RefreshConcurrency bounds the background refreshes running at once; a
	// hit that finds them all busy starts none (a later hit will). Default 4.
	RefreshConcurrency int
	// RefreshBackoff is how long a key waits before another refresh after a
	// failed one; it doubles with each failure in a row, up to 64 times.
	// Meanwhile the old value is served until it expires. Default 1s.
	RefreshBackoff time.Duration
	// DependentsSize bounds the record of which outer values derive from
	// which of this layer's keys (see Invalidation). Default 100000.
	DependentsSize int
	// BatchConcurrency is how many single fetches a batch runs at once when
	// next cannot batch (see Batches). Default DefaultBatchConcurrency.
	BatchConcurrency int
	// Observer receives the layer's events. Default nil: none.
	Observer Observer[K]
	// Clock returns the current time for expiry decisions. Default time.Now.
	Clock func() time.Time
}

// Cache returns a read-through cache layer called name over store.
//
// A fetch looks the key up in store. On a hit it returns the value and calls
// nothing below. On a miss it calls next, stores what next returns, and
// returns it; if next reports not found, nothing is stored and the error is
// returned unchanged; if next fails, nothing is stored and the error is
// returned wrapped with the layer's name. A failing Set never loses the
// value: it is returned and the write error goes to the observers as an Error
// event. A failing Get is reported the same way and treated as a miss.
//
// # Coalescing
//
// Concurrent misses of one key make one call to next; the others wait for
// it. The flight covers check → fetch → store, and the store is checked again
// inside it, so a caller that arrives just after a flight ended hits the
// store. Each waiter honours its own ctx: when it ends, that caller returns
// ctx.Err() at once and the shared fetch goes on for the others. The shared
// fetch runs under a context that keeps the values of the ctx of the caller
// that started it but not its cancellation or deadline, bounded by
// FetchTimeout: no single caller's deadline governs it. A caller whose ctx can
// never be cancelled (ctx.Done() == nil) runs the fetch itself, under its own
// ctx and unbounded, as it would without a cache.
//
// A panic in next or in store during the fetch is recovered and reaches every
// waiter as a *PanicError; the key is not left stuck, and the next fetch calls
// next again.
//
// # Expiry
//
// With an ExpiringStore, a value filled from below is stored with the lifetime
// reported by next (see EntryFetcher) capped by TTL, so the layer never keeps
// a value longer than the layer it came from. With a plain Store there is no
// expiry: values stay until the store drops them or the key is invalidated,
// and a value whose lifetime is known is returned but not stored.
//
// # Refresh-ahead
//
// With RefreshAhead, a hit on a value close to its expiry returns it at once
// and refreshes it in the background (stale-while-revalidate); see
// CacheOptions.RefreshAhead for the rules.
//
// # Invalidation and trees
//
// The returned Fetcher implements Invalidator and Clearer. Invalidate drops
// the key from store and from the negative cache, and passes it to next if
// next is an Invalidator (key mappers map it on the way). A fill that was
// under way when its key was invalidated is returned to its callers but not
// kept, and later callers do not join it: once Invalidate has returned, a
// fetch that starts gets what next holds then, or a newer value, in this
// layer and in its dependents alike (see below). A Store must not call back
// into its layer: Invalidate and Clear wait for the writes under way.
//
// In a tree, values derived from a shared inner layer are dropped with it: a
// cache layer registers, at build time, with the first cache layers below it
// (seen through every layer that is a Describer, as all stock layers are);
// when it fills a key, the inner layer that served the value records which
// outer key it went to; invalidating the inner key drops those outer keys,
// outward through any number of levels, and clearing the inner layer clears
// its dependents. A cache layer directly over another needs no record, since
// its key k can only come from the inner key k: dropping k in the inner
// layer drops k in it. A hit on the outermost layer pays nothing for this,
// nor does a hit on a layer whose only dependents sit directly over it; a hit
// on an inner layer with other dependents pays one context lookup. A user
// layer that is not a Describer hides the layers below it from this
// mechanism, so their invalidations do not reach the layers above it.
//
// # Background work
//
// Shared fetches of cancellable callers and refreshes run in goroutines that
// the layer counts. The returned Fetcher implements Closer: Close cancels
// them and waits for them.
//
// Cache panics if name is empty, store is nil, next is nil, or an option is
// out of range (a negative duration or size, Jitter outside [0, 1), TTL,
// StaleIfError or RefreshAhead with a store that is not an ExpiringStore).
func Cache[K comparable, V any](name string, store Store[K, V], opts *CacheOptions[K]) Middleware[K, V] {
	var o CacheOptions[K]
	if opts != nil {
		o = *opts
	}
	if name == "" {
		panic("pipeline: Cache: empty layer name")
	}
	if store == nil {
		panic("pipeline: Cache " + name + ": nil store")
	}
	estore, expiring := store.(ExpiringStore[K, V])
	bstore, _ := store.(BatchStore[K, V])
	switch {
	case o.TTL < 0 || o.NegativeTTL < 0 || o.StaleIfError < 0 || o.NegativeSize < 0 || o.BatchConcurrency < 0 ||
		o.RefreshAhead < 0 || o.RefreshConcurrency < 0 || o.RefreshBackoff < 0 || o.DependentsSize < 0:
		panic("pipeline: Cache " + name + ": negative duration or size")
	case !(o.Jitter >= 0 && o.Jitter < 1):
		panic("pipeline: Cache " + name + ": Jitter must be in [0, 1)")
	case (o.TTL > 0 || o.StaleIfError > 0 || o.RefreshAhead > 0) && !expiring:
		panic("pipeline: Cache " + name + ": TTL, StaleIfError and RefreshAhead need an ExpiringStore")
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.NegativeSize == 0 {
		o.NegativeSize = 10000
	}
	if o.RefreshConcurrency == 0 {
		o.RefreshConcurrency = 4
	}
	if o.RefreshBackoff == 0 {
		o.RefreshBackoff = time.Second
	}
	if o.DependentsSize == 0 {
		o.DependentsSize = 100000
	}
	// Fetch may serve hits with the store's plain Get, which judges expiry
	// by time.Now, when the layer judges the same way and needs nothing
	// else from the entry: no own clock, no refresh-ahead, no stale values.
	plainHits := !expiring || (o.Clock == nil && o.RefreshAhead == 0 && o.StaleIfError == 0)
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return func(next Fetcher[K, V]) Fetcher[K, V] {
		MustNext("pipeline: Cache "+name, next)
		c := &cache[K, V]{
			emitter:   newEmitter(name, o.Observer),
			store:     store,
			estore:    estore,
			bstore:    bstore,
			next:      Entries(next),
			plainNext: plainNext(next),
			nextBatch: Batches(next, o.BatchConcurrency),
			inner:     next,
			plainHits: plainHits,
			opts:      o,
			coalesce:  !o.NoCoalesce,
			negErr:    fmt.Errorf("pipeline: %s: remembered: %w", name, ErrNotFound),
			backoff:   make(map[K]backoffState),
			deps:      deps[K]{max: o.DependentsSize},
			checkKeys: MayHoldUnhashable[K](),
		}
		if o.NegativeTTL > 0 {
			c.neg = &negatives[K]{m: make(map[K]time.Time), max: o.NegativeSize}
		}
		c.flights.init()
		c.closing, c.closeFn = context.WithCancel(context.Background())
		if inner, ok := next.(*cache[K, V]); ok {
			inner.addIdentity(c) // see cache_deps.go
			c.identityBelow = true
		} else {
			c.batchInOrder = true
			findCaches(next, func(r registrar) {
				r.addDependent(wholeLayer[K, V]{c})
				c.trackBelow = true
			}, &c.batchInOrder, 0)
		}
		return c
	}
}

// plainNext returns next if it is a plain Fetcher, one that knows no
// lifetimes; nil if it is an EntryFetcher.
func plainNext[K, V any](next Fetcher[K, V]) Fetcher[K, V] {
	if _, ok := next.(EntryFetcher[K, V]); ok {
		return nil
	}
	return next
}

// cache is the Fetcher returned by Cache.
type cache[K comparable, V any] struct {
	emitter[K]
	store     Store[K, V]
	estore    ExpiringStore[K, V] // nil when store keeps no expiry
	bstore    BatchStore[K, V]    // nil when store cannot batch
	next      EntryFetcher[K, V]
	plainNext Fetcher[K, V] // next, if it knows no lifetimes; else nil
	nextBatch BatchFetcher[K, V]
	inner     Fetcher[K, V] // next as given, for Invalidate
	plainHits bool          // Fetch serves hits with store.Get; see Cache
	opts      CacheOptions[K]
	coalesce  bool
	neg       *negatives[K] // nil when negative caching is off
	negErr    error
	gen       atomic.Uint64 // bumped by every invalidation
	fillMu    sync.RWMutex  // a fill's check of gen and write vs an invalidation's bump; see keep
	checkKeys bool          // K may hold values that cannot be hashed; see checkKey
	landed    atomic.Uint64 // bumped by every flight that ends, before it leaves the map, and by every drop (see miss)

	// Tree coherence; see cache_deps.go.
	trackBelow    bool        // a cache layer below knows this one as a dependent
	batchInOrder  bool        // every batching layer down to those cache layers keeps a batch in order; see batchMarker
	identityBelow bool        // next is a cache layer that knows this one as an identity dependent
	tracked       atomic.Bool // this layer has dependents
	deps          deps[K]

	mu         sync.Mutex
	flights    flightTable[K, V]
	scratch    sync.Pool          // of *batchScratch[K, V]
	refreshing int                // background refreshes running
	backoff    map[K]backoffState // keys whose last refresh failed

	// Background work; see cache_background.go.
	closing context.Context // cancelled by Close
	closeFn context.CancelFunc
	bgMu    sync.Mutex
	closed  bool
	bg      sync.WaitGroup
}

// state is what a store lookup found.
type state uint8

const (
	absent  state = iota
	fresh         // within its lifetime
	due           // fresh, but within RefreshAhead of its expiry
	expired       // past its lifetime, kept for stale-if-error
)

// Fetch returns the value for key; see Cache.
//
// Fetch and FetchEntry keep the hit path flat (one store call, a few
// checks) and leave everything else to fetchSlow.
func (c *cache[K, V]) Fetch(ctx context.Context, key K) (V, error) {
	if c.checkKeys {
		if err := c.checkKey(ctx, key); err != nil {
			var zero V
			return zero, err
		}
	}
	if c.tracked.Load() {
		c.register(ctx, key) // before the read; see register
	}
	landed := c.landed.Load() // see miss
	if !c.plainHits {
		e, ok, err := c.estore.GetEntry(ctx, key)
		if ok && err == nil && e.Expires.IsZero() {
			if c.hooked() {
				c.hit(ctx, key)
			}
			return e.Value, nil
		}
		err = c.fetchSlow(ctx, key, &e, ok, err, landed)
		return e.Value, err
	}
	v, ok, err := c.store.Get(ctx, key)
	if ok && err == nil {
		if c.hooked() {
			if h := c.counts[Hit]; h != nil && tracing.Load() == 0 {
				h.Add(1) // hit by hand for a counting observer: it is not inlined
			} else {
				c.hit(ctx, key)
			}
		}
		return v, nil
	}
	// Absent, or expired by time.Now, which is the layer's clock here, and
	// with no stale-if-error an expired entry is of no use.
	var e Entry[V]
	if err != nil {
		err = c.fetchSlow(ctx, key, &e, false, err, landed)
		return e.Value, err
	}
	err = c.miss(ctx, key, &e, absent, landed) // fetchSlow, knowing what judge would say
	return e.Value, err
}

// FetchEntry returns the value for key with its lifetime; see Cache.
func (c *cache[K, V]) FetchEntry(ctx context.Context, key K) (Entry[V], error) {
	if c.checkKeys {
		if err := c.checkKey(ctx, key); err != nil {
			return Entry[V]{}, err
		}
	}
	if c.tracked.Load() {
		c.register(ctx, key)
	}
	landed := c.landed.Load()
	if c.estore != nil {
		e, ok, err := c.estore.GetEntry(ctx, key)
		if ok && err == nil && e.Expires.IsZero() {
			if c.hooked() {
				c.hit(ctx, key)
			}
			return e, nil
		}
		err = c.fetchSlow(ctx, key, &e, ok, err, landed)
		return e, err
	}
	v, ok, err := c.store.Get(ctx, key)
	if ok && err == nil {
		if c.hooked() {
			c.hit(ctx, key)
		}
		return Entry[V]{Value: v}, nil
	}
	e := Entry[V]{Value: v}
	err = c.fetchSlow(ctx, key, &e, ok, err, landed)
	return e, err
}

// checkKey returns an error wrapping ErrUnhashableKey if key cannot be
// hashed, and reports it. Only a K that holds interfaces needs the check
// (checkKeys): such a key would make the store's map, or the layer's own
// flight table, panic, and the panic could strike another caller's fetch
// holding a lock.
func (c *cache[K, V]) checkKey(ctx context.Context, key K) error {
	if hashable(key) {
		return nil
	}
	err := fmt.Errorf("pipeline: %s: key of type %T: %w", c.name, key, ErrUnhashableKey)
	c.emit(ctx, Error, key, err, 0)
	return err
}

// hooked reports whether a hit has anything to do besides returning: an
// observer or a trace.
func (c *cache[K, V]) hooked() bool {
	return c.observer != nil || tracing.Load() != 0
}

// hit reports a hit.
func (c *cache[K, V]) hit(ctx context.Context, key K) {
	if h := c.counts[Hit]; h != nil && tracing.Load() == 0 {
		h.Add(1) // the cheapest way to tell a counting observer
	} else {
		c.emit(ctx, Hit, key, nil, 0)
	}
}

// fetchSlow finishes a fetch whose store read was not a plain fresh hit:
// an entry with an expiry to judge, a miss, or a store error. e holds what
// the store returned; fetchSlow replaces it with the result. landed was
// read before the store (see miss).
//
// Entries travel by pointer below Fetch: an Entry is too large for the
// compiler to keep in registers, and every copy of one costs.
func (c *cache[K, V]) fetchSlow(ctx context.Context, key K, e *Entry[V], ok bool, err error, landed uint64) error {
	st := c.judge(ctx, key, *e, ok, err)
	if st == fresh || st == due {
		c.hit(ctx, key)
		if st == due {
			c.refresh(ctx, key, *e)
		}
		return nil
	}
	return c.miss(ctx, key, e, st, landed)
}

// lookup reads key from the store and judges its freshness. A store error is
// reported and counts as absent.
func (c *cache[K, V]) lookup(ctx context.Context, key K) (Entry[V], state) {
	if c.estore == nil {
		v, ok, err := c.store.Get(ctx, key)
		e := Entry[V]{Value: v}
		return e, c.judge(ctx, key, e, ok, err)
	}
	e, ok, err := c.estore.GetEntry(ctx, key)
	return e, c.judge(ctx, key, e, ok, err)
}

// judge tells the state of what a store read returned.
func (c *cache[K, V]) judge(ctx context.Context, key K, e Entry[V], ok bool, err error) state {
	if err != nil {
		c.emit(ctx, Error, key, fmt.Errorf("pipeline: %s: store get: %w", c.name, err), 0)
		return absent
	}
	if !ok {
		return absent
	}
	if e.Expires.IsZero() {
		return fresh
	}
	now := c.opts.Clock()
	switch {
	case !now.Before(e.Expires):
		return expired
	case c.opts.RefreshAhead > 0 && !now.Before(e.Expires.Add(-c.opts.RefreshAhead)):
		return due
	}
	return fresh
}

// miss handles a key the store did not hold fresh. e holds what the store
// held, for stale-if-error; miss replaces it with the result.
func (c *cache[K, V]) miss(ctx context.Context, key K, e *Entry[V], st state, landed uint64) error {
	if c.neg != nil && c.neg.has(key, c.opts.Clock()) {
		c.emit(ctx, NegativeHit, key, nil, 0)
		*e = Entry[V]{}
		return c.negErr
	}
	if c.observed() { // emit by hand: the compiler does not inline it here
		c.emitSlow(ctx, Miss, key, nil, 0)
	}
	if !c.coalesce {
		return c.loadAlone(ctx, key, e, st)
	}

	h := c.flights.hash(key)
	c.mu.Lock()
	if f := c.flights.get(key, h, c.gen.Load()); f != nil {
		if f.done == nil {
			f.done = make(chan struct{})
		}
		c.mu.Unlock()
		c.emit(ctx, SharedWait, key, nil, 0)
		return c.wait(ctx, f, e)
	}
	recheck := c.landed.Load() != landed
	if ctx.Done() == nil {
		// Nothing can cancel this caller: it runs the fetch itself, in a
		// flight that is reused if no one joins it.
		f := c.flights.newFlight()
		c.flights.put(key, h, f)
		c.mu.Unlock()
		return c.run(ctx, key, h, f, e, st, recheck, e)
	}
	f := &flight[V]{done: make(chan struct{})}
	c.flights.put(key, h, f)
	c.mu.Unlock()
	old := *e // the fetch may outlive this call, and e with it
	if !c.background(ctx, func(ctx context.Context) { c.run(ctx, key, h, f, &old, st, recheck, nil) }) {
		c.run(ctx, key, h, f, &old, st, recheck, nil) // closed: no background work
	}
	return c.wait(ctx, f, e)
}

// wait stores the result of f in e, or returns ctx.Err() as soon as ctx
// ends.
func (c *cache[K, V]) wait(ctx context.Context, f *flight[V], e *Entry[V]) error {
	select {
	case <-f.done:
		*e = f.e
		return f.err
	case <-ctx.Done():
		*e = Entry[V]{}
		return ctx.Err()
	}
}

// run performs flight f of key, whose hash is h, and releases its waiters.
// old is what the store held, for stale-if-error. If out is not nil, only
// run's caller holds f: run stores the result in out, and f is reused once
// it lands unless someone joined it.
//
// A panic below becomes the flight's error, a *PanicError; the flight lands
// before the panic is reported, so that a panicking observer cannot leave
// the key stuck.
func (c *cache[K, V]) run(ctx context.Context, key K, h uint64, f *flight[V], old *Entry[V], st state, recheck bool, out *Entry[V]) (err error) {
	defer func() {
		var perr *PanicError
		if r := recover(); r != nil {
			perr = &PanicError{Layer: c.name, Value: r, Stack: debug.Stack()}
			f.e, f.err = Entry[V]{}, perr
		}
		if out != nil {
			*out = f.e
		}
		err = f.err
		c.land(key, h, f, out != nil)
		if perr != nil {
			c.emit(ctx, Error, key, perr, 0)
		}
	}()
	c.load(ctx, key, old, st, recheck, f)
	return nil // set by the deferred function
}

// loadAlone is load for a layer that does not coalesce: the result goes to
// e, and a panic below becomes its error.
func (c *cache[K, V]) loadAlone(ctx context.Context, key K, e *Entry[V], st state) (err error) {
	var f flight[V]
	defer func() {
		if r := recover(); r != nil {
			*e, err = Entry[V]{}, c.panicked(ctx, key, r)
		}
	}()
	c.load(ctx, key, e, st, false, &f)
	*e = f.e
	return f.err
}

// land ends flight f of key: later callers read the store, and the waiters
// wake up. If reuse is set and no one joined f, f is reused.
func (c *cache[K, V]) land(key K, h uint64, f *flight[V], reuse bool) {
	c.landed.Add(1)
	c.mu.Lock()
	c.flights.remove(key, h, f)
	done := f.done // made by whoever joined, under c.mu
	if done == nil && reuse {
		c.flights.recycle(f)
	}
	c.mu.Unlock()
	if done != nil {
		close(done)
	}
}

// load fetches key from below and stores it; the result goes to f. Inside a
// flight (recheck) it first looks in the store again. old is what the store
// held, for stale-if-error; load may replace it with what it finds there.
// Its callers recover panics.
func (c *cache[K, V]) load(ctx context.Context, key K, old *Entry[V], st state, recheck bool, f *flight[V]) {
	if recheck {
		cur, cst := c.lookup(ctx, key)
		if cst == fresh || cst == due {
			f.e, f.err = cur, nil
			return
		}
		if cst == expired {
			*old = cur
		}
		st = cst
	}
	gen := c.gen.Load()
	nctx := ctx
	switch {
	case c.trackBelow:
		nctx = context.WithValue(ctx, depKey{}, dependent(derived[K, V]{c, key}))
	case c.hidesMarker():
		nctx = context.WithValue(ctx, depKey{}, nil)
	}
	var start time.Time
	if c.observed() {
		start = time.Now()
	}
	if c.plainNext != nil {
		// The same call as through Entries' adapter, minus a call and a
		// copy of the entry.
		var v V
		v, f.err = c.plainNext.Fetch(nctx, key)
		f.e = Entry[V]{Value: v}
	} else {
		f.e, f.err = c.next.FetchEntry(nctx, key)
	}
	c.finish(ctx, key, f, since(start), old, st, gen)
}

// panicked turns a recovered panic value into the error every waiter gets.
func (c *cache[K, V]) panicked(ctx context.Context, key K, r any) error {
	err := &PanicError{Layer: c.name, Value: r, Stack: debug.Stack()}
	c.emit(ctx, Error, key, err, 0)
	return err
}

// finish completes the fetch of key from below, whose result is in f: it
// stores a value (unless an invalidation since gen makes it stale), or
// handles the error. old is the expired entry the store held, if st says
// there is one.
func (c *cache[K, V]) finish(ctx context.Context, key K, f *flight[V], elapsed time.Duration, old *Entry[V], st state, gen uint64) {
	if f.err != nil {
		f.e, f.err = c.failed(ctx, key, f.err, elapsed, old, st, gen)
		return
	}
	if c.opts.TTL > 0 {
		f.e.Expires = c.expiry(f.e.Expires, c.opts.TTL)
	}
	// Store the value. A write error is reported, never returned: the
	// caller still gets the value.
	kept, err := c.keep(ctx, key, &f.e, gen)
	switch {
	case err != nil:
		c.emit(ctx, Error, key, fmt.Errorf("pipeline: %s: store set: %w", c.name, err), 0)
	case kept && c.observed():
		c.emitSlow(ctx, Fill, key, nil, elapsed)
	}
}

// keep stores e under key, unless an invalidation since gen makes it stale
// or the store cannot keep its lifetime, and reports whether it did.
//
// It checks the generation and writes under fillMu, held for reading; an
// invalidation moves the generation under fillMu held for writing (see
// bump) before it deletes. So a fill either sees the move and keeps
// nothing, or its write lands before the delete: once Invalidate has
// returned, no fill that began before it can still write.
func (c *cache[K, V]) keep(ctx context.Context, key K, e *Entry[V], gen uint64) (bool, error) {
	c.fillMu.RLock()
	defer c.fillMu.RUnlock() // a panicking store must not block invalidations
	if c.gen.Load() != gen {
		return false, nil
	}
	var err error
	switch {
	case e.Expires.IsZero():
		// For an ExpiringStore, the same as SetEntry by its contract, and
		// cheaper.
		err = c.store.Set(ctx, key, e.Value)
	case c.estore != nil:
		err = c.estore.SetEntry(ctx, key, *e)
	default:
		return false, nil // a plain store cannot keep the lifetime
	}
	return err == nil, err
}

// bump moves the generation once every fill that read the old one has
// stored what it fetched (see keep).
func (c *cache[K, V]) bump() {
	c.fillMu.Lock()
	c.gen.Add(1)
	c.fillMu.Unlock()
}

// failed handles an error from below.
func (c *cache[K, V]) failed(ctx context.Context, key K, err error, elapsed time.Duration, old *Entry[V], st state, gen uint64) (Entry[V], error) {
	if errors.Is(err, ErrNotFound) {
		if c.neg != nil {
			exp, now := c.expiry(time.Time{}, c.opts.NegativeTTL), c.opts.Clock()
			// Not if an invalidation raced it; under fillMu, as in keep.
			c.fillMu.RLock()
			if c.gen.Load() == gen {
				c.neg.add(key, exp, now)
			}
			c.fillMu.RUnlock()
		}
		if st == expired {
			// The key is gone below: drop what we kept for stale-if-error.
			c.deleteQuietly(ctx, key)
		}
		c.emit(ctx, NotFound, key, err, elapsed)
		return Entry[V]{}, err
	}
	if st == expired && c.opts.StaleIfError > 0 && c.opts.Clock().Before(old.Expires.Add(c.opts.StaleIfError)) {
		c.emit(ctx, StaleServed, key, err, elapsed)
		return *old, nil
	}
	err = fmt.Errorf("pipeline: %s: %w", c.name, err)
	c.emit(ctx, Error, key, err, elapsed)
	return Entry[V]{}, err
}

// expiry returns the lifetime to store: inner capped by ttl (jittered) from
// now. A zero ttl leaves inner as it is.
func (c *cache[K, V]) expiry(inner time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return inner
	}
	if c.opts.Jitter > 0 {
		ttl -= time.Duration(rand.Float64() * c.opts.Jitter * float64(ttl))
	}
	own := c.opts.Clock().Add(ttl)
	if inner.IsZero() || own.Before(inner) {
		return own
	}
	return inner
}

func (c *cache[K, V]) deleteQuietly(ctx context.Context, key K) {
	if err := c.store.Delete(ctx, key); err != nil {
		c.emit(ctx, Error, key, fmt.Errorf("pipeline: %s: store delete: %w", c.name, err), 0)
	}
}

// negatives remembers keys that were not found, until their expiry.
type negatives[K comparable] struct {
	mu  sync.Mutex
	m   map[K]time.Time
	max int
}

func (n *negatives[K]) has(key K, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	exp, ok := n.m[key]
	if ok && now.Before(exp) {
		return true
	}
	if ok {
		delete(n.m, key)
	}
	return false
}

func (n *negatives[K]) add(key K, exp, now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.m) >= n.max {
		for k, e := range n.m {
			if !now.Before(e) {
				delete(n.m, k)
			}
		}
		// Still full: forget an arbitrary tenth. Forgetting a negative
		// entry costs one extra fetch, never a wrong answer.
		for k := range n.m {
			if len(n.m) < n.max-n.max/10 {
				break
			}
			delete(n.m, k)
		}
	}
	n.m[key] = exp
}

func (n *negatives[K]) remove(key K) {
	n.mu.Lock()
	delete(n.m, key)
	n.mu.Unlock()
}
