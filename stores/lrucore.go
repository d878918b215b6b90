package stores

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// lruCore is what LRU and TTL share: golang-lru's simplelru, which is not
// safe for concurrent use, under a mutex of its own. A plain Mutex rather
// than lru.Cache's RWMutex: every read moves its key to the front, so reads
// take the write lock anyway, and a Mutex is cheaper.
//
// It holds each entry as a pointer to an item, read and written only under
// mu: a read copies the value out under the lock, a Set of a key it holds
// overwrites the item in place, and the item of an evicted or removed key is
// cleared and kept for the next new key. So neither a hit nor a Set that
// replaces a key allocates, a new key that evicts one allocates only
// simplelru's list element, and a hit copies nothing but the value itself.
// (Items held by value cost a hit more than that for values over 24 bytes:
// the compiler moves an item that large through memory, twice, with
// overlapping copies that the CPU cannot forward; see BenchmarkLRU.)
type lruCore[K comparable, V any] struct {
	mu   sync.Mutex
	lru  *simplelru.LRU[K, *item[V]]
	free []*item[V] // cleared items of evicted or removed keys
}

// maxFree bounds lruCore.free: a full LRU needs one spare item at a time,
// and a Clear should not keep every item it removed.
const maxFree = 16

// An item is an entry as an lruCore holds it: Expires in Unix nanoseconds
// (see toNanos), which is smaller and quicker to copy and compare than a
// time.Time.
type item[V any] struct {
	value   V
	expires int64 // 0: no expiry (a zero Expires)
}

// init makes c an empty lruCore that holds at most size items. It returns
// simplelru's error if size is not positive.
func (c *lruCore[K, V]) init(size int) error {
	l, err := simplelru.NewLRU[K, *item[V]](size, c.recycle)
	c.lru = l
	return err
}

// recycle is simplelru's eviction callback, called under c.mu for every key
// that leaves the LRU: it clears the key's item, so that it keeps nothing
// alive, and keeps it for a new key.
func (c *lruCore[K, V]) recycle(_ K, it *item[V]) {
	*it = item[V]{}
	if len(c.free) < maxFree {
		c.free = append(c.free, it)
	}
}

// get returns the value and expiry of key, as a use of the key.
func (c *lruCore[K, V]) get(key K) (v V, exp int64, ok bool) {
	c.mu.Lock()
	if it, found := c.lru.Get(key); found {
		v, exp, ok = it.value, it.expires, true
	}
	c.mu.Unlock()
	return v, exp, ok
}

// getBefore is get that drops an item that expires at or before cutoff, and
// reports it absent. The check and the drop happen under the lock, so that
// they never drop an item set in between.
func (c *lruCore[K, V]) getBefore(key K, cutoff int64) (v V, exp int64, ok bool) {
	c.mu.Lock()
	if it, found := c.lru.Get(key); found {
		if dead(it.expires, cutoff) {
			c.lru.Remove(key)
		} else {
			v, exp, ok = it.value, it.expires, true
		}
	}
	c.mu.Unlock()
	return v, exp, ok
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
// recently used.
func (c *lruCore[K, V]) addLocked(key K, value V, exp int64) {
	if it, ok := c.lru.Get(key); ok {
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
	c.lru.Add(key, it)
}

// remove removes key, if it is present.
func (c *lruCore[K, V]) remove(key K) {
	c.mu.Lock()
	c.lru.Remove(key)
	c.mu.Unlock()
}

// len returns the number of items held.
func (c *lruCore[K, V]) len() int {
	c.mu.Lock()
	n := c.lru.Len()
	c.mu.Unlock()
	return n
}

// purge removes every item.
func (c *lruCore[K, V]) purge() {
	c.mu.Lock()
	c.lru.Purge()
	c.mu.Unlock()
}

// getBatch writes the entry of keys[i] to out[i], or ErrNotFound if it is
// absent, under one lock: each key found is a use, as with get. It drops
// items that expire at or before cutoff, as getBefore, and reports them
// absent; math.MinInt64 keeps every item.
func (c *lruCore[K, V]) getBatch(keys []K, out []pipeline.Result[V], cutoff int64) {
	checkBatch("GetBatch", len(keys), len(out), "results")
	c.mu.Lock()
	for i, k := range keys {
		it, ok := c.lru.Get(k)
		if ok && dead(it.expires, cutoff) {
			c.lru.Remove(k)
			ok = false
		}
		if !ok {
			out[i] = pipeline.Result[V]{Err: pipeline.ErrNotFound}
			continue
		}
		out[i] = pipeline.Result[V]{Entry: entry(it.value, it.expires)}
	}
	c.mu.Unlock()
}

// setBatch stores entries[i] under keys[i] under one lock. If limit is not
// nil, an item expires at limit(exp) instead of exp, its Expires converted
// by toNanos.
func (c *lruCore[K, V]) setBatch(keys []K, entries []pipeline.Entry[V], limit func(exp int64) int64) {
	checkBatch("SetBatch", len(keys), len(entries), "entries")
	c.mu.Lock()
	for i, k := range keys {
		e := &entries[i]
		exp := toNanos(e.Expires)
		if limit != nil {
			exp = limit(exp)
		}
		c.addLocked(k, e.Value, exp)
	}
	c.mu.Unlock()
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
	return pipeline.Entry[V]{Value: value, Expires: fromNanos(exp)}
}

// The instants that Unix nanoseconds in an int64 can hold: the years 1678
// to 2262. math.MinInt64 itself is left out, so that as a cutoff it means
// "before every expiry" (see dead).
var (
	minNanosTime = time.Unix(0, math.MinInt64+1)
	maxNanosTime = time.Unix(0, math.MaxInt64)
)

// Whole Unix seconds strictly between these are well inside
// [minNanosTime, maxNanosTime].
const (
	minNanosSec = math.MinInt64 / int64(time.Second)
	maxNanosSec = math.MaxInt64 / int64(time.Second)
)

// toNanos returns Expires as an item holds it: 0 for the zero time (no
// expiry), and otherwise t in Unix nanoseconds, clamped to
// [math.MinInt64+1, math.MaxInt64] rather than wrapped, with the instant of
// Unix nanosecond 0 moved to 1 so that it still has an expiry.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if n := clampNanos(t); n != 0 {
		return n
	}
	return 1
}

// clampNanos returns t in Unix nanoseconds, clamped to
// [math.MinInt64+1, math.MaxInt64]; unlike toNanos, it gives the zero time no
// special meaning.
func clampNanos(t time.Time) int64 {
	// Whole seconds strictly inside the range, the usual case, are cheaper
	// to check than Before and After.
	if sec := t.Unix(); sec > minNanosSec && sec < maxNanosSec {
		return t.UnixNano()
	}
	switch {
	case t.Before(minNanosTime):
		return math.MinInt64 + 1
	case t.After(maxNanosTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// fromNanos is the inverse of toNanos: it returns the same instant, in the
// Local location and without a monotonic clock reading.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
