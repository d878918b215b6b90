package disk

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseIndexRejectsNonZeroReservedBytes(t *testing.T) {
	t.Parallel()
	b := encodeIndex([]*entry{{name: fileName("a"), size: 34, touched: 1}})
	require.NotNil(t, parseIndex(b))
	for i := 5; i < 8; i++ {
		body := bytes.Clone(b[:len(b)-4])
		body[i] = '0'
		require.Nil(t, parseIndex(withIndexChecksum(body)), "byte %d", i)
	}
}

// withIndexChecksum returns body followed by its checksum, as the last 4
// bytes of an index file.
func withIndexChecksum(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, castagnoli))
}

func TestParseIndexRejectsEntriesAStoreCannotHold(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		entries []*entry
	}{
		{name: "empty name", entries: []*entry{{name: "", size: 33, touched: 1}}},
		{name: "name fileName does not make", entries: []*entry{{name: "x", size: 33, touched: 1}}},
		{name: "negative size", entries: []*entry{{name: fileName("a"), size: -1, touched: 1}}},
		{name: "sizes whose sum overflows", entries: []*entry{
			{name: fileName("a"), size: math.MaxInt64, touched: 1},
			{name: fileName("b"), size: 1, touched: 2},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := withIndexChecksum(rawIndex(uint64(len(tc.entries)), tc.entries...))
			require.Nil(t, parseIndex(b))
		})
	}
}

// rawIndex returns the bytes of an index file of the entries, least
// recently used first, as they are, and of count, without the checksum.
func rawIndex(count uint64, oldestFirst ...*entry) []byte {
	b := make([]byte, indexHeader)
	copy(b, indexMagic)
	b[4] = formatVersion
	binary.LittleEndian.PutUint64(b[8:], count)
	for _, e := range oldestFirst {
		b = append(b, byte(len(e.name)))
		b = append(b, e.name...)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.size))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.touched))
	}
	return b
}

func TestParseIndexRejectsANameListedTwice(t *testing.T) {
	t.Parallel()
	a, b := &entry{name: fileName("a"), size: 34, touched: 1}, &entry{name: fileName("a"), size: 34, touched: 2}
	for _, count := range []uint64{1, 2} {
		require.Nil(t, parseIndex(withIndexChecksum(rawIndex(count, a, b))), "count %d", count)
	}
}

func TestParseIndexRejectsRecencyThatDoesNotIncrease(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		first, second int64
	}{
		{name: "same time", first: 5, second: 5},
		{name: "earlier", first: 5, second: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := rawIndex(2,
				&entry{name: fileName("a"), size: 34, touched: tc.first},
				&entry{name: fileName("b"), size: 34, touched: tc.second})
			require.Nil(t, parseIndex(withIndexChecksum(b)))
		})
	}
}

func TestEncodeIndexKeepsRecencyIncreasingAtTheEndsOfTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		touched, want []int64
	}{
		{name: "first at the earliest time", touched: []int64{math.MinInt64, math.MinInt64}, want: []int64{math.MinInt64, math.MinInt64 + 1}},
		{name: "all at the latest time", touched: []int64{math.MaxInt64, math.MaxInt64, math.MaxInt64}, want: []int64{math.MaxInt64 - 2, math.MaxInt64 - 1, math.MaxInt64}},
		{name: "one at the latest time, then an earlier one", touched: []int64{math.MaxInt64, 5}, want: []int64{math.MaxInt64 - 1, math.MaxInt64}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var in []*entry
			for i, touched := range tc.touched {
				in = append(in, &entry{name: fileName(string(rune('a' + i))), size: 34, touched: touched})
			}
			m := parseIndex(encodeIndex(in))
			require.NotNil(t, m)
			var got []int64
			for _, e := range in {
				require.Contains(t, m, e.name)
				got = append(got, m[e.name].touched)
			}
			require.Equal(t, tc.want, got)
		})
	}
}
