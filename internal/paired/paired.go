// Package paired measures ratios between implementations on a noisy
// machine, for the benchmarks of this module.
//
// On a shared VM a benchmark's speed can drift by half from one second to
// the next, so sub-benchmarks run one after the other disagree by tens of
// percent on a ratio. [Run] times every implementation in turn, a slice of
// operations at a time, so that all of them run on the same machine state,
// and reports each one's time relative to the first one's: over repeated
// runs its spread is a few percent.
package paired

import (
	"testing"
	"time"
)

// An Impl is one implementation a benchmark compares: Run does n
// operations, with nothing per operation but the operation.
type Impl struct {
	Name string
	Run  func(n int)
}

// Run times impls in turn, slice operations each, once per iteration of
// b.Loop, and reports the time per operation of each implementation but the
// first relative to the first one's, as the metric "x-<name>" (1.30 reads
// "1.3 times the first"). The benchmark's own ns/op means nothing.
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
