package testkit

import "runtime"

// HeapInUse returns the bytes of live heap objects after a collection, for
// tests and benchmarks that measure what a store keeps.
func HeapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
