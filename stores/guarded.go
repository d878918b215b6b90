package stores

import (
	"context"
	"sync"

	"github.com/multilayer-cache/multilayer/internal/expiry"
	"github.com/multilayer-cache/multilayer/internal/keys"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// A policy decides which keys a bounded store keeps: 2Q or ARC. It is not
// safe for concurrent use; guarded holds it under a mutex.
//
// get returns the item of key as a use of it; add stores it, makes room if
// the store is full, and calls the function given to the policy's
// constructor with each key it evicts; remove drops a key, and purge every
// key, without reporting them; len counts the keys held.
type policy[K comparable, V any] interface {
	get(key K) (item[V], bool)
	add(key K, it item[V])
	remove(key K)
	purge()
	len() int
}

// guarded is a policy under a mutex, with the rules of LRU for expiry,
// batches, invalid keys, evictions and usage: what TwoQueue and ARC share.
// Every method locks mu once; the policy calls evicted under it.
type guarded[K comparable, V any, P policy[K, V]] struct {
	mu     sync.Mutex
	p      P
	notify func(pipeline.StoreEvent[K]) // nil until Notify; under mu

	name      string // for errors: "2Q"
	size      int
	checkKeys bool // see lruCore.checkKeys
}

// evicted reports key, which the policy evicted, to the layer; see
// pipeline.Notifier. It runs under g.mu.
func (g *guarded[K, V, P]) evicted(key K) {
	if g.notify != nil {
		g.notify(pipeline.StoreEvent[K]{Kind: pipeline.Evicted, Key: key})
	}
}

// bad reports whether key is to be refused (see lruCore.bad).
func (g *guarded[K, V, P]) bad(key K) bool { return g.checkKeys && !keys.Valid(key) }

// Get returns the value of key. It reports ok == false if key is absent or
// its entry has a non-zero Expires that has passed (by time.Now, to within
// about a millisecond: see the package documentation).
func (g *guarded[K, V, P]) Get(_ context.Context, key K) (V, bool, error) {
	if g.bad(key) {
		var zero V
		return zero, false, invalidKey(g.name, key)
	}
	g.mu.Lock()
	it, ok := g.p.get(key)
	g.mu.Unlock()
	if !ok || expiredNow(it.expires) {
		var zero V
		return zero, false, nil
	}
	return it.value, true, nil
}

// GetEntry returns the entry of key as it was set, expired or not.
func (g *guarded[K, V, P]) GetEntry(_ context.Context, key K) (pipeline.Entry[V], bool, error) {
	if g.bad(key) {
		return pipeline.Entry[V]{}, false, invalidKey(g.name, key)
	}
	g.mu.Lock()
	it, ok := g.p.get(key)
	g.mu.Unlock()
	if !ok {
		return pipeline.Entry[V]{}, false, nil
	}
	return entry(it.value, it.expires), true, nil
}

// GetBatch writes to out[i] the entry of keys[i] as GetEntry returns it, or
// pipeline.ErrNotFound in Err if the store does not hold the key, or an
// error wrapping pipeline.ErrInvalidKey for an invalid key. It takes the
// lock once. It panics if len(out) != len(keys).
func (g *guarded[K, V, P]) GetBatch(_ context.Context, keys []K, out []pipeline.Result[V]) {
	checkBatch("GetBatch", len(keys), len(out), "results")
	g.mu.Lock()
	for i, k := range keys {
		if g.bad(k) { // keys.Valid recovers its own panic: safe under the lock
			out[i] = pipeline.Result[V]{Err: invalidKey(g.name, k)}
			continue
		}
		it, ok := g.p.get(k)
		setResult(&out[i], it.value, it.expires, ok)
	}
	g.mu.Unlock()
}

// Set stores value under key with an unknown lifetime (a zero Expires),
// evicting an entry if the store is full.
func (g *guarded[K, V, P]) Set(_ context.Context, key K, value V) error {
	return g.set(key, item[V]{value: value})
}

// SetEntry stores e under key as it is, evicting an entry if the store is
// full.
func (g *guarded[K, V, P]) SetEntry(_ context.Context, key K, e pipeline.Entry[V]) error {
	return g.set(key, item[V]{value: e.Value, expires: expiry.ToNanos(e.Expires)})
}

func (g *guarded[K, V, P]) set(key K, it item[V]) error {
	if g.bad(key) {
		return invalidKey(g.name, key)
	}
	g.mu.Lock()
	g.p.add(key, it)
	g.mu.Unlock()
	return nil
}

// SetBatch stores entries[i] under keys[i] as SetEntry does, in order, so
// that the last of a repeated key wins, under one lock. It stores the valid
// keys and returns an error wrapping pipeline.ErrInvalidKey if some were
// invalid. It panics if len(entries) != len(keys).
func (g *guarded[K, V, P]) SetBatch(_ context.Context, keys []K, entries []pipeline.Entry[V]) error {
	checkBatch("SetBatch", len(keys), len(entries), "entries")
	var bad batchErr[K]
	g.mu.Lock()
	for i, k := range keys {
		if g.bad(k) {
			bad.add(k)
			continue
		}
		g.p.add(k, item[V]{value: entries[i].Value, expires: expiry.ToNanos(entries[i].Expires)})
	}
	g.mu.Unlock()
	return bad.err(g.name, len(keys))
}

// Delete removes key, if it is present. It is not reported as an eviction.
func (g *guarded[K, V, P]) Delete(_ context.Context, key K) error {
	if g.bad(key) {
		return invalidKey(g.name, key)
	}
	g.mu.Lock()
	g.p.remove(key)
	g.mu.Unlock()
	return nil
}

// Len returns the number of entries held, expired ones included.
func (g *guarded[K, V, P]) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.p.len()
}

// Clear removes every entry, and the policy's memory of keys it evicted.
// It is not reported as evictions.
func (g *guarded[K, V, P]) Clear(context.Context) error {
	g.mu.Lock()
	g.p.purge()
	g.mu.Unlock()
	return nil
}

// Notify makes f the function the store reports its evictions to, from
// the goroutine of the write that evicted, under the store's lock; see
// pipeline.Notifier. A nil f stops the reports.
func (g *guarded[K, V, P]) Notify(f func(pipeline.StoreEvent[K])) {
	g.mu.Lock()
	g.notify = f
	g.mu.Unlock()
}

// Usage returns the number of entries held, expired ones included, and the
// capacity.
func (g *guarded[K, V, P]) Usage() pipeline.Usage {
	return pipeline.Usage{Entries: g.Len(), Capacity: g.size}
}
