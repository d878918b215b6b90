package trace_test

import (
	"fmt"

	"github.com/multilayer-cache/multilayer/internal/trace"
)

func ExampleReplay() {
	// A map that holds every key misses each key once: 95 of the 100 keys
	// come up in 1000 draws, so 905 of them hit.
	tr := trace.Zipf(1, 1.01, 100, 1000)
	held := make(map[uint64]bool)
	ratio := trace.Replay(tr,
		func(k uint64) bool { return held[k] },
		func(k uint64) { held[k] = true })
	fmt.Printf("%.1f%% hits, %d keys\n", ratio, len(held))
	// Output:
	// 90.5% hits, 95 keys
}
