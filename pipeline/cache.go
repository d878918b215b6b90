package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/multilayer-cache/multilayer/internal/clock"
	"github.com/multilayer-cache/multilayer/internal/keys"
	"github.com/multilayer-cache/multilayer/internal/plumbing"
)

// The cache layer is a short client of four parts, each in its own file:
//
//   - flights (flight.go): one fetch below per key, joined by concurrent
//     callers, run detached from a cancellable caller under a bounded
//     context;
//   - the fill (fill.go): what a fetch below leaves in the store, guarded
//     so that no fill begun before an invalidation writes after it;
//   - the dependency index (deps.go): which outer values were derived from
//     this layer's keys, so that an invalidation drops them too;
//   - background work (background.go, refresh.go): detached fetches and
//     refresh-ahead, counted so that Close can stop them.
//
// This file holds the options, the constructor and the hit path.

// DefaultFetchTimeout bounds a shared fetch when CacheOptions.FetchTimeout
// is zero.
const DefaultFetchTimeout = 30 * time.Second

// DefaultDependentsBytes is the least bound of a layer's dependency index
// when CacheOptions.DependentsBytes is zero; the bound then grows with the
// layers above (see CacheOptions.DependentsBytes).
const DefaultDependentsBytes = 16 << 20

// CacheOptions configure a cache layer. The zero value, and a nil pointer,
// mean defaults: no TTL, coalescing on, no negative caching, no
// stale-if-error, no observer.
type CacheOptions[K any] struct {
	// TTL is the longest the layer keeps a value. A value from below with a
	// shorter remaining lifetime keeps that lifetime; one with an unknown
	// lifetime gets TTL. Zero means the layer adds no limit of its own (it
	// still keeps lifetimes that come from below). A TTL needs an
	// ExpiringStore. A store with a lifetime of its own (a TTLStore, such
	// as stores.TTL) caps every entry at it too: when both are set, the
	// shorter wins, as each is a maximum, and the layer reports that
	// lifetime to the layers above. stores.TTLCache writes it once.
	TTL time.Duration
	// Jitter shortens each lifetime the layer sets (TTL and NegativeTTL) by a
	// random fraction of it in [0, Jitter), so that keys filled together do
	// not expire together. It must be in [0, 1). Default 0.
	Jitter float64
	// NegativeTTL turns on negative caching: a key that below reported as
	// not found is answered with ErrNotFound, without asking below, for this
	// long. Default 0: off.
	NegativeTTL time.Duration
	// NegativeSize bounds the number of keys remembered as not found, and
	// the number of keys remembered as backing off after a failed refresh.
	// Default 10000.
	NegativeSize int
	// StaleIfError turns on stale-if-error: when below fails (not when it
	// reports not found) and the layer holds a value that expired less than
	// StaleIfError ago, the layer returns that value with a nil error and
	// reports the failure as a StaleServed event. Needs an ExpiringStore that
	// keeps expired entries at least this long: a StaleKeeper (stores.TTL,
	// stores/otter) is told to when the layer is built, and an LRU keeps
	// them until it evicts them. Default 0: off.
	StaleIfError time.Duration
	// FetchTimeout bounds a fetch shared by coalesced callers, which runs
	// detached from the cancellation of the caller that started it, to
	// between FetchTimeout and 1/16 more (fetches started close together
	// share one timer). Default DefaultFetchTimeout; negative means no bound.
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
	// Meanwhile the old value is served until it expires. At most
	// NegativeSize keys are remembered as backing off. Default 1s.
	RefreshBackoff time.Duration
	// DependentsBytes bounds the memory of the record of which outer values
	// derive from which of this layer's keys (see Cache, Invalidation), as
	// estimated from the sizes of the keys. Forgetting a record drops the
	// outer value it names, which costs a refetch, never a stale answer;
	// the outer layer reports it as Evicted.
	//
	// A record is made for each value filled in a cache layer above, but
	// for one built over this layer directly or through layers that keep
	// keys (see Cache), and is estimated at 64 bytes plus its keys' (the
	// heap holds about 1.25× the estimate: 118 bytes a record for a 7-byte
	// string key under a uint64 one, estimated at 94;
	// BenchmarkDependentsMemory). Records are not removed when the outer
	// store evicts the value (values further up may still derive from it),
	// so the index needs room for about twice the entries of those layers.
	// Zero, the default, makes that room where their stores say how many
	// entries they hold (a Meter: every bounded stock store), and at least
	// DefaultDependentsBytes. A layer of 200k entries above hit about 80%
	// of a Zipf trace over an index bounded at 16 MiB, 83.4% over the
	// default and 83.7% over one the trace never fills
	// (BenchmarkDependentsBound).
	DependentsBytes int
	// BatchConcurrency is how many single fetches a batch runs at once when
	// next cannot batch (see Batches). Default DefaultBatchConcurrency.
	BatchConcurrency int
	// Observer receives the layer's events. Default nil: none.
	Observer Observer[K]
	// Metrics records the layer's events under the layer's name (see
	// Recorder), besides Observer: give every layer the same
	// *middleware.Metrics and each counts under its own name. An Observer
	// that counts in the same Metrics under the same name (one from
	// middleware.Observe) would count every event twice. Default nil: none.
	Metrics Recorder
	// Clock returns the current time for expiry decisions. Default
	// time.Now, with one shortcut: a hit on an entry that expires later than
	// a coarse clock shared by the process (refreshed every millisecond
	// while hits read it) is fresh without reading time.Now. So an entry may
	// be served up to about a millisecond after it expired, more on a
	// machine too loaded to refresh that clock on time. A Clock of your own
	// is always read.
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
// event. A failing Get is reported the same way and treated as a miss, and
// the fetch that follows writes nothing to the store: a store that cannot
// be read (a remote store that is down) is not written to either.
//
// A key that cannot live in a map (see ErrInvalidKey) is an error for its
// caller alone.
//
// # Coalescing
//
// Concurrent misses of one key make one call to next; the others wait for
// it. The flight covers check → fetch → store, and the store is checked again
// inside it when a flight landed since the caller read it, so a caller that
// arrives just after a flight ended hits the store. Each waiter honours its
// own ctx: when it ends, that caller returns ctx.Err() at once and the
// shared fetch goes on for the others. The shared fetch runs under a context
// that keeps the values of the ctx of the caller that started it but not
// its cancellation, bounded by FetchTimeout and by Close. A caller whose ctx
// can never be cancelled (ctx.Done() == nil) runs the fetch itself, under
// its own ctx and unbounded, as it would without a cache.
//
// A panic in next, in store or in an observer is recovered and reaches
// every waiter as a *PanicError; the key is not left stuck, and the next
// fetch calls next again. One exception keeps hits cheap: Fetch and
// FetchEntry read the store and report a hit with no deferred recover (it
// would cost a hit about as much as the rest of the layer), so a panic in
// the store's Get or GetEntry, or in an observer told of that hit, reaches
// the caller as a panic, as in any call made in the caller's goroutine.
// FetchBatch, whose cost its keys share, recovers its read too.
//
// # Expiry
//
// With an ExpiringStore, a value filled from below is stored with the lifetime
// reported by next (see EntryFetcher) capped by TTL, so the layer never keeps
// a value longer than the layer it came from. With a plain Store there is no
// expiry: values stay until the store drops them or the key is invalidated,
// and a value whose lifetime is known is returned but not stored. Expiry is
// judged by Clock, which by default follows time.Now to within a
// millisecond.
//
// # Invalidation and trees
//
// The returned Fetcher implements Invalidator, Clearer, Closer and Origin.
// Invalidate first passes the key inward to next, then drops it from store
// and from the negative cache, then drops every outer value that was
// derived from it, outward through any number of levels, and returns once
// all of them are gone, with every failed drop's error (errors.Join). A fill
// that was under way when its key was dropped is returned to its callers but
// not kept, and later callers do not join it: once Invalidate has returned,
// a fetch that starts gets what next holds then, or a newer value, in this
// layer and in every layer derived from it. A Store must not call back into
// its layer: Invalidate and Clear wait for the writes under way.
//
// A cache layer built right over another, or over layers of this
// library's that keep keys (Parse, Transform, Log, Inspect, Timeout,
// tracing, Coherent) down to one of the same key type, is dropped by it
// with the same key; nothing else is needed. Other derived values are
// found through the context: when a cache layer misses, it fetches from
// below under a context that names its key, and every cache layer below
// that the fetch reaches records "my key → that outer key" before it reads
// its store. Any layer between them that passes its ctx to the call below
// keeps this working, a plain FetcherFunc closure included; a layer that
// calls below with another context (context.Background()) cuts the layers
// above it off from the invalidations of the layers below.
// See Forward for what a layer must do to pass Invalidate, Clear and Close
// inward.
//
// # Background work
//
// Shared fetches of cancellable callers and refreshes run in goroutines that
// the layer counts. Close cancels them and waits for them, then passes Close
// inward (see Close for trees).
//
// Cache panics if name is empty, store is nil, next is nil, or an option is
// out of range (a negative duration or size, Jitter outside [0, 1), TTL,
// StaleIfError or RefreshAhead with a store that is not an ExpiringStore,
// StaleIfError longer than a StaleKeeper store can keep expired entries).
func Cache[K comparable, V any](name string, store Store[K, V], opts *CacheOptions[K]) Middleware[K, V] {
	o := cacheOptions(name, store, opts)
	keepStale(name, store, o.StaleIfError)
	return func(next Fetcher[K, V]) Fetcher[K, V] {
		plumbing.MustNext("pipeline: Cache "+name, next)
		c := &cache[K, V]{
			emitter:   newEmitter(name, o.Observer),
			store:     store,
			next:      Entries(next),
			batch:     Batches(next, o.BatchConcurrency),
			inner:     next,
			opts:      o,
			checkKeys: keys.MayBeInvalid[K](),
			negErr:    fmt.Errorf("pipeline: %s: remembered: %w", name, ErrNotFound),
			inOrder:   keepsOrder(next),
			neg:       newTimedSet[K](o.NegativeSize),
			backoff:   newTimedSet[K](o.NegativeSize),
		}
		c.estore, _ = store.(ExpiringStore[K, V])
		c.bstore, _ = store.(BatchStore[K, V])
		// Hits may use the store's plain Get, which judges expiry by the
		// store's clock, when the layer judges the same way and needs
		// nothing else from the entry: no clock of its own, no
		// refresh-ahead, no stale values.
		c.coarse = opts == nil || opts.Clock == nil
		c.plainHits = c.estore == nil || c.coarse && o.RefreshAhead == 0 && o.StaleIfError == 0
		c.deps.init(o.DependentsBytes, opts == nil || opts.DependentsBytes == 0,
			func(err error) { c.emit(context.Background(), Error, *new(K), err, 0) })
		c.flights.m = make(map[K]slot[K, V])
		c.bg.init(o.FetchTimeout)
		if n, ok := store.(Notifier[K]); ok {
			n.Notify(c.storeEvent)
		}
		if m, ok := store.(Meter); ok {
			observeMeter(o.Observer, m)
			c.capacity = m.Usage().Capacity
		}
		if below, ok := sameKeyIndex[K](next); ok {
			below.addDirect(c, func(k K) dependent { return derived[K, V]{c, k} })
			c.directOver = true
		}
		plumbing.Hold(next)
		return c
	}
}

// cacheOptions checks opts and fills in the defaults.
func cacheOptions[K, V any](name string, store Store[K, V], opts *CacheOptions[K]) CacheOptions[K] {
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
	_, expiring := store.(ExpiringStore[K, V])
	switch {
	case o.TTL < 0 || o.NegativeTTL < 0 || o.StaleIfError < 0 || o.NegativeSize < 0 || o.BatchConcurrency < 0 ||
		o.RefreshAhead < 0 || o.RefreshConcurrency < 0 || o.RefreshBackoff < 0 || o.DependentsBytes < 0:
		panic("pipeline: Cache " + name + ": negative duration or size")
	case !(o.Jitter >= 0 && o.Jitter < 1):
		panic("pipeline: Cache " + name + ": Jitter must be in [0, 1)")
	case (o.TTL > 0 || o.StaleIfError > 0 || o.RefreshAhead > 0) && !expiring:
		panic("pipeline: Cache " + name + ": TTL, StaleIfError and RefreshAhead need an ExpiringStore")
	}
	if s, ok := store.(TTLStore); ok && s.TTL() > 0 && (o.TTL == 0 || s.TTL() < o.TTL) {
		o.TTL = s.TTL() // the shorter wins; see TTLStore
	}
	o.FetchTimeout = cmp.Or(o.FetchTimeout, DefaultFetchTimeout)
	o.NegativeSize = cmp.Or(o.NegativeSize, 10000)
	o.RefreshConcurrency = cmp.Or(o.RefreshConcurrency, 4)
	o.RefreshBackoff = cmp.Or(o.RefreshBackoff, time.Second)
	o.DependentsBytes = cmp.Or(o.DependentsBytes, DefaultDependentsBytes)
	o.Observer = Observers(o.Observer, recorderObserver[K](o.Metrics, name))
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

// keepStale tells a StaleKeeper store to keep expired entries for d, the
// layer's StaleIfError; it panics if the store cannot.
func keepStale[K, V any](name string, store Store[K, V], d time.Duration) {
	k, ok := store.(StaleKeeper)
	if d <= 0 || !ok {
		return
	}
	if err := k.KeepStale(d); err != nil {
		panic(fmt.Sprintf("pipeline: Cache %s: StaleIfError %v: %v", name, d, err))
	}
}

// cache is the Fetcher returned by Cache.
type cache[K comparable, V any] struct {
	emitter[K]
	store      Store[K, V]
	estore     ExpiringStore[K, V] // nil when store keeps no expiry
	bstore     BatchStore[K, V]    // nil when store cannot batch
	next       EntryFetcher[K, V]
	batch      BatchFetcher[K, V]
	inner      Fetcher[K, V] // next as given: for Invalidate, Clear, Close, Describe
	opts       CacheOptions[K]
	plainHits  bool // hits use store.Get; see Cache
	coarse     bool // hits may judge expiry by the coarse clock: Clock is the default
	checkKeys  bool // K may hold keys that cannot live in a map
	inOrder    bool // a batch reaches the cache layers below in order; see keepsOrder
	directOver bool // next is, or reaches, a cache layer of the same keys: it drops this layer's keys with its own; see sameKeyIndex
	negErr     error

	neg      *timedSet[K] // keys not found below, while NegativeTTL > 0
	backoff  *timedSet[K] // keys whose last refresh failed
	flights  flights[K, V]
	fill     fillGuard
	deps     deps[K]
	bg       background
	refresh  atomic.Int32 // background refreshes running
	capacity int          // the entries store can hold, if it is a Meter: for the index below (see deps.grow)
	refs     plumbing.Refs
}

// state is what a store lookup found.
type state uint8

const (
	absent  state = iota
	fresh         // within its lifetime
	due           // fresh, but within RefreshAhead of its expiry
	expired       // past its lifetime, kept for stale-if-error
	broken        // the store failed: the fill must not write to it
)

// Fetch returns the value for key; see Cache.
//
// Fetch serves a hit with no deferred recover (see Cache on panics): it
// cost a hit 5 ns, a fifth of a hit over stores.NewLRU, and half of what
// the layer adds to a store's Get (issue #13's hit targets). slow recovers
// the rest of the fetch, and rejectKey an invalid key's.
func (c *cache[K, V]) Fetch(ctx context.Context, key K) (V, error) {
	if c.checkKeys && !keys.Valid(key) {
		var zero V
		return zero, c.rejectKey(ctx, key)
	}
	if tracking.Load() != 0 {
		c.deps.track(ctx, key) // before the read; see deps.go
	}
	landed := c.flights.landed.Load() // see flights.join
	if !c.plainHits {
		e, ok, err := c.estore.GetEntry(ctx, key)
		if ok && err == nil && c.surelyFresh(e) {
			if c.observed() {
				c.emitHit(ctx, key)
			}
			return e.Value, nil
		}
		e, err = c.slow(ctx, key, e, ok, err, landed)
		return e.Value, err
	}
	v, ok, err := c.store.Get(ctx, key)
	if ok && err == nil {
		if c.observed() {
			c.emitHit(ctx, key)
		}
		return v, nil
	}
	e, err := c.slow(ctx, key, Entry[V]{Value: v}, ok, err, landed)
	return e.Value, err
}

// FetchEntry returns the value for key with its lifetime; see Cache and
// Fetch.
func (c *cache[K, V]) FetchEntry(ctx context.Context, key K) (Entry[V], error) {
	if c.checkKeys && !keys.Valid(key) {
		return Entry[V]{}, c.rejectKey(ctx, key)
	}
	if tracking.Load() != 0 {
		c.deps.track(ctx, key)
	}
	landed := c.flights.landed.Load()
	e, ok, err := c.read(ctx, key)
	if ok && err == nil && c.surelyFresh(e) { // a hit, as in Fetch
		if c.observed() {
			c.emitHit(ctx, key)
		}
		return e, nil
	}
	return c.slow(ctx, key, e, ok, err, landed)
}

// read reads key from the store.
func (c *cache[K, V]) read(ctx context.Context, key K) (Entry[V], bool, error) {
	if c.estore != nil {
		return c.estore.GetEntry(ctx, key)
	}
	v, ok, err := c.store.Get(ctx, key)
	return Entry[V]{Value: v}, ok, err
}

// readEach reads keys from the store one at a time into out, as GetBatch
// would: a key the store does not hold gets ErrNotFound.
func (c *cache[K, V]) readEach(ctx context.Context, ks []K, out []Result[V]) {
	for i, k := range ks {
		var ok bool
		out[i].Entry, ok, out[i].Err = c.read(ctx, k)
		if out[i].Err == nil && !ok {
			out[i].Err = ErrNotFound
		}
	}
}

// slow finishes a fetch whose store read was not a plain fresh hit: an
// entry with an expiry to judge, a miss, or a store error. landed was read
// before the store (see flights.join). A panic from here on, in the store or
// in an observer, reaches the caller as a *PanicError.
func (c *cache[K, V]) slow(ctx context.Context, key K, e Entry[V], ok bool, readErr error, landed uint64) (_ Entry[V], err error) {
	defer c.recoverFetch(ctx, key, &err)
	switch st := c.judge(ctx, key, e, ok, readErr); st {
	case fresh:
		c.hit(ctx, key)
		return e, nil
	case due:
		c.hit(ctx, key)
		c.refreshAhead(ctx, key, e, landed)
		return e, nil
	default:
		return c.miss(ctx, key, e, st, landed)
	}
}

// surelyFresh reports whether e is fresh and not due for refresh without
// reading the time: it never expires, or the coarse clock, which lags the
// time by at most a millisecond, says so (the fast path of the TTL hit
// target: no time.Now). If it returns false, judge reads Clock.
func (c *cache[K, V]) surelyFresh(e Entry[V]) bool {
	return e.Expires.IsZero() || c.coarse && clock.Coarse() < e.Expires.UnixNano()-int64(c.opts.RefreshAhead)
}

// judge tells the state of what a store read returned. A store error is
// reported.
func (c *cache[K, V]) judge(ctx context.Context, key K, e Entry[V], ok bool, err error) state {
	switch {
	case err != nil:
		c.emit(ctx, Error, key, fmt.Errorf("pipeline: %s: store get: %w", c.name, err), 0)
		return broken
	case !ok:
		return absent
	case c.surelyFresh(e):
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

// judgeRead tells the state of a key's result of a batch read (GetBatch,
// or readEach), where a key the store does not hold has ErrNotFound.
func (c *cache[K, V]) judgeRead(ctx context.Context, key K, r Result[V]) state {
	if isNotFound(r.Err) {
		return absent
	}
	return c.judge(ctx, key, r.Entry, r.Err == nil, r.Err)
}

// hit reports a hit: with no observer and no trace, it costs two loads and
// a call.
func (c *cache[K, V]) hit(ctx context.Context, key K) {
	if c.observed() {
		c.emitHit(ctx, key)
	}
}

// emitHit emits Hit. Fetch's hit path spells hit out as
// "if c.observed() { c.emitHit(ctx, key) }": hit does not inline, and the
// call cost a hit 1.6 ns (issue #13's hit targets).
func (c *cache[K, V]) emitHit(ctx context.Context, key K) { c.emitSlow(ctx, Hit, key, nil, 0) }

// invalidKey returns the error for a key that cannot live in a map, and
// reports it.
func (c *cache[K, V]) invalidKey(ctx context.Context, key K) error {
	err := fmt.Errorf("pipeline: %s: key %v of type %T: %w", c.name, key, key, ErrInvalidKey)
	c.emit(ctx, Error, key, err, 0)
	return err
}

// rejectKey is invalidKey for Fetch and FetchEntry, which recover a panic
// of the observer told of the key as the rest of a fetch does (see slow):
// only a hit goes without.
func (c *cache[K, V]) rejectKey(ctx context.Context, key K) (err error) {
	defer c.recoverFetch(ctx, key, &err)
	return c.invalidKey(ctx, key)
}

// recoverFetch turns a panic in the fetch of key (in the store, or in an
// observer) into a *PanicError in *err. Panics below are recovered by the
// flight (see call.run), so that every waiter gets them.
func (c *cache[K, V]) recoverFetch(ctx context.Context, key K, err *error) {
	if r := recover(); r != nil {
		*err = c.panicked(ctx, key, r)
	}
}

// panicked turns a recovered panic value into the error every waiter gets.
func (c *cache[K, V]) panicked(ctx context.Context, key K, r any) error {
	err := &PanicError{Layer: c.name, Value: r, Stack: debug.Stack()}
	func() {
		defer func() { _ = recover() }() // a panicking observer must not hide the first panic
		c.emit(ctx, Error, key, err, 0)
	}()
	return err
}

// storeEvent reports what the store did on its own (see Notifier). It may
// run under the store's lock: it only counts.
func (c *cache[K, V]) storeEvent(e StoreEvent[K]) {
	defer func() { _ = recover() }() // the store must not see an observer's panic
	c.emit(context.Background(), e.Kind, e.Key, e.Err, 0)
}

// Describe says what the cache layer is, with its settings, and with its
// live counts, latency and last error if its observer keeps them.
func (c *cache[K, V]) Describe() Description {
	d := Description{Name: c.name, Kind: "cache", Next: []any{c.inner}, Stats: statsOf(c.observer), Settings: c.settings()}
	report(&d, c.observer)
	if m, ok := c.store.(Meter); ok {
		u := m.Usage()
		d.Usage = &u
		_, d.ReportsEvictions = c.store.(Notifier[K]) // a bounded store that tells its layer what happens
	}
	if k, ok := c.store.(interface{ LayerKind() string }); ok {
		d.Kind = k.LayerKind()
	}
	if c.opts.TTL > 0 {
		d.Detail = "ttl " + c.opts.TTL.String()
	}
	return d
}
