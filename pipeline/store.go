package pipeline

import (
	"context"
	"time"
)

// A Store is where a cache layer keeps its values: any map, SQL table, file
// or server the user brings. Get reports a missing key as ok == false with a
// nil error; an error means the store could not answer. A Store must be safe
// for concurrent use.
type Store[K, V any] interface {
	Get(ctx context.Context, key K) (value V, ok bool, err error)
	Set(ctx context.Context, key K, value V) error
	Delete(ctx context.Context, key K) error
}

// An ExpiringStore is a Store that keeps an expiry with each value; a cache
// layer needs one to apply a TTL, to keep expiry from an inner layer, and to
// serve stale values.
//
// GetEntry returns the entry as it was set, expired or not: the cache layer
// judges freshness with its own clock. Get, by contrast, must report an
// entry whose non-zero Expires has passed (by the store's clock, which
// follows time.Now, to within the resolution the store documents) as
// absent, so that a layer needing only "fresh or not" by the real clock
// serves hits with the cheaper Get. Set(ctx, key, v) must do what SetEntry(ctx, key,
// Entry[V]{Value: v}) does: the layer calls whichever is cheaper. A store
// may drop an entry at any time after it expired.
type ExpiringStore[K, V any] interface {
	Store[K, V]
	GetEntry(ctx context.Context, key K) (e Entry[V], ok bool, err error)
	SetEntry(ctx context.Context, key K, e Entry[V]) error
}

// A TTLStore is an ExpiringStore that caps the lifetime of every entry it
// stores at TTL() from when it stores it, as stores.TTL does. A cache layer
// over one takes the shorter of TTL() and its own CacheOptions.TTL as its
// TTL, so that the lifetime it reports to the layers above is the one the
// store keeps: one lifetime, written once, in the store or in the layer.
// A TTL() of 0 or less means no lifetime of its own, as a wrapper that may
// or may not wrap a TTLStore (stores.Encoded) returns: the layer keeps its
// own TTL.
type TTLStore interface {
	TTL() time.Duration
}

// A StaleKeeper is an ExpiringStore that drops an entry a grace period
// after it expired, as stores.TTL does: until then GetEntry still returns
// it, for stale-if-error. A cache layer with CacheOptions.StaleIfError
// calls KeepStale(StaleIfError) once, when it is built, so that the store
// keeps expired entries at least that long: StaleIfError needs no setting
// of the store's to keep in step with it. KeepStale lengthens the grace
// period to d if it is shorter, and never shortens it. It returns an error
// if the store cannot keep expired entries that long; the layer then
// panics. A store that keeps an expired entry until it is replaced, deleted
// or evicted (as stores.LRU does) need not implement it.
type StaleKeeper interface {
	KeepStale(d time.Duration) error
}

// A BatchStore is an ExpiringStore that reads and writes many keys in one
// call: under one lock, or in one round trip. It is optional; a cache layer
// over one serves a batch (see BatchFetcher) with one GetBatch for the keys
// it holds and one SetBatch for those it fills. Neither keeps its slices
// after it returns.
type BatchStore[K, V any] interface {
	ExpiringStore[K, V]
	// GetBatch sets out[i] (len(out) == len(keys), keys may repeat) to the
	// entry of keys[i] as GetEntry would return it, with a nil Err; or to
	// ErrNotFound in Err if the store does not hold it; or to the error that
	// kept the store from answering for it.
	GetBatch(ctx context.Context, keys []K, out []Result[V])
	// SetBatch stores entries[i] under keys[i] as SetEntry does; an error
	// means some entries may not have been stored.
	SetBatch(ctx context.Context, keys []K, entries []Entry[V]) error
}

// StoreFuncs adapts three functions to a Store, for ad-hoc stores. GetFunc
// and SetFunc are required; a nil DeleteFunc makes Delete a no-op.
type StoreFuncs[K, V any] struct {
	GetFunc    func(ctx context.Context, key K) (V, bool, error)
	SetFunc    func(ctx context.Context, key K, value V) error
	DeleteFunc func(ctx context.Context, key K) error
}

// Get calls s.GetFunc(ctx, key).
func (s StoreFuncs[K, V]) Get(ctx context.Context, key K) (V, bool, error) {
	return s.GetFunc(ctx, key)
}

// Set calls s.SetFunc(ctx, key, value).
func (s StoreFuncs[K, V]) Set(ctx context.Context, key K, value V) error {
	return s.SetFunc(ctx, key, value)
}

// Delete calls s.DeleteFunc(ctx, key) if it is set.
func (s StoreFuncs[K, V]) Delete(ctx context.Context, key K) error {
	if s.DeleteFunc == nil {
		return nil
	}
	return s.DeleteFunc(ctx, key)
}

// A StoreEvent is something a store did on its own that its layer should
// know of: an entry evicted to make room (Kind Evicted), a stored value found
// corrupt and dropped, or a server it stopped calling (Kind Error, Err says
// what). Key is the key concerned, if any.
type StoreEvent[K any] struct {
	Kind EventKind
	Key  K
	Err  error
}

// A Notifier is a Store that tells its layer what it did on its own. It is
// optional. A cache layer calls Notify once, when built, before any other
// call, with the function the store calls from then on; a store serves one
// layer, and a later Notify replaces the function. The store may call it
// from any goroutine, holding its own locks, during a call from the layer:
// the function only counts the event and hands it to the layer's observers;
// it never calls back into the store, never blocks and never panics.
type Notifier[K any] interface {
	Notify(func(StoreEvent[K]))
}

// A Usage is how full a bounded store is.
type Usage struct {
	Entries  int   `json:"entries"`             // entries held
	Capacity int   `json:"capacity,omitempty"`  // most entries held; 0 if only MaxBytes bounds it
	Bytes    int64 `json:"bytes,omitempty"`     // weight held, for a store that weighs entries
	MaxBytes int64 `json:"max_bytes,omitempty"` // weight budget; 0 if none
}

// A MeterObserver is an Observer that also reports how full its layer's
// store is, as middleware.Metrics does: a cache layer whose store is a
// Meter hands it to its observer (to each of several, see Observers) once,
// when the layer is built. Observers see only events; this is how one
// reaches the store.
type MeterObserver interface {
	ObserveMeter(m Meter)
}

// A Meter is a bounded store that says how full it is. It is optional; Usage
// is safe for concurrent use and cheap enough for a metrics scrape.
type Meter interface {
	Usage() Usage
}
