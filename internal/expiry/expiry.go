// Package expiry converts a pipeline.Entry's Expires to and from Unix
// nanoseconds in an int64, which is smaller and quicker to copy and compare
// than a time.Time: the form in which the in-memory stores (stores,
// stores/otter) keep it. A [Grace] is how long such a store keeps an entry
// after it expired.
package expiry

import (
	"math"
	"sync/atomic"
	"time"
)

// The instants that Unix nanoseconds in an int64 can hold: the years 1678
// to 2262. math.MinInt64 itself is left out, so that as a cutoff it means
// "before every expiry".
var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// Whole Unix seconds strictly between these are well inside
// [minTime, maxTime].
const (
	minSec = math.MinInt64 / int64(time.Second)
	maxSec = math.MaxInt64 / int64(time.Second)
)

// ToNanos returns Expires as a store holds it: 0 for the zero time (no
// expiry), and otherwise t in Unix nanoseconds, clamped to
// [math.MinInt64+1, math.MaxInt64] rather than wrapped, with the instant of
// Unix nanosecond 0 moved to 1 so that it still has an expiry.
func ToNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if n := ClampNanos(t); n != 0 {
		return n
	}
	return 1
}

// ClampNanos returns t in Unix nanoseconds, clamped to
// [math.MinInt64+1, math.MaxInt64]; unlike ToNanos, it gives the zero time
// no special meaning.
func ClampNanos(t time.Time) int64 {
	// Whole seconds strictly inside the range, the usual case, are cheaper
	// to check than Before and After.
	if sec := t.Unix(); sec > minSec && sec < maxSec {
		return t.UnixNano()
	}
	switch {
	case t.Before(minTime):
		return math.MinInt64 + 1
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// FromNanos is the inverse of ToNanos: it returns the same instant, in the
// Local location and without a monotonic clock reading.
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// A Grace is how long a store keeps an entry after its expiry, so that a
// cache layer can still serve it stale-if-error: the store's Grace option,
// which a cache layer may lengthen while the store is in use (see
// pipeline.StaleKeeper). Its zero value is no grace period. A Grace is safe
// for concurrent use, and its methods allocate nothing.
type Grace struct{ d atomic.Int64 }

// Load returns the grace period.
func (g *Grace) Load() time.Duration { return time.Duration(g.d.Load()) }

// Lengthen makes the grace period d if it is shorter; it never shortens it.
func (g *Grace) Lengthen(d time.Duration) {
	for {
		old := g.d.Load()
		if int64(d) <= old || g.d.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// End returns the instant, in Unix nanoseconds, at which the grace period
// of an entry that expires at exp (as ToNanos returns it) ends: exp plus
// the grace period, or math.MaxInt64, an instant no clock reaches, if exp
// is 0 (no expiry) or the sum would overflow.
func (g *Grace) End(exp int64) int64 {
	grace := g.d.Load()
	if exp == 0 || exp > math.MaxInt64-grace {
		return math.MaxInt64
	}
	return exp + grace
}
