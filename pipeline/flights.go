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
	seed  maphash.Seed
	slots [flightSlots]flightSlot[K, V]
	more  map[K]*flight[V] // flights whose slot was taken
	spare []*flight[V]     // flights no one joined, cleared, for reuse
}

type flightSlot[K comparable, V any] struct {
	f   *flight[V] // nil when the slot is free
	key K
}

func (t *flightTable[K, V]) init() { t.seed = maphash.MakeSeed() }

// hash returns the hash of key that the other methods take. It needs no
// lock.
func (t *flightTable[K, V]) hash(key K) uint64 { return maphash.Comparable(t.seed, key) }

// get returns the flight of key, or nil.
func (t *flightTable[K, V]) get(key K, h uint64) *flight[V] {
	if s := &t.slots[h%flightSlots]; s.f != nil && s.key == key {
		return s.f
	}
	if len(t.more) == 0 {
		return nil
	}
	return t.more[key]
}

// put adds f as the flight of key, which has none.
func (t *flightTable[K, V]) put(key K, h uint64, f *flight[V]) {
	if s := &t.slots[h%flightSlots]; s.f == nil {
		s.f, s.key = f, key
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
}

// remove removes f if it is the flight of key.
func (t *flightTable[K, V]) remove(key K, h uint64, f *flight[V]) {
	if s := &t.slots[h%flightSlots]; s.f == f {
		*s = flightSlot[K, V]{}
		return
	}
	if len(t.more) > 0 && t.more[key] == f {
		delete(t.more, key)
	}
}

// drop removes the flight of key, whichever it is.
func (t *flightTable[K, V]) drop(key K, h uint64) {
	if s := &t.slots[h%flightSlots]; s.f != nil && s.key == key {
		*s = flightSlot[K, V]{}
	}
	delete(t.more, key)
}

// reset removes every flight.
func (t *flightTable[K, V]) reset() {
	clear(t.slots[:])
	clear(t.more)
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
