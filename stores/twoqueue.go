package stores

import (
	"fmt"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/multilayer-cache/multilayer/internal/keys"
	"github.com/multilayer-cache/multilayer/pipeline"
)

var (
	_ pipeline.BatchStore[string, int] = (*TwoQueue[string, int])(nil)
	_ pipeline.Notifier[string]        = (*TwoQueue[string, int])(nil)
	_ pipeline.Meter                   = (*TwoQueue[string, int])(nil)
)

// A TwoQueue is a store that holds at most a fixed number of entries and,
// when full, evicts by the 2Q policy (Johnson and Shasha, 1994), as
// golang-lru/v2's lru.TwoQueueCache does, with the same hit ratio: a new
// key enters a queue of recent keys, and moves to a queue of frequent keys
// when it is used again; a key evicted from the recent queue is remembered
// for a while, and goes straight to the frequent one if it comes back. One
// scan over many keys therefore does not flush the keys in use, which an
// LRU's does. It is built on golang-lru's simplelru under a mutex of its
// own, because lru.TwoQueueCache cannot report what it evicts.
//
// TwoQueue follows the rules of LRU: Get reports an entry whose non-zero
// Expires has passed (by time.Now, to within about a millisecond) as
// missing; GetEntry and GetBatch return every entry as it was set, and the
// cache layer judges freshness; an expired entry stays until it is
// replaced, deleted or evicted. Get,
// GetEntry and every key GetBatch finds count as a use of the key. Expires
// comes back as from an LRU: the same instant, in the Local location.
//
// TwoQueue implements pipeline.BatchStore (one lock per batch),
// pipeline.Notifier (each entry it evicts to make room is reported, from
// the goroutine of the write, under its lock; a Delete or a Clear is not)
// and pipeline.Meter. A hit on a frequent key allocates nothing; the first
// use of a recent key moves it to the frequent queue, which allocates a list
// element, as golang-lru's does.
//
// A TwoQueue is safe for concurrent use. Its methods fail only for a key
// that cannot live in a map (see the package doc, "Keys"): the error wraps
// pipeline.ErrInvalidKey.
type TwoQueue[K comparable, V any] struct {
	guarded[K, V, *twoQueue[K, V]]
}

// The shares of a TwoQueue's capacity that golang-lru's 2Q gives its queue
// of recent keys and its memory of keys evicted from it.
const (
	twoQueueRecentRatio = 0.25
	twoQueueGhostRatio  = 0.50
)

// NewTwoQueue returns an empty TwoQueue that holds at most size entries.
// It returns an error wrapping ErrInvalidSize if size is not positive.
func NewTwoQueue[K comparable, V any](size int) (*TwoQueue[K, V], error) {
	if size <= 0 {
		return nil, fmt.Errorf("%w %d: must be positive", ErrInvalidSize, size)
	}
	s := &TwoQueue[K, V]{}
	s.name, s.size, s.checkKeys = "2Q", size, keys.MayBeInvalid[K]()
	var err error
	if s.p, err = newTwoQueue[K, V](size, s.evicted); err != nil {
		return nil, fmt.Errorf("stores: NewTwoQueue: %w", err)
	}
	return s, nil
}

// twoQueue is the 2Q policy. Invariant: recent and frequent hold disjoint
// keys, together at most size; ghosts holds keys that were evicted from
// recent and are in neither.
type twoQueue[K comparable, V any] struct {
	size       int
	recentSize int                         // recent may exceed it while frequent has room
	recent     *simplelru.LRU[K, item[V]]  // keys used once since they came in
	frequent   *simplelru.LRU[K, item[V]]  // keys used again
	ghosts     *simplelru.LRU[K, struct{}] // keys recently evicted from recent
	evicted    func(K)                     // reports an eviction
}

func newTwoQueue[K comparable, V any](size int, evicted func(K)) (*twoQueue[K, V], error) {
	q := &twoQueue[K, V]{
		size:       size,
		recentSize: int(float64(size) * twoQueueRecentRatio),
		evicted:    evicted,
	}
	var err error
	// Each queue may grow to size; makeRoom keeps their sum there, so
	// simplelru never evicts from them by itself.
	if q.recent, err = simplelru.NewLRU[K, item[V]](size, nil); err != nil {
		return nil, err
	}
	if q.frequent, err = simplelru.NewLRU[K, item[V]](size, nil); err != nil {
		return nil, err
	}
	ghosts := max(1, int(float64(size)*twoQueueGhostRatio))
	if q.ghosts, err = simplelru.NewLRU[K, struct{}](ghosts, nil); err != nil {
		return nil, err
	}
	return q, nil
}

// get returns the item of key; a key in recent moves to frequent.
func (q *twoQueue[K, V]) get(key K) (item[V], bool) {
	if it, ok := q.frequent.Get(key); ok {
		return it, true
	}
	if it, ok := q.recent.Peek(key); ok {
		q.recent.Remove(key)
		q.frequent.Add(key, it)
		return it, true
	}
	return item[V]{}, false
}

// add stores it under key: in frequent if key is held or remembered, and in
// recent if it is new.
func (q *twoQueue[K, V]) add(key K, it item[V]) {
	switch {
	case q.frequent.Contains(key):
		q.frequent.Add(key, it)
	case q.recent.Contains(key):
		q.recent.Remove(key)
		q.frequent.Add(key, it)
	case q.ghosts.Contains(key):
		q.makeRoom(true)
		q.ghosts.Remove(key)
		q.frequent.Add(key, it)
	default:
		q.makeRoom(false)
		q.recent.Add(key, it)
	}
}

// makeRoom evicts one key if the store is full: the oldest recent key if
// recent is over its share (or at it, unless the new key comes back from
// ghosts), remembering it in ghosts; otherwise the least recently used
// frequent key.
func (q *twoQueue[K, V]) makeRoom(fromGhosts bool) {
	r := q.recent.Len()
	if r+q.frequent.Len() < q.size {
		return
	}
	if r > 0 && (r > q.recentSize || r == q.recentSize && !fromGhosts) || q.frequent.Len() == 0 {
		k, _, _ := q.recent.RemoveOldest()
		q.ghosts.Add(k, struct{}{})
		q.evicted(k)
		return
	}
	k, _, _ := q.frequent.RemoveOldest()
	q.evicted(k)
}

func (q *twoQueue[K, V]) remove(key K) {
	q.recent.Remove(key)
	q.frequent.Remove(key)
	q.ghosts.Remove(key)
}

func (q *twoQueue[K, V]) purge() {
	q.recent.Purge()
	q.frequent.Purge()
	q.ghosts.Purge()
}

func (q *twoQueue[K, V]) len() int { return q.recent.Len() + q.frequent.Len() }
