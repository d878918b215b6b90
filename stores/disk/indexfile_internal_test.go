package disk

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
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
