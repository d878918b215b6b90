package pipeline

import "context"

// A Store is where a cache layer keeps its values: the seed's
// get_cache_value / set_cache_value pair, plus Delete. Users bring any store
// (a map, SQL, a file, Redis); the library does not control it.
//
// Get reports a missing key as ok == false with a nil error; an error means
// the store could not answer. A Store must be safe for concurrent use.
type Store[K, V any] interface {
	Get(ctx context.Context, key K) (value V, ok bool, err error)
	Set(ctx context.Context, key K, value V) error
	Delete(ctx context.Context, key K) error
}

// An ExpiringStore is a Store that keeps an expiry with each value. A cache
// layer needs one to apply a TTL, to keep expiry that comes from an inner
// layer, and to serve stale values.
//
// GetEntry returns the entry as it was set, expired or not: the cache layer
// judges freshness with its own clock. Set(ctx, key, v) must do what
// SetEntry(ctx, key, Entry[V]{Value: v}) does (store v with an unknown
// lifetime): the cache layer calls whichever is cheaper. Get, by contrast, must report an entry
// whose non-zero Expires has passed (by time.Now) as absent: a cache layer
// that needs nothing more than "fresh or not" by the real clock serves its
// hits with Get, which is cheaper. A store may drop an entry at any time
// after it expired.
type ExpiringStore[K, V any] interface {
	Store[K, V]
	GetEntry(ctx context.Context, key K) (e Entry[V], ok bool, err error)
	SetEntry(ctx context.Context, key K, e Entry[V]) error
}

// A BatchStore is an ExpiringStore that reads and writes many keys in one
// call: an in-memory store under one lock, a remote store in one round trip.
// It is optional. A cache layer whose store is a BatchStore serves a batch
// (see BatchFetcher) with one GetBatch for the keys it holds and one
// SetBatch for the ones it fills, instead of a call per key.
type BatchStore[K, V any] interface {
	ExpiringStore[K, V]
	// GetBatch writes to out[i] the entry of keys[i] as it was set, expired
	// or not (as GetEntry), with a nil Err; or, if the store does not hold
	// the key, ErrNotFound in Err; or an error in Err if the store could not
	// answer for that key. len(out) == len(keys); keys may repeat.
	// GetBatch must not keep keys or out after it returns.
	GetBatch(ctx context.Context, keys []K, out []Result[V])
	// SetBatch stores entries[i] under keys[i] (as SetEntry);
	// len(entries) == len(keys). An error means some of the entries may not
	// have been stored. SetBatch must not keep keys or entries after it
	// returns.
	SetBatch(ctx context.Context, keys []K, entries []Entry[V]) error
}

// StoreFuncs adapts three functions to a Store, for ad-hoc stores. A nil
// DeleteFunc makes Delete a no-op; GetFunc and SetFunc are required.
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

// A StoreEvent is something a store did on its own, that the layer owning
// it should know of: an entry it evicted to make room (Kind Evicted), a
// stored value it found corrupt and dropped (Kind Error, Err says what), a
// server it stopped calling (Kind Error). Key is the key concerned, if any.
type StoreEvent[K any] struct {
	Kind EventKind
	Key  K
	Err  error
}

// A Notifier is a Store that tells its layer what it did on its own (see
// StoreEvent). It is optional: user stores need not implement it.
//
// A cache layer calls Notify once, when it is built, before any other call,
// with the function the store calls from then on; a store serves one layer,
// and a later Notify replaces the function. The store may call it from any
// goroutine, while holding its own locks, and while a call of the layer
// into the store is under way: the function only counts the event and hands
// it to the layer's observers, never calls back into the store and never
// blocks. The function never panics; a store need not recover from it.
type Notifier[K any] interface {
	Notify(func(StoreEvent[K]))
}

// A Usage is how full a bounded store is.
type Usage struct {
	// Entries is the number of entries held.
	Entries int `json:"entries"`
	// Capacity is the most entries the store holds; 0 if only a weight
	// budget bounds it.
	Capacity int `json:"capacity,omitempty"`
	// Bytes is the weight held, for a store that weighs its entries.
	Bytes int64 `json:"bytes,omitempty"`
	// MaxBytes is the weight budget; 0 if none.
	MaxBytes int64 `json:"max_bytes,omitempty"`
}

// A Meter is a bounded store that says how full it is. It is optional.
// Usage is safe for concurrent use and cheap enough for a metrics scrape.
type Meter interface {
	Usage() Usage
}
