package paired

import (
	"testing"
	"time"
)

// An Impl is one implementation a benchmark compares: Run does n operations,
// with nothing per operation but the operation.
type Impl struct {
	Name string
	Run  func(n int)
}

// Run times impls in turn, slice operations each, once per iteration of
// b.Loop, and reports each one's time but the first's relative to the
// first's, as the metric "x-<name>" (1.30 reads "1.3 times the first"). The
// benchmark's own ns/op means nothing.
//
// Each iteration starts with the next implementation in turn, so that a
// cost one leaves behind for whatever runs after it (the writeback of the
// files it wrote, say) falls on each of them equally often.
func Run(b *testing.B, slice int, impls ...Impl) {
	total := make([]time.Duration, len(impls))
	for turn := 0; b.Loop(); turn++ {
		for j := range impls {
			i := (turn + j) % len(impls)
			start := time.Now()
			impls[i].Run(slice)
			total[i] += time.Since(start)
		}
	}
	for i, impl := range impls[1:] {
		b.ReportMetric(float64(total[i+1])/float64(total[0]), "x-"+impl.Name)
	}
}
