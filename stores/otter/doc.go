// Package otter holds a store for the cache layer of package pipeline on
// otter v2 (github.com/maypok86/otter/v2): W-TinyLFU eviction, which keeps
// a few points more of a skewed workload than an LRU of the same size, and
// reads that take no lock, so that hits scale over cores. It is a package
// of its own so that programs which do not use it do not import otter.
//
// # Bounds
//
// [New] bounds the store by a number of entries, [NewWeighted] by a total
// weight that a weigher gives each entry (normally its size in bytes). A
// value heavier than the whole budget is not stored: the key's old value,
// if any, is dropped, and the refusal is reported as an eviction.
//
// # Expiry
//
// Each entry keeps the Expires it was set with (pipeline.Entry), through
// otter's expiry calculator: otter drops it Grace after it expired, and a
// zero Expires (an unknown lifetime) never expires. Get reports an expired
// entry as missing; GetEntry and GetBatch return it, until Grace after its
// Expires, for the cache layer to judge (and serve stale-if-error). Time
// is the process's coarse clock, read once per millisecond by one goroutine
// that runs only while something reads it, or Options.Clock: a hit reads no
// system clock.
//
// # Evictions and fill level
//
// A [Store] implements pipeline.Notifier: every entry otter evicts for
// size, an entry its admission policy refused included, is reported to the
// function given to Notify as an event of Kind pipeline.Evicted with its
// key. Expiry, Delete and Clear are not evictions. Otter evicts in its
// maintenance, after the write that made the store too full has returned,
// on another goroutine or on a later call; [Store.CleanUp] runs the
// pending maintenance, so that every eviction due to the writes before it
// has been reported when it returns. A Store also implements pipeline.Meter.
//
// # Goroutines
//
// A Store starts no goroutine of its own that outlives a call: otter runs
// its maintenance and nothing else on short-lived goroutines, and the
// store gives otter a clock without ticks, so otter's periodic clean-up
// goroutine returns at once. The coarse clock's goroutine stops a second
// after the last read.
package otter
