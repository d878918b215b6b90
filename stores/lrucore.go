package stores

import (
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/multilayer-cache/multilayer/internal/clock"
	"github.com/multilayer-cache/multilayer/internal/expiry"
	"github.com/multilayer-cache/multilayer/internal/keys"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// lruCore is what LRU and TTL share: golang-lru's simplelru, which is not
// safe for concurrent use, under a mutex of its own. A plain Mutex rather
// than lru.Cache's RWMutex: every read moves its key to the front, so reads
// take the write lock anyway, and a Mutex is cheaper.
//
// It holds an entry, value and expiry, as an item, in one of two ways chosen
// by the item's size (see byValue):
//
//   - a small item by value (small: simplelru is in val). A Set is one
//     simplelru Add, and nothing but simplelru's list element is allocated.
//   - a larger item behind a pointer (ref). The compiler moves an item over
//     32 bytes through memory, and copied one from simplelru's Get twice,
//     with overlapping moves the CPU cannot forward: a hit on a 32-byte value
//     cost 40% more than golang-lru's (see BenchmarkLRU). A pointer is read
//     and written only under mu: a read copies the value out, a Set of a key
//     held overwrites its item in place, and the item of a key that leaves
//     (evicted, removed, cleared) is cleared and kept for the next new key.
//     So a Set that replaces allocates nothing, and a new key that evicts
//     one allocates only simplelru's element, as by value; but a Set looks
//     its key up once more.
//
// Evictions: simplelru calls its callback (evicted) for every key that
// leaves, under c.mu; only those that leave inside an Add are evictions,
// and adding says so. They are handed to notify, the function a cache layer
// gave to Notify, which the Notifier contract allows under the lock.
type lruCore[K comparable, V any] struct {
	mu   sync.Mutex
	val  *simplelru.LRU[K, item[V]]  // small items; nil if ref is used
	ref  *simplelru.LRU[K, *item[V]] // larger items; nil if val is used
	free []*item[V]                  // ref: cleared items of keys that left
	size int                         // capacity, for Usage

	notify func(pipeline.StoreEvent[K]) // nil until Notify; under mu
	adding bool                         // an Add is under way; under mu

	// checkKeys is set when some value of K cannot live in a map (see
	// internal/keys): each key is checked before mu is taken, and such a
	// key is an error for its caller alone.
	checkKeys bool
}

// invalidKey returns the error a store returns for a key that cannot be
// hashed or is not equal to itself.
func invalidKey[K any](store string, key K) error {
	return fmt.Errorf("stores: %s: key of type %T: %w", store, key, pipeline.ErrInvalidKey)
}

// maxFree bounds lruCore.free: a full LRU needs one spare item at a time,
// and a Clear should not keep every item it removed.
const maxFree = 16

// An item is an entry as an lruCore holds it: Expires in Unix nanoseconds
// (see expiry.ToNanos), which is smaller and quicker to copy and compare
// than a time.Time.
type item[V any] struct {
	value   V
	expires int64 // 0: no expiry (a zero Expires)
}

// byValue reports whether an lruCore holds items of V by value: whether an
// item fits in four words, the most the compiler keeps in registers.
func byValue[V any]() bool {
	return unsafe.Sizeof(item[V]{}) <= 4*unsafe.Sizeof(uintptr(0))
}

// init makes c an empty lruCore that holds at most size items. It returns
// simplelru's error if size is not positive.
func (c *lruCore[K, V]) init(size int) error {
	c.checkKeys = keys.MayBeInvalid[K]()
	c.size = size
	var err error
	if byValue[V]() {
		c.val, err = simplelru.NewLRU[K, item[V]](size, func(k K, _ item[V]) { c.evicted(k) })
	} else {
		c.ref, err = simplelru.NewLRU[K, *item[V]](size, c.recycle)
	}
	return err
}

// recycle is simplelru's callback for ref, called under c.mu for every key
// that leaves: it clears the key's item, so that it keeps nothing alive,
// and keeps it for a new key.
func (c *lruCore[K, V]) recycle(k K, it *item[V]) {
	*it = item[V]{}
	if len(c.free) < maxFree {
		c.free = append(c.free, it)
	}
	c.evicted(k)
}

// evicted is called under c.mu for every key that leaves simplelru, and
// reports those that an Add evicted.
func (c *lruCore[K, V]) evicted(k K) {
	if c.adding && c.notify != nil {
		c.notify(pipeline.StoreEvent[K]{Kind: pipeline.Evicted, Key: k})
	}
}

// setNotify makes f the function that evictions are reported to.
func (c *lruCore[K, V]) setNotify(f func(pipeline.StoreEvent[K])) {
	c.mu.Lock()
	c.notify = f
	c.mu.Unlock()
}

// usage returns how full c is.
func (c *lruCore[K, V]) usage() pipeline.Usage {
	return pipeline.Usage{Entries: c.len(), Capacity: c.size}
}

// getLocked returns the value and expiry of key, as a use of the key. It
// drops an item that expires at or before cutoff, and reports it absent;
// math.MinInt64 keeps every item. The check and the drop happen under the
// lock, so that they never drop an item set in between.
func (c *lruCore[K, V]) getLocked(key K, cutoff int64) (v V, exp int64, ok bool) {
	if c.val != nil {
		if it, found := c.val.Get(key); found {
			v, exp, ok = it.value, it.expires, true
		}
	} else if it, found := c.ref.Get(key); found {
		v, exp, ok = it.value, it.expires, true
	}
	if ok && dead(exp, cutoff) {
		c.removeLocked(key)
		var zero V
		return zero, 0, false
	}
	return v, exp, ok
}

// get is getLocked under the lock. It reports an invalid key as absent;
// its caller checks keys (see checkKeys).
func (c *lruCore[K, V]) get(key K, cutoff int64) (v V, exp int64, ok bool) {
	c.mu.Lock()
	v, exp, ok = c.getLocked(key, cutoff)
	c.mu.Unlock()
	return v, exp, ok
}

// bad reports whether key is to be refused: whether K may hold invalid
// keys and key is one. It is small enough to inline, so that a key type
// that cannot go wrong pays one test of a bool.
func (c *lruCore[K, V]) bad(key K) bool { return c.checkKeys && !keys.Valid(key) }

// expiredNow reports whether an item that expires at exp (0: never) has
// expired by time.Now. It reads time.Now only when the process's coarse
// clock (internal/clock) does not show exp still ahead: the fast path of
// the TTL hit target, at the cost of serving an entry up to about a
// millisecond after it expired.
func expiredNow(exp int64) bool {
	if exp == 0 {
		return false
	}
	if c := clock.Coarse(); c < exp {
		return false
	}
	return time.Now().UnixNano() >= exp
}

// dead reports whether an item that expires at exp is to be dropped at
// cutoff. An item without expiry never is; with cutoff math.MinInt64, no
// item is.
func dead(exp, cutoff int64) bool { return exp != 0 && exp <= cutoff }

// add stores value, expiring at exp, under key, evicting the least recently
// used item if full.
func (c *lruCore[K, V]) add(key K, value V, exp int64) {
	c.mu.Lock()
	c.addLocked(key, value, exp)
	c.mu.Unlock()
}

// addLocked is add under c.mu. Like simplelru's Add, it makes key the most
// recently used; the key it evicts, if any, is reported (see evicted).
func (c *lruCore[K, V]) addLocked(key K, value V, exp int64) {
	if c.val != nil {
		c.adding = true
		c.val.Add(key, item[V]{value: value, expires: exp})
		c.adding = false
		return
	}
	if it, ok := c.ref.Get(key); ok {
		it.value, it.expires = value, exp
		return
	}
	var it *item[V]
	if n := len(c.free); n > 0 {
		it = c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
	} else {
		it = new(item[V])
	}
	it.value, it.expires = value, exp
	c.adding = true
	c.ref.Add(key, it)
	c.adding = false
}

// remove removes key, if it is present.
func (c *lruCore[K, V]) remove(key K) {
	c.mu.Lock()
	c.removeLocked(key)
	c.mu.Unlock()
}

func (c *lruCore[K, V]) removeLocked(key K) {
	if c.val != nil {
		c.val.Remove(key)
	} else {
		c.ref.Remove(key)
	}
}

// len returns the number of items held.
func (c *lruCore[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.val != nil {
		return c.val.Len()
	}
	return c.ref.Len()
}

// purge removes every item.
func (c *lruCore[K, V]) purge() {
	c.mu.Lock()
	if c.val != nil {
		c.val.Purge()
	} else {
		c.ref.Purge()
	}
	c.mu.Unlock()
}

// getBatch writes the entry of keys[i] to out[i], or ErrNotFound if it is
// absent, under one lock: each key found is a use, as with get, and cutoff
// is as for getLocked. An invalid key gets an error wrapping
// pipeline.ErrInvalidKey; store names the store in it.
func (c *lruCore[K, V]) getBatch(store string, ks []K, out []pipeline.Result[V], cutoff int64) {
	checkBatch("GetBatch", len(ks), len(out), "results")
	c.mu.Lock()
	for i, k := range ks {
		if c.bad(k) { // keys.Valid recovers its own panic: safe under the lock
			out[i] = pipeline.Result[V]{Err: invalidKey(store, k)}
			continue
		}
		v, exp, ok := c.getLocked(k, cutoff)
		setResult(&out[i], v, exp, ok)
	}
	c.mu.Unlock()
}

// setResult writes to r the value and expiry of a key found (ok), or
// ErrNotFound. Field by field: a Result built whole and then copied is
// moved through memory with the write barrier's bulk check, which made a
// batch of hits cost more than single fetches.
func setResult[V any](r *pipeline.Result[V], v V, exp int64, ok bool) {
	r.Value, r.Expires = v, expiry.FromNanos(exp)
	if ok {
		r.Err = nil
	} else {
		r.Err = pipeline.ErrNotFound
	}
}

// setBatch stores entries[i] under keys[i] under one lock. If limit is not
// nil, an item expires at limit(exp) instead of exp, its Expires converted
// by expiry.ToNanos. An item that expires at or before cutoff is not stored,
// and the key's old item is removed; math.MinInt64 stores every item. It
// stores the valid keys and returns an error wrapping
// pipeline.ErrInvalidKey if some were not (see badKeys).
func (c *lruCore[K, V]) setBatch(store string, ks []K, entries []pipeline.Entry[V], limit func(exp int64) int64, cutoff int64) error {
	checkBatch("SetBatch", len(ks), len(entries), "entries")
	var bad batchErr[K]
	c.mu.Lock()
	for i, k := range ks {
		if c.bad(k) {
			bad.add(k)
			continue
		}
		e := &entries[i]
		exp := expiry.ToNanos(e.Expires)
		if limit != nil {
			exp = limit(exp)
		}
		if dead(exp, cutoff) {
			c.removeLocked(k)
			continue
		}
		c.addLocked(k, e.Value, exp)
	}
	c.mu.Unlock()
	return bad.err(store, len(ks))
}

// A batchErr collects the invalid keys of a SetBatch.
type batchErr[K any] struct {
	n     int
	first K
}

func (b *batchErr[K]) add(key K) {
	if b.n == 0 {
		b.first = key
	}
	b.n++
}

// err returns nil if no key was invalid, and otherwise an error wrapping
// pipeline.ErrInvalidKey that counts them.
func (b *batchErr[K]) err(store string, keys int) error {
	if b.n == 0 {
		return nil
	}
	return fmt.Errorf("stores: %s: SetBatch: %d of %d keys not stored, the first of type %T: %w",
		store, b.n, keys, b.first, pipeline.ErrInvalidKey)
}

// checkBatch panics unless a batch method got as many results or entries
// (what) as keys. It runs before the lock is taken, so that the panic leaves
// the store usable.
func checkBatch(method string, keys, n int, what string) {
	if n != keys {
		panic(fmt.Sprintf("stores: %s: %d %s for %d keys", method, n, what, keys))
	}
}

// entry returns a value and its expiry, as an item holds it, as a
// pipeline.Entry.
func entry[V any](value V, exp int64) pipeline.Entry[V] {
	return pipeline.Entry[V]{Value: value, Expires: expiry.FromNanos(exp)}
}
