package pipeline

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
)

// Dependents: how a tree stays coherent.
//
// At build time a cache layer walks down its next Fetcher through the
// Describers below it (key mappers, parsers, any layer that describes
// itself) to the first cache layers on each path, and registers with them as
// a dependent layer. From then on:
//
//   - when the outer layer misses, it fetches from below under a context that
//     carries a fill marker: the outer layer and its key (for a batch, its
//     keys, aligned with the keys passed down);
//   - an inner layer with dependents that is asked for a key by a fetch
//     carrying a marker records "my key → that outer key", before it reads
//     its store;
//   - Invalidate on the inner layer drops the recorded outer keys too, and so
//     on outward; Clear on it clears its dependent layers.
//
// Why no outer value outlives an invalidation of the inner one: dropping a
// key moves the layer's generation, then deletes it from the store, then
// removes its flights (moving the generation again, which closes batches),
// then drops its dependents. A fill checks the generation and writes under the
// layer's fillMu, which the move takes exclusively, so a fill under way
// either keeps nothing or writes before the delete (see keep). An outer
// fill that read the inner value before the delete was recorded before that
// read, so the invalidation finds it and drops the outer key, which moves
// the outer generation (its fill keeps nothing) and removes its flight (no
// later caller joins it). Once Invalidate has returned, every fetch reads
// what the source held when it was called, or newer.
//
// The outer layer's own hit path pays nothing; a fetch of an inner layer
// that has dependents pays one context lookup.
//
// A cache layer directly over another (a local LRU over a Redis layer, say)
// needs no record: its key k can only have come from the inner key k. It
// registers as an identity dependent, and the inner layer drops key k from it
// whenever it drops its own k, with no marker on the way down and no record
// on the way up: the same drop as for a recorded key. A layer between two
// cache layers that is not a Describer hides the inner one from the walk,
// and then the outer layer's values are not dropped with the inner ones:
// write such layers as Describers. A batch that reaches the inner layer key
// by key (through a user's BatchFetcher that fetches one key at a time) has
// no outer key per inner key: the inner layer records the whole batch, and
// dropping that drops all of its keys. The record is bounded (DependentsSize):
// when it is full, arbitrary inner keys are forgotten by dropping their
// derived values, which costs refetches, never stale answers.

type depKey struct{}

// dependent is something derived from an inner entry: dropped with it.
type dependent interface {
	dropDerived(ctx context.Context)
}

// derived is one outer key of a cache layer.
type derived[K comparable, V any] struct {
	c   *cache[K, V]
	key K
}

func (d derived[K, V]) dropDerived(ctx context.Context) { d.c.drop(ctx, d.key) }

// batchMarker is the fill marker of a batch: outer keys aligned with the
// keys passed down.
//
// A layer below that cannot tell which of the keys it serves (the batch
// reached it key by key, or as another number of keys, or through a
// batching layer that does not say it keeps a batch in order, which could
// have sorted it) records the marker itself: a dependent that drops all of
// the batch's keys.
//
// A batch that is fetched again (its outer values expired, say) comes with
// a new marker, which replaces the old one in each key's record if it has
// the same keys (see supersedes), so that the record does not grow with
// every refill.
type batchMarker[K comparable, V any] struct {
	c        *cache[K, V]
	keys     []K
	dropOnce sync.Once
	dropped  atomic.Bool // set when the drop begins
	sumOnce  sync.Once
	sum      uint64                            // of keys, in order; see keySum
	same     atomic.Pointer[batchMarker[K, V]] // the last older marker found to have the same keys
}

// keySum returns a hash of the marker's keys, in order, computed once. The
// keys can be hashed: the outer layer answered any that cannot with an
// error before its batch went down.
func (b *batchMarker[K, V]) keySum() uint64 {
	b.sumOnce.Do(func() {
		h := uint64(len(b.keys))
		for _, k := range b.keys {
			h = (h ^ maphash.Comparable(keySeed, k)) * 0x9e3779b97f4a7c15
		}
		b.sum = h
	})
	return b.sum
}

// supersedes reports whether b may take the place of old in a key's record:
// old is a marker of the same layer with the same keys, so that dropping b
// drops every outer value that dropping old would. Not once b has dropped:
// its drop is then done, while a fill under old may be under way (b's own
// fill, which began before the drop, keeps nothing). If b drops after this
// check, that drop happens after old was recorded, and so after old's fill
// read the generation, which the drop moves: old's fill keeps nothing.
func (b *batchMarker[K, V]) supersedes(old dependent) bool {
	o, ok := old.(*batchMarker[K, V])
	if !ok || o == b || o.c != b.c || len(o.keys) != len(b.keys) || b.dropped.Load() {
		return false
	}
	if b.same.Load() == o {
		return true
	}
	if o.keySum() != b.keySum() || !slices.Equal(o.keys, b.keys) {
		return false
	}
	b.same.Store(o)
	o.same.Store(nil) // no chain of old markers kept alive
	return true
}

// A superseder is a dependent that may take the place of an older one in a
// key's record (see batchMarker.supersedes).
type superseder interface {
	dependent
	supersedes(old dependent) bool
}

// dropDerived drops every key of the batch from its layer, each one even if
// dropping another panics. It does so once: a marker is recorded under
// many inner keys, and after the first drop the layer's values of those
// keys come from later fills, with markers of their own. A call that finds
// the drop under way in another goroutine waits for it to end: its
// invalidation must not return while the outer values it reached are still
// served.
func (b *batchMarker[K, V]) dropDerived(ctx context.Context) {
	b.dropOnce.Do(func() {
		b.dropped.Store(true)
		eachOf(b.keys, func(k K) { b.c.drop(ctx, k) })
	})
}

// dependentLayer is a cache layer registered with an inner one: clearing
// the inner layer clears it.
type dependentLayer interface {
	clearDerived(ctx context.Context)
}

// wholeLayer is a cache layer as a dependentLayer.
type wholeLayer[K comparable, V any] struct{ c *cache[K, V] }

func (w wholeLayer[K, V]) clearDerived(ctx context.Context) { w.c.clearDerived(ctx) }

// hidesMarker reports whether a fill must hide, from the layers below, the
// fill marker that a layer above meant for this one: when this layer passes
// its own marker down it replaces it anyway, but when the layer below is an
// identity one (which this layer marks nothing for), it could take the
// marker for this layer's own, and record the wrong dependents.
func (c *cache[K, V]) hidesMarker() bool { return c.identityBelow && c.tracked.Load() }

// registrar is implemented by cache layers, so that outer ones can find them.
type registrar interface {
	addDependent(d dependentLayer)
}

// deps records, per inner key, the outer values derived from it.
type deps[K comparable] struct {
	mu     sync.Mutex
	layers []dependentLayer
	byKey  map[K]depSet
	n      int
	max    int
	// identity holds the identity dependents (see above): cache layers
	// directly over this one, of its own types, whose dropKey takes a key
	// of this layer.
	identity []identityDependent[K]
}

// identityDependent is a cache layer directly over another: its key k
// derives from the inner key k.
type identityDependent[K comparable] interface {
	dropKey(ctx context.Context, key K, origin any)
}

// depSet holds the dependents of one key: most keys have one, kept inline.
type depSet struct {
	one  dependent
	more map[dependent]struct{}
}

// add adds d, unless it holds it already or d takes the place of one it
// supersedes. It reports whether the set grew, and whether it changed.
func (s *depSet) add(d dependent) (grew, changed bool) {
	if s.one == nil {
		s.one = d
		return true, true
	}
	if s.one == d {
		return false, false
	}
	if _, ok := s.more[d]; ok {
		return false, false
	}
	if m, ok := d.(superseder); ok && s.replace(m) {
		return false, true
	}
	if s.more == nil {
		s.more = make(map[dependent]struct{})
	}
	s.more[d] = struct{}{}
	return true, true
}

// replace puts m in the place of a dependent it supersedes, and reports
// whether there was one.
func (s *depSet) replace(m superseder) bool {
	if m.supersedes(s.one) {
		s.one = m
		return true
	}
	for d := range s.more {
		if m.supersedes(d) {
			delete(s.more, d)
			s.more[m] = struct{}{}
			return true
		}
	}
	return false
}

func (s depSet) len() int {
	if s.one == nil {
		return 0
	}
	return 1 + len(s.more)
}

// appendTo appends the dependents to list.
func (s depSet) appendTo(list []dependent) []dependent {
	if s.one != nil {
		list = append(list, s.one)
	}
	for d := range s.more {
		list = append(list, d)
	}
	return list
}

func (c *cache[K, V]) addDependent(d dependentLayer) {
	c.deps.mu.Lock()
	c.deps.layers = append(c.deps.layers, d)
	c.deps.mu.Unlock()
	c.tracked.Store(true)
}

// addIdentity registers o, a cache layer directly over c, as an identity
// dependent. It does not make c tracked: there is nothing to record.
func (c *cache[K, V]) addIdentity(o *cache[K, V]) {
	c.deps.mu.Lock()
	c.deps.layers = append(c.deps.layers, wholeLayer[K, V]{o})
	c.deps.identity = append(c.deps.identity, identityLayer[K, V]{o})
	c.deps.mu.Unlock()
}

// identityLayer is a cache layer as the identity dependent of the one below.
type identityLayer[K comparable, V any] struct{ c *cache[K, V] }

// dropKey drops key from the layer, unless the invalidation started there
// (origin is the derived value of that layer and key) and did so already.
func (l identityLayer[K, V]) dropKey(ctx context.Context, key K, origin any) {
	if o, ok := origin.(derived[K, V]); ok && o.c == l.c && o.key == key {
		return
	}
	l.c.drop(ctx, key)
}

// findCaches calls visit for the first cache layer on every path below f.
// It clears inOrder if a layer on the way batches (has a FetchBatch
// method) without saying that it keeps a batch in order
// (Description.BatchInOrder).
func findCaches(f any, visit func(registrar), inOrder *bool, depth int) {
	if depth > 64 {
		return
	}
	switch x := f.(type) {
	case registrar:
		visit(x)
	case Describer:
		d := x.Describe()
		if !d.BatchInOrder && reflect.ValueOf(x).MethodByName("FetchBatch").IsValid() {
			*inOrder = false
		}
		for _, n := range d.Next {
			findCaches(n, visit, inOrder, depth+1)
		}
	}
}

// register records that the value of key about to be served to ctx's fetch
// is used by the layer in ctx's fill marker, if any.
//
// The record comes before the store is read, so that an invalidation finds
// it whenever the read could return the value it drops: the read is then
// before the invalidation's delete, which is before its look at the record.
// Recorded after the read, the dependent could be missed, and the outer
// fill under way (which others may join) would outlive the invalidation.
// A record for a read that then fails costs at worst a needless drop.
func (c *cache[K, V]) register(ctx context.Context, key K) {
	// A single fetch's marker, or a batch's that reached this layer one key
	// at a time: then we cannot tell which outer key is ours, and depend on
	// all of them (see batchMarker).
	d, ok := ctx.Value(depKey{}).(dependent)
	if !ok {
		return
	}
	c.deps.mu.Lock()
	evicted := c.recordLocked(key, d, nil)
	c.deps.mu.Unlock()
	dropAll(ctx, evicted)
}

// registerBatch records dependents for the keys of a batch, under one lock;
// see register.
func (c *cache[K, V]) registerBatch(ctx context.Context, keys []K) {
	m := ctx.Value(depKey{})
	if m == nil {
		return
	}
	var at func(i int) dependent
	switch x := m.(type) {
	case interface{ at(n, i int) dependent }:
		at = func(i int) dependent { return x.at(len(keys), i) }
	case dependent:
		at = func(int) dependent { return x }
	default:
		return
	}
	var evicted []dependent
	c.deps.mu.Lock()
	for i, k := range keys {
		evicted = c.recordLocked(k, at(i), evicted)
	}
	c.deps.mu.Unlock()
	dropAll(ctx, evicted)
}

// at returns the dependent for position i of a batch of n keys below.
func (b *batchMarker[K, V]) at(n, i int) dependent {
	if n != len(b.keys) || !b.c.batchInOrder {
		return b
	}
	return derived[K, V]{b.c, b.keys[i]}
}

// dropAll drops every dependent in list, even if dropping some panics (an
// observer of theirs panicked): then the first panic goes on once all are
// dropped, so that no derived value outlives its source.
func dropAll(ctx context.Context, list []dependent) {
	eachOf(list, func(d dependent) { d.dropDerived(ctx) })
}

// eachOf calls fn for every element of list, even if some calls panic; the
// first panic goes on once all have run.
func eachOf[T any](list []T, fn func(T)) {
	var p any
	for _, x := range list {
		func() {
			defer func() {
				if r := recover(); r != nil && p == nil {
					p = r
				}
			}()
			fn(x)
		}()
	}
	if p != nil {
		panic(p)
	}
}

// recordLocked records d as derived from key, under c.deps.mu. If the record
// is over its bound, it forgets about a tenth of it and appends what it
// protected to evicted, for the caller to drop once the lock is released.
func (c *cache[K, V]) recordLocked(key K, d dependent, evicted []dependent) []dependent {
	if c.deps.byKey == nil {
		c.deps.byKey = make(map[K]depSet)
	}
	set := c.deps.byKey[key]
	if grew, changed := set.add(d); changed {
		c.deps.byKey[key] = set
		if grew {
			c.deps.n++
		}
	}
	if c.deps.n > c.deps.max {
		for k, s := range c.deps.byKey {
			if c.deps.n <= c.deps.max-c.deps.max/10 {
				break
			}
			if k == key {
				continue
			}
			evicted = s.appendTo(evicted)
			c.deps.n -= s.len()
			delete(c.deps.byKey, k)
		}
	}
	return evicted
}

// dropDependents drops the outer values derived from key.
func (c *cache[K, V]) dropDependents(ctx context.Context, key K) {
	c.deps.mu.Lock()
	set, ok := c.deps.byKey[key]
	if ok {
		delete(c.deps.byKey, key)
		c.deps.n -= set.len()
	}
	identity := c.deps.identity
	c.deps.mu.Unlock()
	if !ok && len(identity) == 0 {
		return
	}
	origin := ctx.Value(originKey{})
	list := set.appendTo(nil)
	for i, d := range list {
		if d == origin { // the layer whose invalidation came inward dropped it already
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	defer dropAll(ctx, list) // even if an identity dependent panics
	eachOf(identity, func(l identityDependent[K]) { l.dropKey(ctx, key, origin) })
}

// drop removes key from this layer and the values derived from it outward.
// It does not go inward. Errors are reported as events.
//
// The generation moves before the delete, so that no fill under way stores
// what it fetched (see keep). The key's flights leave after the delete: a
// flight opened before it may have found the old value in the store when
// it looked again (see load), and no later caller may join it; the
// generation moves again with them, which closes the batches opened before
// the delete. A fetch that reads the value before the delete recorded its
// dependent before (see register), so the dependents are dropped after it.
func (c *cache[K, V]) drop(ctx context.Context, key K) error {
	h := c.flights.hash(key)
	c.bump()
	if c.neg != nil {
		c.neg.remove(key)
	}
	err := c.store.Delete(ctx, key)
	c.mu.Lock()
	c.gen.Add(1)
	// A miss that read the store before the delete must look again in its
	// flight, and not serve stale what it read then: as if a flight landed.
	c.landed.Add(1)
	c.flights.drop(key, h) // later callers start afresh; current waiters still get the result
	delete(c.backoff, key)
	c.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("pipeline: %s: store delete: %w", c.name, err)
	}
	defer c.dropDependents(ctx, key) // even if an observer panics
	c.emit(ctx, Invalidated, key, err, 0)
	return err
}

// Invalidate drops key from the layer and the values derived from it in
// dependent layers, and passes it to the layer below if that is an
// Invalidator. A fill of key under way is not kept.
//
// It goes inward first, then drops the key here: a fetch that refills this
// layer in between reads below a value the inward pass already dropped, or
// is not kept, because the drop here bumps the generation. The drop here
// happens even if the inward pass panics (an observer below panicked).
func (c *cache[K, V]) Invalidate(ctx context.Context, key K) (err error) {
	if c.checkKeys {
		if err := c.checkKey(ctx, key); err != nil {
			return err
		}
	}
	inv, ok := c.inner.(Invalidator[K])
	if !ok {
		return c.drop(ctx, key)
	}
	defer func() { err = errors.Join(c.drop(ctx, key), err) }()
	ictx := context.WithValue(ctx, originKey{}, dependent(derived[K, V]{c, key}))
	return inv.Invalidate(ictx, key)
}

// originKey marks, in the context of an invalidation going inward, the key
// it started from, so that dependents do not drop it twice.
type originKey struct{}

// clearDerived empties this layer and its dependents, without going inward.
func (c *cache[K, V]) clearDerived(ctx context.Context) {
	if err := c.clearHere(ctx); err != nil {
		var zero K
		c.emit(ctx, Error, zero, err, 0)
	}
}

func (c *cache[K, V]) clearHere(ctx context.Context) error {
	c.bump() // as in drop
	if c.neg != nil {
		c.neg.mu.Lock()
		clear(c.neg.m)
		c.neg.mu.Unlock()
	}
	var err error
	if cl, ok := c.store.(interface{ Clear(context.Context) error }); ok {
		err = cl.Clear(ctx)
	} else {
		err = fmt.Errorf("pipeline: %s: store has no Clear method: %w", c.name, errors.ErrUnsupported)
	}
	c.mu.Lock() // as in drop
	c.gen.Add(1)
	c.landed.Add(1)
	c.flights.reset()
	clear(c.backoff)
	c.mu.Unlock()
	c.deps.mu.Lock()
	layers := c.deps.layers
	clear(c.deps.byKey)
	c.deps.n = 0
	c.deps.mu.Unlock()
	eachOf(layers, func(l dependentLayer) { l.clearDerived(ctx) })
	return err
}

// Clear empties the layer (its store must have a Clear(ctx) error method;
// otherwise the error wraps errors.ErrUnsupported), the layers that derive
// their values from it, and the layers below it that are Clearers. As
// Invalidate, it goes inward first, and empties this layer even if that
// panics.
func (c *cache[K, V]) Clear(ctx context.Context) (err error) {
	cl, ok := c.inner.(Clearer)
	if !ok {
		return c.clearHere(ctx)
	}
	defer func() { err = errors.Join(c.clearHere(ctx), err) }()
	return cl.Clear(ctx)
}
