package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
)

// The index file. Close writes the index, the size and recency of every
// file, to dir/index, so that the next Open need not stat every file. Its
// format, version 1, little endian:
//
//	magic "mlci", version (1 byte), 3 zero bytes, entry count (8 bytes)
//	per entry, least recently used first: name length (1 byte), name,
//	    size (8 bytes), recency (8 bytes, Unix nanoseconds, increasing)
//	CRC-32C of all the bytes before it (4 bytes)
//
// Invariant: the index file describes the directory as Close left it, or
// does not exist. Open removes it (and fsyncs the directory) before any
// write can change the directory, so a crash after that leaves no index
// file, and the Open after it stats every file. Even so, Open checks the
// index against the directory's listing: it stats the files the index does
// not know, and drops the entries whose files are gone.
const (
	indexName    = "index"
	indexTmpName = ".index.tmp"
	indexMagic   = "mlci"
	indexHeader  = 16
)

// writeIndex writes the index file of the entries.
func (s *Store) writeIndex() error {
	oldestFirst := make([]*entry, 0, len(s.idx.m))
	for e := s.idx.root.prev; e != &s.idx.root; e = e.prev {
		oldestFirst = append(oldestFirst, e)
	}
	b := encodeIndex(oldestFirst)
	tmp := filepath.Join(s.dir, indexTmpName)
	_ = os.Remove(tmp)
	if err := writeNew(tmp, b, s.sync); err != nil {
		return err
	}
	if err := rename(tmp, filepath.Join(s.dir, indexName)); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if s.sync {
		return syncDir(s.dir)
	}
	return nil
}

// encodeIndex returns the index file of the entries, least recently used
// first.
func encodeIndex(oldestFirst []*entry) []byte {
	b := make([]byte, indexHeader, indexHeader+len(oldestFirst)*48+4)
	copy(b, indexMagic)
	b[4] = formatVersion
	binary.LittleEndian.PutUint64(b[8:], uint64(len(oldestFirst)))
	// Recency strictly increases from the oldest entry to the newest, so
	// that Open, which sorts by it, restores the exact order: an entry
	// touched no later than the one before it moves a nanosecond after it,
	// and one touched so late that the entries after it would pass the
	// largest int64 moves early enough for them to fit.
	var last int64
	for i, e := range oldestFirst {
		t := min(e.touched, math.MaxInt64-int64(len(oldestFirst)-1-i))
		if i > 0 {
			t = max(t, last+1)
		}
		last = t
		b = append(b, byte(len(e.name)))
		b = append(b, e.name...)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.size))
		b = binary.LittleEndian.AppendUint64(b, uint64(last))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// takeIndex reads and removes the index file. It returns nil if there is
// none, or if it is damaged.
func (s *Store) takeIndex() (map[string]*entry, error) {
	_ = os.Remove(filepath.Join(s.dir, indexTmpName))
	p := filepath.Join(s.dir, indexName)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err == nil {
		err = os.Remove(p)
	}
	if err == nil {
		err = syncDir(s.dir) // the index must not come back after a crash
	}
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	return parseIndex(b), nil
}

// parseIndex returns the entries of an index file, or nil if it is damaged.
func parseIndex(b []byte) map[string]*entry {
	if len(b) < indexHeader+4 || string(b[:4]) != indexMagic || b[4] != formatVersion || b[5]|b[6]|b[7] != 0 {
		return nil
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil
	}
	n := binary.LittleEndian.Uint64(body[8:])
	if n > uint64(len(body))/17 {
		return nil
	}
	m := make(map[string]*entry, n)
	var total, last int64
	for rest := body[indexHeader:]; len(rest) > 0; {
		l := int(rest[0])
		if len(rest) < 1+l+16 {
			return nil
		}
		e := &entry{
			name:    string(rest[1 : 1+l]),
			size:    int64(binary.LittleEndian.Uint64(rest[1+l:])),
			touched: int64(binary.LittleEndian.Uint64(rest[1+l+8:])),
		}
		// Only entries a store can hold: a name fileName makes, and a size
		// the budget can count, at least 0 and within an int64 in all.
		if !validName(e.name) || e.size < 0 || e.size > math.MaxInt64-total {
			return nil
		}
		if m[e.name] != nil { // Close writes each entry once
			return nil
		}
		// Recency strictly increases, or Open cannot restore the order.
		if len(m) > 0 && e.touched <= last {
			return nil
		}
		total, last = total+e.size, e.touched
		m[e.name] = e
		rest = rest[1+l+16:]
	}
	if uint64(len(m)) != n {
		return nil
	}
	return m
}
