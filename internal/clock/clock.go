// Package clock is the process's coarse clock, for expiry checks on hits.
//
// Reading time.Now costs tens of nanoseconds on some virtual machines, more
// than a whole cache hit. Nanos instead returns a time that one goroutine
// refreshes from time.Now every millisecond ([Resolution]). That goroutine
// runs only while the clock is read: it starts on the first read and stops
// after a second ([idleTicks]) in which nobody read the clock; the next read
// starts it again, and reads time.Now itself while doing so.
//
// Invariant: while running is true, now was stored by the ticker less than
// about one Resolution ago (more if the machine is too loaded to run it on
// time). running is set and cleared only under mu.
package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Resolution is how often the clock is refreshed: a time it returns may be
// this much behind time.Now, more on a loaded machine.
const Resolution = time.Millisecond

// idleTicks is how many ticks without a read stop the ticker.
const idleTicks = 1000

var (
	now     atomic.Int64 // Unix nanoseconds at the last tick
	running atomic.Bool  // a ticker refreshes now
	read    atomic.Bool  // Nanos was called since the last tick
	mu      sync.Mutex
)

// Nanos returns the current time in Unix nanoseconds, to within Resolution.
// It is safe for concurrent use and allocates nothing.
func Nanos() int64 {
	if !running.Load() {
		return start()
	}
	if !read.Load() { // a write only once per tick keeps the line shared
		read.Store(true)
	}
	return now.Load()
}

// Now returns Nanos as a time.Time.
func Now() time.Time { return time.Unix(0, Nanos()) }

// start starts the ticker if it is not running, and returns the time.
func start() int64 {
	mu.Lock()
	defer mu.Unlock()
	if running.Load() {
		return now.Load()
	}
	t := time.Now().UnixNano()
	now.Store(t)
	read.Store(true)
	running.Store(true)
	go tick()
	return t
}

// tick refreshes now every Resolution until nobody has read it for
// idleTicks ticks.
func tick() {
	ticker := time.NewTicker(Resolution)
	defer ticker.Stop()
	quiet := 0
	for range ticker.C {
		now.Store(time.Now().UnixNano())
		if read.Swap(false) {
			quiet = 0
			continue
		}
		if quiet++; quiet < idleTicks {
			continue
		}
		mu.Lock()
		stop := !read.Load()
		if stop {
			running.Store(false)
		}
		mu.Unlock()
		if stop {
			return
		}
		quiet = 0
	}
}

// TickerFunction is the name of the ticker goroutine's function, for leak
// checkers that must ignore it while it winds down.
const TickerFunction = "github.com/multilayer-cache/multilayer/internal/clock.tick"
