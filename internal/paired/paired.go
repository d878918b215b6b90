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
func Run(b *testing.B, slice int, impls ...Impl) {
	total := make([]time.Duration, len(impls))
	for b.Loop() {
		for i, impl := range impls {
			start := time.Now()
			impl.Run(slice)
			total[i] += time.Since(start)
		}
	}
	for i, impl := range impls[1:] {
		b.ReportMetric(float64(total[i+1])/float64(total[0]), "x-"+impl.Name)
	}
}
