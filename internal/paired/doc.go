// Package paired measures ratios between implementations on a noisy machine,
// for this module's benchmarks. On a shared VM speed drifts from one second
// to the next, so sub-benchmarks run one after the other disagree by tens of
// percent; [Run] interleaves the implementations, a slice of operations at a
// time, so that their ratios vary by a few percent over repeated runs.
package paired
