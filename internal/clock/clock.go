// Package clock is the process's coarse clock, for expiry checks on hits.
//
// Reading time.Now costs tens of nanoseconds on some virtual machines, more
// than a whole cache hit. Coarse instead returns a time that one goroutine
// refreshes from time.Now every millisecond ([Resolution]). That goroutine
// is started when the program starts and sleeps on a channel; it ticks only
// while the clock is read, and sleeps again after a second ([idleTicks])
// without a read. Starting it at init keeps it out of any testing/synctest
// bubble, whatever goroutine first reads the clock.
//
// A reader may use a Coarse time t only to decide "not yet expired": an
// expiry after t is (to within Resolution) after now. Coarse returns
// [Stopped], later than any expiry, while the ticker sleeps (and wakes it):
// the reader then reads its own clock. Inside a synctest bubble, whose fake
// time starts in 2000, the real time Coarse returns is later than any fake
// expiry, so readers fall back to their own clock there too.
package clock

import (
	"math"
	"sync/atomic"
	"time"
)

// Resolution is how often the clock is refreshed: a time Coarse returns may
// be this much behind time.Now, more on a machine too loaded to run the
// ticker on time.
const Resolution = time.Millisecond

// Stopped is what Coarse returns while the ticker sleeps.
const Stopped = math.MaxInt64

// idleTicks is how many ticks without a read put the ticker to sleep.
const idleTicks = 1000

var (
	now  atomic.Int64 // Unix nanoseconds at the last tick, or Stopped
	read atomic.Bool  // Coarse was called since the last tick
	wake = make(chan struct{}, 1)
)

func init() {
	now.Store(Stopped)
	go tick()
}

// Coarse returns the current time in Unix nanoseconds, to within
// Resolution, or Stopped if the clock sleeps (it then wakes it). It is safe
// for concurrent use and allocates nothing.
func Coarse() int64 {
	n := now.Load()
	if n == Stopped {
		select {
		case wake <- struct{}{}:
		default:
		}
		return n
	}
	if !read.Load() { // a write at most once per tick keeps the line shared
		read.Store(true)
	}
	return n
}

// tick sleeps until woken, then refreshes now until nobody reads it.
func tick() {
	for range wake {
		run()
	}
}

func run() {
	ticker := time.NewTicker(Resolution)
	defer ticker.Stop()
	now.Store(time.Now().UnixNano())
	read.Store(true)
	quiet := 0
	for range ticker.C {
		if read.Swap(false) {
			quiet = 0
		} else if quiet++; quiet >= idleTicks {
			now.Store(Stopped)
			return
		}
		now.Store(time.Now().UnixNano())
	}
}

// TickerFunction is the name of the clock's goroutine's function, for leak
// checkers to ignore (it lives as long as the program).
const TickerFunction = "github.com/multilayer-cache/multilayer/internal/clock.tick"

// Nanos returns the current time in Unix nanoseconds, to within
// Resolution: Coarse, or time.Now while the ticker sleeps. A store that
// keeps its own time base (otter's) reads it; inside a testing/synctest
// bubble it is the real time, not the bubble's.
func Nanos() int64 {
	if n := Coarse(); n != Stopped {
		return n
	}
	return time.Now().UnixNano()
}

// start is the reading Mono counts from.
var start = time.Now()

// Mono returns the time since the program started, by the monotonic clock
// alone: for measuring how long something took, with two readings at about
// a third of the cost of time.Now and time.Since (time.Since of a time that
// has a monotonic reading reads no wall clock). Inside a testing/synctest
// bubble it follows the bubble's clock, so differences stay right.
func Mono() time.Duration { return time.Since(start) }
