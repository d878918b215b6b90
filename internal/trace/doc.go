// Package trace makes the key traces that the hit-ratio tests and
// benchmarks of the stores replay, so that every store, and the libraries
// they are measured against, see the same keys in the same order.
//
// # Zipf
//
// [Zipf] draws keys from a Zipf distribution: a few keys are asked for
// very often and most rarely, as in most caches' workloads. The trace of
// the stores' hit-ratio targets is Zipf(1, 1.01, 100_000, 1_000_000)
// replayed cold against a capacity of 10,000 entries ([Standard]).
//
// # Replay
//
// [Replay] plays a trace against any cache as a read-through cache would:
// a read, and a write after each miss. It returns the hit ratio in percent.
package trace
