package pipeline

import (
	"context"
	"errors"
	"hash/maphash"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/multilayer-cache/multilayer/internal/plumbing"
)

// The dependency index: which outer values were derived from a layer's
// keys, so that dropping a key drops them too.
//
// When a cache layer fetches below, it does so under its call, a context
// that carries a fill marker (the call: its layer and the keys it passed
// below). Every cache layer the fetch reaches finds the marker in its ctx
// and records "my key → that outer value" before it reads its store: so a
// record exists before any outer fill can have read the inner value. Any
// layer in between that passes ctx along keeps this working, with nothing
// to implement. A batch passed below whole and in order (through the
// library's own layers) is recorded key by key; one that passed through a
// BatchFetcher of the user's, which may have reordered it, is recorded as a
// whole: dropping any of its inner keys drops all its outer keys.
//
// Invariant: a record is removed only after the value it names was dropped,
// or when the index forgets it to stay within its byte bound, which also
// drops that value. Dropping a key snapshots its records, drops each (which
// waits for the outer layer's fills under way, see fill.go), and removes
// only the records it dropped and that were not made again since the
// snapshot (each record carries the sequence number of its last making): a
// concurrent drop of the same key finds them still there and drops them
// too, so that neither returns before every dependent has dropped the key,
// and a fill recorded during the drop keeps its record. A record whose drop
// failed stays, and the failure is returned.
//
// A record is not removed when the outer store evicts the key it names,
// although stores report evictions: the record may still be needed. A
// value two layers up, derived through that outer key, is reached from
// the inner key only through it (inner key → outer key → its own records
// there), and it outlives the eviction. Only a record whose outer layer
// derives nothing further could go then, and a fill of the key under way
// would have to be voided as a drop does. So the index is bounded by
// bytes instead (DependentsBytes); forgetting a record drops its value. By
// default the bound grows to twice the entries the layers recording here
// can hold (see grow), so that it rarely forgets a value they still hold.
//
// The outermost hit pays one atomic load for this (tracking); an inner
// layer looks in its ctx only while some fill is under way.

// tracking counts the fetches below under way that carry a fill marker.
// While it is zero, no layer looks in its ctx for one.
var tracking atomic.Int64

type markerKey struct{}

// originKey marks the context of an Invalidate passed inward by a cache
// layer: the layers below do not drop that layer's key, which it drops
// itself right after.
type originKey struct{}

// A marker is a fill under way, as a layer below finds it in its ctx.
type marker interface {
	// dependent returns what a layer below records for the key at
	// position i of the n keys it was asked (n == 1 for a single fetch).
	dependent(i, n int) dependent
}

// A dependent is a value, in a layer above, derived from one of a layer's
// keys.
type dependent interface {
	drop(ctx context.Context) error
	layer() deriver // where it lives, for Clear
	size() int      // estimated bytes of the record
}

// A deriver is a layer that derives values from the layers below it.
type deriver interface {
	clearHere(ctx context.Context) error
	entries() int // most entries it can hold, if its store says (Meter); 0 if not
}

// derived is one key of a cache layer above.
type derived[K comparable, V any] struct {
	c   *cache[K, V]
	key K
}

func (d derived[K, V]) drop(ctx context.Context) error { return d.c.drop(ctx, d.key) }
func (d derived[K, V]) layer() deriver                 { return d.c }
func (d derived[K, V]) size() int                      { return d.c.deps.keySize(d.key) + recordBytes }

// derivedBatch is the keys of a batch that reached a layer below in an
// order it cannot trust (see above). It is recorded by pointer, under each
// key of the batch below, and drops its keys once: after that, the fills
// it stood for keep nothing, and later fills of those keys come with new
// records.
type derivedBatch[K comparable, V any] struct {
	c     *cache[K, V]
	keys  []K
	sum   uint64 // of the keys, in order
	bytes int
	once  sync.Once
	err   error
	same  atomic.Pointer[derivedBatch[K, V]] // the last older record found to have the same keys
}

func newDerivedBatch[K comparable, V any](c *cache[K, V], ks []K) *derivedBatch[K, V] {
	b := &derivedBatch[K, V]{c: c, keys: ks, bytes: recordBytes, sum: uint64(len(ks))}
	for _, k := range ks {
		b.bytes += c.deps.keySize(k)
		b.sum = (b.sum ^ maphash.Comparable(keySeed, k)) * 0x9e3779b97f4a7c15
	}
	return b
}

func (b *derivedBatch[K, V]) drop(ctx context.Context) error {
	b.once.Do(func() {
		var errs []error
		for _, k := range b.keys {
			errs = append(errs, b.c.drop(ctx, k))
		}
		b.err = errors.Join(errs...)
	})
	return b.err
}
func (b *derivedBatch[K, V]) layer() deriver { return b.c }
func (b *derivedBatch[K, V]) size() int      { return b.bytes }

// replaces reports whether b, a new record, may take the place of old in a
// key's list: a record of the same layer for the same keys, so that
// dropping b drops every value dropping old would. A refill of the same
// outer keys then does not grow the index.
func (b *derivedBatch[K, V]) replaces(old dependent) bool {
	o, ok := old.(*derivedBatch[K, V])
	switch {
	case !ok || o == b || o.c != b.c || o.sum != b.sum || len(o.keys) != len(b.keys):
		return false
	case b.same.Load() == o:
		return true
	}
	for i := range b.keys {
		if b.keys[i] != o.keys[i] {
			return false
		}
	}
	b.same.Store(o)
	o.same.Store(nil) // o is replaced: keep no chain of older records alive
	return true
}

// keySeed hashes the keys of a derivedBatch.
var keySeed = maphash.MakeSeed()

// keyMarker is the marker of one key of a batch run as single fetches
// (see fanOut).
type keyMarker struct {
	m    marker
	i, n int
}

func (k keyMarker) dependent(int, int) dependent { return k.m.dependent(k.i, k.n) }

// directOver reports whether the batch's layer needs no records (see
// unrecorded).
func (k keyMarker) directOver() bool { return unrecorded(k.m) }

// recordBytes is what a record costs besides its keys: the interface, the
// slice slot, the map entry's share.
const recordBytes = 64

// record is a dependent, with the sequence number of its last making.
type record struct {
	dep dependent
	seq uint64
}

// deps is a layer's dependency index.
type deps[K comparable] struct {
	mu      sync.Mutex
	m       map[K][]record
	seq     uint64               // of the last record made
	layers  map[deriver]struct{} // every layer that recorded here: for Clear
	direct  []func(K) dependent  // layers built right over this one; see addDirect
	bytes   int
	max     int
	grows   bool // max is the default: it grows with room; see grow
	room    int  // the entries the layers that recorded here can hold
	keySize func(K) int
	report  func(error) // a failed drop of a record the bound forgot
}

// init sets the index up with the bound max, which grows (see grow) if
// grows is set.
func (d *deps[K]) init(max int, grows bool, report func(error)) {
	d.m, d.layers, d.max, d.grows, d.report = make(map[K][]record), make(map[deriver]struct{}), max, grows, report
	d.keySize = sizer[K]()
}

// grow raises a default bound to room for twice the entries the layers
// that recorded here can hold, at size bytes a record (see
// CacheOptions.DependentsBytes): records are not removed when those layers
// evict, so a bound below that would drop values they still hold.
func (d *deps[K]) grow(size int) {
	if d.grows {
		d.max = max(d.max, 2*d.room*size)
	}
}

// addDirect registers a cache layer built over this one, right over it or
// through layers that keep keys (see sameKeyIndex): its key k can only come
// from this layer's k, so it needs no record per key (the fast path of the
// batch-of-misses target, and no index at all for a cache of parsed values
// over a cache of raw ones): every drop of k here drops k there, and every
// Clear here clears it.
func (d *deps[K]) addDirect(l deriver, derive func(K) dependent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.direct = append(d.direct, derive)
	d.layers[l] = struct{}{}
}

// A keyed is a cache layer whose keys are of type K, whatever its values.
type keyed[K comparable] interface{ index() *deps[K] }

func (c *cache[K, V]) index() *deps[K] { return &c.deps }

// sameKeyIndex returns the dependency index of the cache layer that next
// is, or reaches through layers that ask below for the key they are given
// and no other (plumbing.SameKey: Parse, Transform, Log, Inspect, Timeout,
// tracing, Coherent), if its keys are of type K: each value of a cache
// layer built over next derives from that layer's value of the same key
// alone.
func sameKeyIndex[K comparable](next any) (*deps[K], bool) {
	for range 64 { // a bound, should a broken layer make a cycle
		switch n := next.(type) {
		case keyed[K]:
			return n.index(), true
		case plumbing.SameKey:
			next = n.SameKeyNext()
		default:
			return nil, false
		}
	}
	return nil, false
}

// unrecorded reports whether the marker is that of a layer built over this
// one with the same keys (see addDirect).
func unrecorded(m marker) bool {
	x, ok := m.(interface{ directOver() bool })
	return ok && x.directOver()
}

// track records the key of a single fetch against the marker in ctx, if
// there is one.
func (d *deps[K]) track(ctx context.Context, key K) {
	if m, ok := ctx.Value(markerKey{}).(marker); ok && !unrecorded(m) {
		d.record(func(yield func(K, dependent) bool) { yield(key, m.dependent(0, 1)) })
	}
}

// trackBatch records each key of a batch against the marker in ctx.
func (d *deps[K]) trackBatch(ctx context.Context, keys []K) {
	if m, ok := ctx.Value(markerKey{}).(marker); ok && !unrecorded(m) {
		d.record(func(yield func(K, dependent) bool) {
			for i, k := range keys {
				if !yield(k, m.dependent(i, len(keys))) {
					return
				}
			}
		})
	}
}

// record adds the records, and forgets others (dropping their values) if
// the index outgrows its bound.
func (d *deps[K]) record(records func(yield func(K, dependent) bool)) {
	var forgotten []dependent
	last := 0 // the bytes of the last record made
	d.mu.Lock()
	for key, dep := range records {
		d.seq++
		list := d.m[key]
		if i := indexDep(list, dep); i >= 0 {
			list[i].seq = d.seq
			continue
		}
		if len(list) == 0 {
			d.bytes += d.keySize(key)
		}
		if b, ok := dep.(interface{ replaces(dependent) bool }); ok {
			list = slices.DeleteFunc(list, func(old record) bool {
				if b.replaces(old.dep) {
					d.bytes -= old.dep.size()
					return true
				}
				return false
			})
		}
		d.m[key] = append(list, record{dep, d.seq})
		d.bytes += dep.size()
		if l := dep.layer(); !d.has(l) {
			d.layers[l] = struct{}{}
			d.room += l.entries()
		}
		last = d.keySize(key) + dep.size()
	}
	if d.bytes > d.max {
		d.grow(last)
	}
	if d.bytes > d.max {
		forgotten = d.forgetLocked()
	}
	d.mu.Unlock()
	for _, dep := range forgotten {
		if err := dep.drop(forgetting); err != nil {
			d.report(err)
		}
	}
}

// forgetting is the context of the drops of forgotten records: the layers
// above report them as Evicted, not Invalidated, since the index dropped
// the values to make room.
var forgetting = context.WithValue(context.Background(), forgetKey{}, true)

type forgetKey struct{}

// has reports whether the layer l recorded here.
func (d *deps[K]) has(l deriver) bool {
	_, ok := d.layers[l]
	return ok
}

// forgetLocked removes arbitrary keys' records until the index is an
// eighth below its bound, and returns them, to be dropped.
func (d *deps[K]) forgetLocked() (forgotten []dependent) {
	for key, list := range d.m {
		if d.bytes <= d.max-d.max/8 {
			break
		}
		for _, r := range list {
			forgotten = append(forgotten, r.dep)
		}
		d.removeLocked(key, func(record) bool { return true })
	}
	return forgotten
}

// removeLocked removes from key's list the records gone reports, and the
// key once it has none. A key with no list (a drop found only layers built
// right over this one, or a concurrent drop removed it) costs nothing.
func (d *deps[K]) removeLocked(key K, gone func(record) bool) {
	list, ok := d.m[key]
	if !ok {
		return
	}
	kept := slices.DeleteFunc(list, func(r record) bool {
		if gone(r) {
			d.bytes -= r.dep.size()
			return true
		}
		return false
	})
	if len(kept) == 0 {
		delete(d.m, key)
		d.bytes -= d.keySize(key)
		return
	}
	d.m[key] = kept
}

// drop drops every value derived from key, and returns once all are
// dropped, with every failure.
func (d *deps[K]) drop(ctx context.Context, key K) error {
	d.mu.Lock()
	list := make([]dependent, 0, len(d.m[key])+len(d.direct))
	for _, r := range d.m[key] {
		list = append(list, r.dep)
	}
	for _, derive := range d.direct {
		list = append(list, derive(key))
	}
	seq := d.seq
	d.mu.Unlock()
	if len(list) == 0 {
		return nil
	}
	var errs []error
	var panicked any
	dropped := list[:0]
	origin, _ := ctx.Value(originKey{}).(dependent)
	for _, dep := range list {
		if dep == origin {
			continue // dropped by the Invalidate that began above; its record stays
		}
		func() {
			defer func() { // an observer's panic must not leave the others behind
				if r := recover(); r != nil && panicked == nil {
					panicked = r
				}
			}()
			if err := dep.drop(ctx); err != nil {
				errs = append(errs, err)
				return
			}
			dropped = append(dropped, dep)
		}()
	}
	d.mu.Lock()
	d.removeLocked(key, func(r record) bool { // not made again since the snapshot
		return r.seq <= seq && slices.Contains(dropped, r.dep)
	})
	d.mu.Unlock()
	if panicked != nil {
		panic(panicked)
	}
	return errors.Join(errs...)
}

// clear clears every layer that derives from this one, then forgets the
// records made before it began (as drop, it leaves them while it works, so
// that a concurrent drop finds them and waits for their values to go).
func (d *deps[K]) clear(ctx context.Context) error {
	d.mu.Lock()
	seq := d.seq
	layers := make([]deriver, 0, len(d.layers))
	for l := range d.layers {
		layers = append(layers, l)
	}
	d.mu.Unlock()
	var errs []error
	for _, l := range layers {
		errs = append(errs, l.clearHere(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return err // the records stay, for the next drop or Clear
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seq == seq { // nothing recorded meanwhile
		clear(d.m)
		d.bytes = 0
		return nil
	}
	older := func(r record) bool { return r.seq <= seq } // made before the Clear began
	for key := range d.m {
		d.removeLocked(key, older)
	}
	return nil
}

// indexDep returns the index of dep in list, or -1.
func indexDep(list []record, dep dependent) int {
	return slices.IndexFunc(list, func(r record) bool { return r.dep == dep })
}

// sizer returns a function that estimates the bytes a key of type K keeps
// alive: its size, plus the bytes of the strings it holds (found by
// reflection, but for a K that is a string).
func sizer[K any]() func(K) int {
	base := int(reflect.TypeFor[K]().Size())
	if reflect.TypeFor[K]().Kind() == reflect.String {
		return func(k K) int { return base + len(*(*string)(unsafe.Pointer(&k))) } // K's underlying type is string
	}
	return func(k K) int { return base + stringBytes(reflect.ValueOf(&k).Elem()) }
}

// stringBytes returns the bytes of the strings v holds.
func stringBytes(v reflect.Value) (n int) {
	switch v.Kind() {
	case reflect.String:
		n = v.Len()
	case reflect.Interface:
		if !v.IsNil() {
			n = stringBytes(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			n += stringBytes(v.Field(i))
		}
	case reflect.Array:
		for i := range v.Len() {
			n += stringBytes(v.Index(i))
		}
	}
	return n
}

// keepsOrder reports whether a batch passed to next reaches the first
// cache layers below it whole and in order (see plumbing.InOrder): next is
// a cache layer, a layer that cannot batch (the batch then runs as single
// fetches, each with its own marker; see fanOut), or a chain of the
// library's in-order layers down to one of those.
func keepsOrder(next any) bool {
	for range 64 {
		switch n := next.(type) {
		case deriver:
			return true
		case plumbing.InOrder:
			next = n.BatchNext()
			continue
		}
		return !reflect.ValueOf(next).MethodByName("FetchBatch").IsValid()
	}
	return false
}

// DropDerived drops every value the layers above derived from key, without
// touching this layer's store or the layers below; see Origin. A fill of
// key under way here is not kept, and later fetches do not join it: it may
// carry the value the drop is about.
func (c *cache[K, V]) DropDerived(ctx context.Context, key K) error {
	c.void(key, false)
	return c.deps.drop(ctx, key)
}

// ClearDerived clears every layer above that derives values from this one,
// without touching this layer's store or the layers below; see Origin. No
// fill under way here is kept, and later fetches do not join them.
func (c *cache[K, V]) ClearDerived(ctx context.Context) error {
	c.void(*new(K), true)
	return c.deps.clear(ctx)
}

// entries returns the entries the layer's store can hold, if it says (see
// deps.grow).
func (c *cache[K, V]) entries() int { return c.capacity }
