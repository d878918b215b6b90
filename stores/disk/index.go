package disk

// The index: what the directory holds, in memory. Invariant: m holds every
// entry of the list and nothing else, bytes is the sum of their sizes, and
// the list runs from the most recently used entry (root.next) to the least
// (root.prev). The index is used only under Store.mu.

// An entry is one file of the directory.
type entry struct {
	name     string // file name, the key of index.m
	key      string // a long key, when keyKnown (a short one is in name)
	keyKnown bool
	size     int64 // file size, header included
	touched  int64 // the file's modification time as last set, Unix nanoseconds

	prev, next *entry
}

// An index is a map from file name to entry with a recency list.
type index struct {
	m     map[string]*entry
	root  entry // sentinel of the list
	bytes int64
}

func (x *index) init(n int) {
	x.m = make(map[string]*entry, n)
	x.root.next, x.root.prev = &x.root, &x.root
	x.bytes = 0
}

// add inserts e as the most recently used entry.
func (x *index) add(e *entry) {
	x.m[e.name] = e
	x.bytes += e.size
	x.link(e)
}

// remove takes e out of the index.
func (x *index) remove(e *entry) {
	delete(x.m, e.name)
	x.bytes -= e.size
	x.unlink(e)
}

// use makes e the most recently used entry.
func (x *index) use(e *entry) {
	if x.root.next != e {
		x.unlink(e)
		x.link(e)
	}
}

// oldest returns the least recently used entry other than skip, or nil.
func (x *index) oldest(skip *entry) *entry {
	e := x.root.prev
	if e == skip {
		e = e.prev
	}
	if e == &x.root {
		return nil
	}
	return e
}

func (x *index) link(e *entry) {
	e.prev, e.next = &x.root, x.root.next
	x.root.next.prev = e
	x.root.next = e
}

func (x *index) unlink(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}
