package otter

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	ot "github.com/maypok86/otter/v2"

	"github.com/multilayer-cache/multilayer/internal/clock"
	"github.com/multilayer-cache/multilayer/internal/expiry"
	"github.com/multilayer-cache/multilayer/internal/keys"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

var (
	_ pipeline.BatchStore[string, int] = (*Store[string, int])(nil)
	_ pipeline.Notifier[string]        = (*Store[string, int])(nil)
	_ pipeline.Meter                   = (*Store[string, int])(nil)
	_ pipeline.StaleKeeper             = (*Store[string, int])(nil)
)

// Options configure a Store. The zero value, and a nil pointer, mean
// defaults.
type Options struct {
	// Grace is how long otter keeps an entry after its Expires, so that a
	// cache layer can still serve it stale-if-error through GetEntry. A
	// cache layer with StaleIfError lengthens it to its StaleIfError when it
	// is built (see Store.KeepStale): leave it zero unless another reader
	// needs it. It must not be negative. Default 0: an entry leaves when it
	// expires.
	Grace time.Duration
	// Clock returns the current time, for tests. Default: the process's
	// coarse clock, which may be a millisecond behind time.Now.
	Clock func() time.Time
	// InitialCapacity is how many entries otter's tables are sized for at
	// first. It must not be negative. Default 0: otter's default.
	InitialCapacity int
}

// A Store is a bounded store on otter: see the package doc.
//
// It implements pipeline.ExpiringStore with the rules of stores.TTL's
// GetEntry (an expired entry is returned until Grace after its Expires) and
// of stores.LRU's Set (a zero Expires is an unknown lifetime, kept until
// evicted), and pipeline.BatchStore: GetBatch and SetBatch read and write
// key by key, as otter takes no store-wide lock to share.
//
// A Store is safe for concurrent use. A hit takes no lock and allocates
// nothing. Its methods fail only for a key that cannot live in a map (an
// interface holding a slice, a map or a func; a NaN, or a struct holding
// one): the error wraps pipeline.ErrInvalidKey.
type Store[K comparable, V any] struct {
	c         *ot.Cache[K, item[V]]
	now       func() int64      // Unix nanoseconds, the clock otter uses
	grace     expiry.Grace      // Grace, lengthened by KeepStale
	size      int               // New: the capacity; 0 if weighted
	maxWeight uint64            // NewWeighted: the budget; 0 if not
	weigher   func(K, V) uint32 // NewWeighted: the weigher; nil if not
	checkKeys bool              // see keys.MayBeInvalid
	notify    atomic.Pointer[func(pipeline.StoreEvent[K])]
}

// An item is an entry as a Store holds it: Expires in Unix nanoseconds, 0
// for an unknown lifetime.
type item[V any] struct {
	value   V
	expires int64
}

// New returns an empty Store that holds at most about size entries (otter
// may evict a little before the bound, and exceeds it until its
// maintenance has run). opts may be nil for defaults; New does not keep or
// modify it.
//
// It returns an error wrapping stores.ErrInvalidSize if size is not
// positive, and stores.ErrInvalidOption for a negative Grace or
// InitialCapacity.
func New[K comparable, V any](size int, opts *Options) (*Store[K, V], error) {
	if size <= 0 {
		return nil, fmt.Errorf("stores/otter: New: %w %d: must be positive", stores.ErrInvalidSize, size)
	}
	s, o, err := newStore[K, V]("New", opts)
	if err != nil {
		return nil, err
	}
	s.size = size
	o.MaximumSize = size
	return s, s.build(o)
}

// NewWeighted returns an empty Store whose entries weigh at most about
// maxWeight in total, each weighing weigher(key, value) (otter weighs an
// entry when it is written; weigher must be quick, must not call the
// store, and returns the same weight for the same entry). An entry of
// weight 0 is never evicted for size. A value heavier than maxWeight is
// not stored; see the package doc. opts may be nil for defaults.
//
// It returns an error wrapping stores.ErrInvalidSize if maxWeight is not
// positive, and stores.ErrInvalidOption for a nil weigher, a negative Grace
// or InitialCapacity.
func NewWeighted[K comparable, V any](maxWeight int64, weigher func(key K, value V) uint32, opts *Options) (*Store[K, V], error) {
	switch {
	case maxWeight <= 0:
		return nil, fmt.Errorf("stores/otter: NewWeighted: %w: weight %d: must be positive", stores.ErrInvalidSize, maxWeight)
	case weigher == nil:
		return nil, fmt.Errorf("stores/otter: NewWeighted: %w: nil weigher", stores.ErrInvalidOption)
	}
	s, o, err := newStore[K, V]("NewWeighted", opts)
	if err != nil {
		return nil, err
	}
	s.maxWeight, s.weigher = uint64(maxWeight), weigher
	o.MaximumWeight = s.maxWeight
	o.Weigher = func(k K, it item[V]) uint32 { return weigher(k, it.value) }
	return s, s.build(o)
}

// newStore validates opts and returns a Store and otter's options with
// what New and NewWeighted share.
func newStore[K comparable, V any](constructor string, opts *Options) (*Store[K, V], *ot.Options[K, item[V]], error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Grace < 0:
		return nil, nil, fmt.Errorf("stores/otter: %s: %w: Grace %v: must not be negative", constructor, stores.ErrInvalidOption, o.Grace)
	case o.InitialCapacity < 0:
		return nil, nil, fmt.Errorf("stores/otter: %s: %w: InitialCapacity %d: must not be negative",
			constructor, stores.ErrInvalidOption, o.InitialCapacity)
	}
	s := &Store[K, V]{now: clock.Nanos, checkKeys: keys.MayBeInvalid[K]()}
	s.grace.Lengthen(o.Grace)
	var c ot.Clock = coarse{} // otter reads it on every hit: one call less than tickless
	if o.Clock != nil {
		s.now = func() int64 { return o.Clock().UnixNano() }
		c = tickless{s.now}
	}
	return s, &ot.Options[K, item[V]]{
		InitialCapacity:  o.InitialCapacity,
		ExpiryCalculator: ot.ExpiryWritingFunc(s.expiresAfter),
		OnAtomicDeletion: s.deleted,
		Clock:            c,
	}, nil
}

// build makes the otter cache.
func (s *Store[K, V]) build(o *ot.Options[K, item[V]]) error {
	c, err := ot.New(o)
	if err != nil {
		return fmt.Errorf("stores/otter: %w: %w", stores.ErrInvalidOption, err)
	}
	s.c = c
	return nil
}

// A tickless is otter's clock: it reads now and never ticks, so that otter
// starts no periodic clean-up goroutine (expired entries leave in the
// maintenance that writes and reads run).
type tickless struct{ now func() int64 }

// NowNano returns t.now().
func (t tickless) NowNano() int64 { return t.now() }

// Tick returns nil: no ticks.
func (t tickless) Tick(time.Duration) <-chan time.Time { return nil }

// coarse is tickless over the process's coarse clock.
type coarse struct{}

// NowNano returns clock.Nanos().
func (coarse) NowNano() int64 { return clock.Nanos() }

// Tick returns nil: no ticks.
func (coarse) Tick(time.Duration) <-chan time.Time { return nil }

// KeepStale lengthens Grace to d if it is shorter, so that otter keeps an
// entry written from then on, and GetEntry returns it, until at least d
// after its Expires: a cache layer with StaleIfError calls it when it is
// built, before it writes (see pipeline.StaleKeeper). It never fails.
func (s *Store[K, V]) KeepStale(d time.Duration) error {
	s.grace.Lengthen(d)
	return nil
}

// expiresAfter is otter's expiry calculator, for a write: an entry leaves
// Grace after its Expires. otter takes a non-positive duration to mean
// "keep the old deadline", so an entry written already expired gets 1ns.
// An entry without expiry ends at math.MaxInt64 (see expiry.Grace.End), the
// deadline otter saturates to: never.
func (s *Store[K, V]) expiresAfter(e ot.Entry[K, item[V]]) time.Duration {
	switch end, now := s.grace.End(e.Value.expires), e.SnapshotAtNano; {
	case end <= now:
		return 1
	case now < 0 && end > math.MaxInt64+now: // end - now would overflow
		return math.MaxInt64
	default:
		return time.Duration(end - now)
	}
}

// deleted is otter's synchronous deletion listener: it reports entries
// evicted for size, under otter's bucket lock, as pipeline.Notifier allows.
func (s *Store[K, V]) deleted(e ot.DeletionEvent[K, item[V]]) {
	if e.Cause == ot.CauseOverflow {
		s.report(e.Key)
	}
}

// report reports key as evicted.
func (s *Store[K, V]) report(key K) {
	if f := s.notify.Load(); f != nil {
		(*f)(pipeline.StoreEvent[K]{Kind: pipeline.Evicted, Key: key})
	}
}

// bad reports whether key is to be refused: whether K may hold invalid
// keys and key is one.
func (s *Store[K, V]) bad(key K) bool { return s.checkKeys && !keys.Valid(key) }

func invalidKey[K any](key K) error {
	return fmt.Errorf("stores/otter: key of type %T: %w", key, pipeline.ErrInvalidKey)
}

// Get returns the value of key. It reports ok == false if key is absent or
// its entry has a non-zero Expires that has passed.
func (s *Store[K, V]) Get(_ context.Context, key K) (V, bool, error) {
	if s.bad(key) {
		var zero V
		return zero, false, invalidKey(key)
	}
	it, ok := s.c.GetIfPresent(key)
	// Without Grace, otter hides an entry once it expired.
	if !ok || s.grace.Load() > 0 && it.expires != 0 && s.now() >= it.expires {
		var zero V
		return zero, false, nil
	}
	return it.value, true, nil
}

// GetEntry returns the entry of key as it was set, expired or not, until
// Grace after its Expires.
func (s *Store[K, V]) GetEntry(_ context.Context, key K) (pipeline.Entry[V], bool, error) {
	if s.bad(key) {
		return pipeline.Entry[V]{}, false, invalidKey(key)
	}
	it, ok := s.c.GetIfPresent(key)
	if !ok {
		return pipeline.Entry[V]{}, false, nil
	}
	return pipeline.Entry[V]{Value: it.value, Expires: expiry.FromNanos(it.expires)}, true, nil
}

// GetBatch writes to out[i] the entry of keys[i] as GetEntry returns it, or
// pipeline.ErrNotFound in Err if the store does not hold the key, or an
// error wrapping pipeline.ErrInvalidKey for an invalid key. It panics if
// len(out) != len(keys).
func (s *Store[K, V]) GetBatch(_ context.Context, keys []K, out []pipeline.Result[V]) {
	if len(out) != len(keys) {
		panic(fmt.Sprintf("stores/otter: GetBatch: %d results for %d keys", len(out), len(keys)))
	}
	for i, k := range keys {
		r := &out[i]
		if s.bad(k) {
			*r = pipeline.Result[V]{Err: invalidKey(k)}
			continue
		}
		if it, ok := s.c.GetIfPresent(k); ok {
			r.Value, r.Expires, r.Err = it.value, expiry.FromNanos(it.expires), nil
		} else {
			*r = pipeline.Result[V]{Err: pipeline.ErrNotFound}
		}
	}
}

// Set stores value under key with an unknown lifetime (a zero Expires).
func (s *Store[K, V]) Set(_ context.Context, key K, value V) error {
	if s.bad(key) {
		return invalidKey(key)
	}
	s.set(key, item[V]{value: value})
	return nil
}

// SetEntry stores e under key; otter drops it Grace after e.Expires. An
// entry that expired Grace or more ago is not stored, and the key's old
// value is dropped.
func (s *Store[K, V]) SetEntry(_ context.Context, key K, e pipeline.Entry[V]) error {
	if s.bad(key) {
		return invalidKey(key)
	}
	s.set(key, item[V]{value: e.Value, expires: expiry.ToNanos(e.Expires)})
	return nil
}

// set stores it under key. An entry that expired Grace or more ago is not
// stored, and neither is one heavier than the whole budget, which is
// reported evicted; both drop the key's old value.
func (s *Store[K, V]) set(key K, it item[V]) {
	if s.weigher != nil && uint64(s.weigher(key, it.value)) > s.maxWeight {
		s.c.Invalidate(key)
		s.report(key)
		return
	}
	if it.expires != 0 && s.grace.End(it.expires) <= s.now() {
		s.c.Invalidate(key) // otter would keep it until the clock moved (see expiresAfter)
		return
	}
	s.c.Set(key, it)
}

// SetBatch stores entries[i] under keys[i] as SetEntry does, in order, so
// that the last of a repeated key wins. It stores the valid keys and
// returns an error wrapping pipeline.ErrInvalidKey if some were invalid. It
// panics if len(entries) != len(keys).
func (s *Store[K, V]) SetBatch(_ context.Context, keys []K, entries []pipeline.Entry[V]) error {
	if len(entries) != len(keys) {
		panic(fmt.Sprintf("stores/otter: SetBatch: %d entries for %d keys", len(entries), len(keys)))
	}
	bad := 0
	var first error
	for i, k := range keys {
		if s.bad(k) {
			if bad++; first == nil {
				first = invalidKey(k)
			}
			continue
		}
		s.set(k, item[V]{value: entries[i].Value, expires: expiry.ToNanos(entries[i].Expires)})
	}
	if first != nil {
		return fmt.Errorf("stores/otter: SetBatch: %d of %d keys not stored: %w", bad, len(keys), first)
	}
	return nil
}

// Delete removes key, if it is present. It is not reported as an eviction.
func (s *Store[K, V]) Delete(_ context.Context, key K) error {
	if s.bad(key) {
		return invalidKey(key)
	}
	s.c.Invalidate(key)
	return nil
}

// Clear removes every entry. It is not reported as evictions.
func (s *Store[K, V]) Clear(context.Context) error {
	s.c.InvalidateAll()
	return nil
}

// Len returns about how many entries the store holds: expired entries and
// entries due for eviction count until otter's maintenance removes them
// (see CleanUp).
func (s *Store[K, V]) Len() int { return s.c.EstimatedSize() }

// Notify makes f the function the store reports its evictions to; see
// pipeline.Notifier and the package doc. A nil f stops the reports.
func (s *Store[K, V]) Notify(f func(pipeline.StoreEvent[K])) {
	if f == nil {
		s.notify.Store(nil)
		return
	}
	s.notify.Store(&f)
}

// Usage returns about how many entries the store holds (as Len), and its
// capacity; for a store made by NewWeighted, the weight held (Bytes) and the
// budget (MaxBytes) instead of a capacity. It takes otter's eviction lock
// for the weight.
func (s *Store[K, V]) Usage() pipeline.Usage {
	u := pipeline.Usage{Entries: s.c.EstimatedSize(), Capacity: s.size}
	if s.weigher != nil {
		u.Bytes, u.MaxBytes = int64(s.c.WeightedSize()), int64(s.maxWeight)
	}
	return u
}

// CleanUp runs otter's pending maintenance on the calling goroutine: when
// it returns, the entries that the writes which returned before it made the
// store evict are gone and reported, and expired entries are gone. Tests
// call it to wait for evictions; a busy store needs no call.
func (s *Store[K, V]) CleanUp() { s.c.CleanUp() }
