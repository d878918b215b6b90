package expiry_test

import (
	"fmt"
	"math"
	"time"

	"github.com/multilayer-cache/multilayer/internal/expiry"
)

// The zero time is no expiry; the instant 0 keeps one; an instant past 2262
// is clamped; FromNanos gives back the instant.
func ExampleToNanos() {
	fmt.Println(expiry.ToNanos(time.Time{}))
	fmt.Println(expiry.ToNanos(time.Unix(0, 0)))
	fmt.Println(expiry.ToNanos(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)))
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fmt.Println(expiry.FromNanos(expiry.ToNanos(t)).Equal(t))
	// Output:
	// 0
	// 1
	// 9223372036854775807
	// true
}

// A Grace only grows: a cache layer that needs expired entries kept longer
// lengthens it, one that needs less leaves it. End saturates.
func ExampleGrace() {
	var g expiry.Grace
	g.Lengthen(time.Hour)
	g.Lengthen(time.Minute)
	fmt.Println(g.Load())
	exp := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	fmt.Println(time.Unix(0, g.End(exp)).UTC())
	fmt.Println(g.End(0), g.End(math.MaxInt64-1))
	// Output:
	// 1h0m0s
	// 2026-01-01 01:00:00 +0000 UTC
	// 9223372036854775807 9223372036854775807
}
