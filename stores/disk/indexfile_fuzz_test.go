package disk

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"hash/crc32"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseIndexAcceptsOnlyWhatEncodeIndexWrites checks that parseIndex
// never panics, that the entries of an index it accepts are ones a store
// can hold (valid names, sizes that sum to an int64 at least 0), and that
// the index is exactly what encodeIndex writes for them. It parses b, and
// b followed by its checksum, which the fuzzer could hardly guess.
func FuzzParseIndexAcceptsOnlyWhatEncodeIndexWrites(f *testing.F) {
	for _, b := range seedIndexes() {
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(b[:indexHeader])
		f.Add(b[:len(b)-4]) // the fuzz function adds the checksum
		for _, i := range []int{5, 8, indexHeader, len(b) - 1} {
			flipped := bytes.Clone(b)
			flipped[i] ^= 1
			f.Add(flipped)
		}
	}
	// Bodies, without their checksum, of indexes Close never writes.
	nameA, nameB := fileName("a"), fileName("b")
	f.Add(rawIndex(1, &entry{name: nameA, size: 34, touched: 1}, &entry{name: nameA, size: 34, touched: 2}))
	f.Add(rawIndex(1, &entry{name: nameA, size: -1, touched: 1}))
	f.Add(rawIndex(2, &entry{name: nameA, size: 34, touched: 1}, &entry{name: nameB, size: 34, touched: 1}))
	f.Add(rawIndex(1, &entry{name: "", size: 33, touched: 1}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		requireIndexCanonical(t, b)
		requireIndexCanonical(t, binary.LittleEndian.AppendUint32(bytes.Clone(b), crc32.Checksum(b, castagnoli)))
	})
}

// requireIndexCanonical checks what parseIndex(b) returns.
func requireIndexCanonical(t *testing.T, b []byte) {
	t.Helper()
	m := parseIndex(b)
	if m == nil {
		return
	}
	var total int64
	for name, e := range m {
		require.Equal(t, name, e.name)
		require.True(t, validName(name), "%q", name)
		require.GreaterOrEqual(t, e.size, int64(0), name)
		require.LessOrEqual(t, e.size, math.MaxInt64-total, "the sizes sum to an int64")
		total += e.size
	}
	require.Equal(t, b, encodeIndex(byRecency(m)), "the index is canonical")
}

// FuzzEncodedIndexParsesToItsEntries checks that parseIndex gives back the
// entries encodeIndex wrote, in the same order of recency. spec is a list
// of entries, each a key length byte, the key, the size and the time it was
// touched, 8 bytes each.
func FuzzEncodedIndexParsesToItsEntries(f *testing.F) {
	f.Add([]byte{})
	f.Add(indexSpec(indexSpecEntry{"a", 33, 1}, indexSpecEntry{"b", 34, 2}))
	f.Add(indexSpec(indexSpecEntry{"a", 33, 5}, indexSpecEntry{"b", 34, 5}, indexSpecEntry{"c", 35, 4}))
	f.Add(indexSpec(indexSpecEntry{strings.Repeat("k", 100), 0, math.MinInt64}, indexSpecEntry{"b", math.MaxInt64, -1}))
	f.Add(indexSpec(indexSpecEntry{"a", 1, math.MaxInt64}, indexSpecEntry{"b", 2, math.MaxInt64}))
	f.Fuzz(func(t *testing.T, spec []byte) {
		in := parseIndexSpec(spec)
		m := parseIndex(encodeIndex(in))
		require.NotNil(t, m, "parseIndex accepts what encodeIndex writes")
		out := byRecency(m)
		require.Len(t, out, len(in))
		increasing := true
		for i := range in {
			require.Equal(t, in[i].name, out[i].name)
			require.Equal(t, in[i].size, out[i].size)
			if i > 0 {
				require.Greater(t, out[i].touched, out[i-1].touched, "recency strictly increases")
				increasing = increasing && in[i].touched > in[i-1].touched
			}
		}
		if increasing {
			for i := range in {
				require.Equal(t, in[i].touched, out[i].touched, "recency already increasing is kept")
			}
		}
	})
}

// seedIndexes returns valid index files.
func seedIndexes() [][]byte {
	var seeds [][]byte
	for _, spec := range [][]byte{
		nil,
		indexSpec(indexSpecEntry{"a", 33, 1}),
		indexSpec(indexSpecEntry{"a", 33, 1}, indexSpecEntry{strings.Repeat("k", 100), 1 << 40, 2}),
	} {
		seeds = append(seeds, encodeIndex(parseIndexSpec(spec)))
	}
	return seeds
}

// byRecency returns the entries of m, least recently used first.
func byRecency(m map[string]*entry) []*entry {
	list := make([]*entry, 0, len(m))
	for _, e := range m {
		list = append(list, e)
	}
	slices.SortFunc(list, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(a.touched, b.touched), strings.Compare(a.name, b.name))
	})
	return list
}

// An indexSpecEntry is an entry of a FuzzEncodedIndexParsesToItsEntries
// spec.
type indexSpecEntry struct {
	key           string
	size, touched int64
}

// indexSpec returns the spec of entries.
func indexSpec(entries ...indexSpecEntry) []byte {
	var b []byte
	for _, e := range entries {
		b = append(b, byte(len(e.key)))
		b = append(b, e.key...)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.size))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.touched))
	}
	return b
}

// parseIndexSpec returns the entries a store could hold that spec
// describes, least recently used first: the file names of its keys, each
// once, with sizes at least 0 that sum to an int64. Missing bytes at the
// end of spec are zeros.
func parseIndexSpec(spec []byte) []*entry {
	next := func(n int) []byte {
		b := make([]byte, n)
		spec = spec[copy(b, spec):]
		return b
	}
	var (
		list  []*entry
		seen  = map[string]bool{}
		total int64
	)
	for len(spec) > 0 {
		n := int(next(1)[0])
		name := fileName(string(next(n)))
		size := int64(binary.LittleEndian.Uint64(next(8)) & math.MaxInt64)
		touched := int64(binary.LittleEndian.Uint64(next(8)))
		if seen[name] || size > math.MaxInt64-total {
			continue
		}
		seen[name] = true
		total += size
		list = append(list, &entry{name: name, size: size, touched: touched})
	}
	return list
}
