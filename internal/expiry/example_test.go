package expiry_test

import (
	"fmt"
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
