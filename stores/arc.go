package stores

import (
	"fmt"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/multilayer-cache/multilayer/internal/keys"
	"github.com/multilayer-cache/multilayer/pipeline"
)

var (
	_ pipeline.BatchStore[string, int] = (*ARC[string, int])(nil)
	_ pipeline.Notifier[string]        = (*ARC[string, int])(nil)
	_ pipeline.Meter                   = (*ARC[string, int])(nil)
)

// An ARC is a store that holds at most a fixed number of entries and, when
// full, evicts by the Adaptive Replacement Cache policy (Megiddo and Modha,
// 2003), as golang-lru's arc/v2 ARCCache does, with the same hit ratio: it
// keeps keys used once and keys used more than once in two lists, remembers
// as many keys evicted from each, and moves the share of the capacity that
// each list gets towards the one whose evicted keys come back. It adapts to
// traces that favour recency or frequency, and resists scans. It is built
// on golang-lru's simplelru under a mutex of its own, because ARCCache
// cannot report what it evicts. Unlike ARCCache, it never holds more than
// its capacity: when ARCCache would evict from an empty list, and so evict
// nothing, an ARC evicts from the other list.
//
// ARC follows the rules of LRU for expiry and uses: Get reports an entry
// whose non-zero Expires has passed (by time.Now, to within about a
// millisecond) as missing; GetEntry and GetBatch return every entry as it
// was set, and the cache layer judges freshness; an expired entry stays
// until it is replaced, deleted or evicted. Expires comes back as from an
// LRU.
//
// ARC implements pipeline.BatchStore (one lock per batch),
// pipeline.Notifier (each entry it evicts to make room is reported, from
// the goroutine of the write, under its lock; a Delete or a Clear is not)
// and pipeline.Meter. A hit on a key used more than once allocates nothing;
// the second use of a key moves it to the other list, which allocates a list
// element, as ARCCache does.
//
// An ARC is safe for concurrent use. Its methods fail only for a key that
// cannot live in a map (see the package doc, "Keys"): the error wraps
// pipeline.ErrInvalidKey.
type ARC[K comparable, V any] struct {
	guarded[K, V, *arc[K, V]]
}

// NewARC returns an empty ARC that holds at most size entries. It returns
// an error wrapping ErrInvalidSize if size is not positive.
func NewARC[K comparable, V any](size int) (*ARC[K, V], error) {
	if size <= 0 {
		return nil, fmt.Errorf("%w %d: must be positive", ErrInvalidSize, size)
	}
	s := &ARC[K, V]{}
	s.name, s.size, s.checkKeys = "ARC", size, keys.MayBeInvalid[K]()
	var err error
	if s.p, err = newARC[K, V](size, s.evicted); err != nil {
		return nil, fmt.Errorf("stores: NewARC: %w", err)
	}
	return s, nil
}

// arc is the ARC policy. Invariant: t1 and t2 hold disjoint keys, together
// at most size; b1 and b2 hold keys evicted from t1 and t2, in neither; p,
// in [0, size], is the share of size that t1 aims at.
type arc[K comparable, V any] struct {
	size    int
	p       int
	t1      *simplelru.LRU[K, item[V]]  // keys used once
	t2      *simplelru.LRU[K, item[V]]  // keys used again
	b1      *simplelru.LRU[K, struct{}] // keys evicted from t1
	b2      *simplelru.LRU[K, struct{}] // keys evicted from t2
	evicted func(K)                     // reports an eviction
}

func newARC[K comparable, V any](size int, evicted func(K)) (*arc[K, V], error) {
	a := &arc[K, V]{size: size, evicted: evicted}
	var err error
	// Each list may grow to size; replace keeps len(t1)+len(t2) at most
	// size, so simplelru evicts by itself only from b1 and b2, which are
	// memories of keys.
	for _, l := range []**simplelru.LRU[K, item[V]]{&a.t1, &a.t2} {
		if *l, err = simplelru.NewLRU[K, item[V]](size, nil); err != nil {
			return nil, err
		}
	}
	for _, l := range []**simplelru.LRU[K, struct{}]{&a.b1, &a.b2} {
		if *l, err = simplelru.NewLRU[K, struct{}](size, nil); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// get returns the item of key; a key in t1 moves to t2.
func (a *arc[K, V]) get(key K) (item[V], bool) {
	if it, ok := a.t1.Peek(key); ok {
		a.t1.Remove(key)
		a.t2.Add(key, it)
		return it, true
	}
	return a.t2.Get(key)
}

// add stores it under key: in t2 if key is held or remembered, after
// moving p towards the list that remembered it, and in t1 if it is new.
func (a *arc[K, V]) add(key K, it item[V]) {
	switch {
	case a.t1.Contains(key):
		a.t1.Remove(key)
		a.t2.Add(key, it)
	case a.t2.Contains(key):
		a.t2.Add(key, it)
	case a.b1.Contains(key): // t1 was too small: give it more
		a.p = min(a.size, a.p+max(1, a.b2.Len()/a.b1.Len()))
		a.replace(false)
		a.b1.Remove(key)
		a.t2.Add(key, it)
	case a.b2.Contains(key): // t2 was too small: give it more
		a.p = max(0, a.p-max(1, a.b1.Len()/a.b2.Len()))
		a.replace(true)
		a.b2.Remove(key)
		a.t2.Add(key, it)
	default:
		a.replace(false)
		if a.b1.Len() > a.size-a.p {
			a.b1.RemoveOldest()
		}
		if a.b2.Len() > a.p {
			a.b2.RemoveOldest()
		}
		a.t1.Add(key, it)
	}
}

// replace evicts one key if the store is full: from t1 if it is over its
// target p (or at it, for a key that comes back from b2), remembering it in
// b1; otherwise from t2, remembering it in b2. If the chosen list is empty,
// it takes from the other.
func (a *arc[K, V]) replace(fromB2 bool) {
	n := a.t1.Len()
	if n+a.t2.Len() < a.size {
		return
	}
	if n > 0 && (n > a.p || n == a.p && fromB2) || a.t2.Len() == 0 {
		k, _, _ := a.t1.RemoveOldest()
		a.b1.Add(k, struct{}{})
		a.evicted(k)
		return
	}
	k, _, _ := a.t2.RemoveOldest()
	a.b2.Add(k, struct{}{})
	a.evicted(k)
}

func (a *arc[K, V]) remove(key K) {
	a.t1.Remove(key)
	a.t2.Remove(key)
	a.b1.Remove(key)
	a.b2.Remove(key)
}

func (a *arc[K, V]) purge() {
	a.t1.Purge()
	a.t2.Purge()
	a.b1.Purge()
	a.b2.Purge()
	a.p = 0
}

func (a *arc[K, V]) len() int { return a.t1.Len() + a.t2.Len() }
