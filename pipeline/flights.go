package pipeline

import "hash/maphash"

// Flights: how a cache layer finds the fetch of a key under way.
//
// A miss looks its key up among the layer's flights and, if it finds none,
// adds its own before it calls below; the flight leaves when its value is
// stored. That costs every miss an insert and a delete, under the layer's
// lock, even when no other caller ever asks for the key, so the table is
// built for that case:
//
//   - a fixed array of slots, indexed by the key's hash: one hash per miss,
//     and a landing flight clears its slot without hashing again;
//   - a Go map for the flights whose slot is taken (a collision, or many
//     flights at once);
//   - a short free list of flights that no one joined, so that a miss of an
//     uncancellable caller allocates no flight of its own.
//
// A batch does not add its flights one by one: it adds itself, once, with
// its keys (see batchFlights), and is looked up key by key only when someone
// looks for a key while it runs. A batch that no one else meets pays nothing
// per key here, and, when no other flight runs, not even a look-up.
//
// Everything here is guarded by the cache layer's mu.

// flight is one shared fetch of a key.
type flight[V any] struct {
	done chan struct{} // made when someone must wait; closed when e, err are set
	e    Entry[V]
	err  error
}

// flightSlots is the number of slots of a flight table: a power of two,
// comfortably more than the fetches a layer usually has under way at once.
const flightSlots = 64

// maxSpareFlights bounds the free list of a flight table.
const maxSpareFlights = 8

// flightTable holds a cache layer's flights by key.
type flightTable[K comparable, V any] struct {
	seed    maphash.Seed
	slots   [flightSlots]flightSlot[K, V]
	more    map[K]*flight[V] // flights whose slot was taken
	n       int              // flights in slots and more
	batches []*batchFlights[K, V]
	spare   []*flight[V] // flights no one joined, cleared, for reuse
}

// batchFlights are the flights a batch leads, one per distinct key it
// fetches, which all land together: those of its work items that have no
// flight of their own. keys and work are the batch's own, and do not change
// while it is in the table. The flights themselves are made only for the
// keys someone joins (see find); the batch's results reach them when it
// lands (see hand).
type batchFlights[K comparable, V any] struct {
	keys  []K
	work  []batchKey[V]
	done  chan struct{}
	index map[K]int    // key → position in work, built the first time it is needed
	joins []*flight[V] // by position in work: the flights find made; nil until the first
	// gen is the layer's generation when the batch began: once an
	// invalidation has moved it, the batch's values may be stale, and no
	// one may join its flights any more.
	gen uint64
}

// find returns the flight of key in b, made on the first call for it, or
// nil if b does not fetch key.
func (b *batchFlights[K, V]) find(key K) *flight[V] {
	if b.index == nil {
		b.index = make(map[K]int, len(b.work))
		for n, w := range b.work {
			if w.f == nil {
				b.index[b.keys[w.idx]] = n
			}
		}
	}
	n, ok := b.index[key]
	if !ok {
		return nil
	}
	if b.joins == nil {
		b.joins = make([]*flight[V], len(b.work))
	}
	f := b.joins[n]
	if f == nil {
		f = &flight[V]{done: b.done}
		b.joins[n] = f
	}
	return f
}

// hand gives every flight that find made its key's result, from dst
// (aligned with keys), before the batch's done channel closes.
func (b *batchFlights[K, V]) hand(dst []Result[V]) {
	for n, f := range b.joins {
		if f != nil {
			r := &dst[b.work[n].idx]
			f.e, f.err = r.Entry, r.Err
		}
	}
}

// idle reports whether the table holds no flight at all.
func (t *flightTable[K, V]) idle() bool { return t.n == 0 && len(t.batches) == 0 }

type flightSlot[K comparable, V any] struct {
	f   *flight[V] // nil when the slot is free
	key K
}

func (t *flightTable[K, V]) init() { t.seed = maphash.MakeSeed() }

// hash returns the hash of key that the other methods take. It needs no
// lock.
func (t *flightTable[K, V]) hash(key K) uint64 { return maphash.Comparable(t.seed, key) }

// get returns the flight of key, or nil: a single fetch's, or one of a
// batch that began in generation gen, the current one.
func (t *flightTable[K, V]) get(key K, h uint64, gen uint64) *flight[V] {
	if s := &t.slots[h%flightSlots]; s.f != nil && s.key == key {
		return s.f
	}
	if len(t.more) > 0 {
		if f := t.more[key]; f != nil {
			return f
		}
	}
	for _, b := range t.batches {
		if b.gen == gen {
			if f := b.find(key); f != nil {
				return f
			}
		}
	}
	return nil
}

// put adds f as the flight of key, which has none.
func (t *flightTable[K, V]) put(key K, h uint64, f *flight[V]) {
	if s := &t.slots[h%flightSlots]; s.f == nil {
		s.f, s.key = f, key
		t.n++
		return
	}
	if key != key {
		// A key not equal to itself (a NaN) could never be found in a map
		// again, nor deleted: it does not wait for a slot of its own. It
		// could not have been found in the slot either.
		return
	}
	if t.more == nil {
		t.more = make(map[K]*flight[V])
	}
	t.more[key] = f
	t.n++
}

// remove removes f if it is the flight of key.
func (t *flightTable[K, V]) remove(key K, h uint64, f *flight[V]) {
	if s := &t.slots[h%flightSlots]; s.f == f {
		*s = flightSlot[K, V]{}
		t.n--
		return
	}
	if len(t.more) > 0 && t.more[key] == f {
		delete(t.more, key)
		t.n--
	}
}

// drop removes the flight of key, whichever it is, so that later misses
// start their own. Batches are not searched: the invalidation that drops a
// key also moves the generation, which closes every batch under way.
func (t *flightTable[K, V]) drop(key K, h uint64) {
	if s := &t.slots[h%flightSlots]; s.f != nil && s.key == key {
		*s = flightSlot[K, V]{}
		t.n--
	}
	if _, ok := t.more[key]; ok {
		delete(t.more, key)
		t.n--
	}
}

// reset removes every single fetch's flight. Batches stay until they land
// (see drop).
func (t *flightTable[K, V]) reset() {
	clear(t.slots[:])
	clear(t.more)
	t.n = 0
}

// addBatch adds the flights of a batch.
func (t *flightTable[K, V]) addBatch(b *batchFlights[K, V]) { t.batches = append(t.batches, b) }

// removeBatch removes the flights of a batch.
func (t *flightTable[K, V]) removeBatch(b *batchFlights[K, V]) {
	for i, x := range t.batches {
		if x == b {
			last := len(t.batches) - 1
			t.batches[i], t.batches[last] = t.batches[last], nil
			t.batches = t.batches[:last]
			return
		}
	}
}

// newFlight returns a cleared flight: a spare one if there is one.
func (t *flightTable[K, V]) newFlight() *flight[V] {
	if n := len(t.spare); n > 0 {
		f := t.spare[n-1]
		t.spare[n-1] = nil
		t.spare = t.spare[:n-1]
		return f
	}
	return new(flight[V])
}

// recycle keeps f, which no one else holds any more, for reuse.
func (t *flightTable[K, V]) recycle(f *flight[V]) {
	if len(t.spare) < maxSpareFlights {
		*f = flight[V]{}
		t.spare = append(t.spare, f)
	}
}
