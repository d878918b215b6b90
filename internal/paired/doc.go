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
