package trace

import "math/rand/v2"

// Zipf returns n keys in [0, keys) drawn from a Zipf distribution of
// exponent s (s > 1: the larger, the more skewed), with key 0 the most
// frequent. The same arguments give the same trace. It panics if s <= 1 or
// keys is 0, as rand.NewZipf does.
func Zipf(seed uint64, s float64, keys uint64, n int) []uint64 {
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, seed)), s, 1, keys-1)
	if z == nil {
		panic("trace: Zipf: s must be > 1 and keys > 0")
	}
	tr := make([]uint64, n)
	for i := range tr {
		tr[i] = z.Uint64()
	}
	return tr
}

// The parameters of the standard trace: the stores' hit-ratio targets are
// stated for it.
const (
	StandardSeed     = 1
	StandardS        = 1.01
	StandardKeys     = 100_000
	StandardOps      = 1_000_000
	StandardCapacity = 10_000
)

// Standard returns the standard trace: Zipf(StandardSeed, StandardS,
// StandardKeys, StandardOps), to be replayed cold against a cache of
// StandardCapacity entries.
func Standard() []uint64 { return Zipf(StandardSeed, StandardS, StandardKeys, StandardOps) }

// Replay plays tr against a cache: get(key) for each key of tr, and
// set(key) after each get that missed. It returns the share of gets that
// hit, in percent.
func Replay(tr []uint64, get func(key uint64) bool, set func(key uint64)) float64 {
	if len(tr) == 0 {
		return 0
	}
	hits := 0
	for _, k := range tr {
		if get(k) {
			hits++
		} else {
			set(k)
		}
	}
	return 100 * float64(hits) / float64(len(tr))
}
