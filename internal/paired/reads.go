package paired

import (
	"runtime"
	"sync"
)

// Reads returns an Impl.Run that reads keys in turn with get: n reads on
// the calling goroutine, or, if parallel, n reads shared by GOMAXPROCS
// goroutines, each starting elsewhere in keys. What get returns is ignored.
func Reads(keys []string, get func(string) bool, parallel bool) func(n int) {
	if !parallel {
		i := 0
		return func(n int) {
			for range n {
				get(keys[i%len(keys)])
				i++
			}
		}
	}
	procs := runtime.GOMAXPROCS(0)
	return func(n int) {
		var wg sync.WaitGroup
		for w := range procs {
			wg.Go(func() {
				i := w * len(keys) / procs
				for range n / procs {
					get(keys[i%len(keys)])
					i++
				}
			})
		}
		wg.Wait()
	}
}
