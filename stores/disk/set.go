package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// Set stores value under key with an unknown lifetime; see SetEntry.
func (s *Store) Set(ctx context.Context, key string, value []byte) error {
	return s.SetEntry(ctx, key, pipeline.Entry[[]byte]{Value: value})
}

// SetEntry stores e under key: it writes a temporary file (and fsyncs it
// with Options.Sync), evicts the least recently used files until the new
// one fits the budget, and renames it into place, so a reader sees the old
// value or the new one, never a part. When SetEntry returns, the files of
// the store take at most the budget. A value whose file would be larger
// than the whole budget is an error wrapping ErrTooLarge. On any error the
// key is left absent, not holding its old value.
func (s *Store) SetEntry(_ context.Context, key string, e pipeline.Entry[[]byte]) error {
	// A closed store no longer owns its directory: write nothing in it.
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("disk: set: %w", ErrClosed)
	}
	name := fileName(key)
	buf := bufs.Get().(*[]byte)
	b := encode(*buf, key, e.Value, e.Expires)
	defer putBuf(buf, b)
	if int64(len(b)) > s.maxBytes {
		return s.failSet(name, fmt.Errorf("disk: set: %d bytes: %w", len(b), ErrTooLarge))
	}
	tmp, err := s.writeTemp(name, b)
	if err != nil {
		return s.failSet(name, err)
	}
	if err := s.commit(key, name, tmp, int64(len(b))); err != nil {
		_ = os.Remove(tmp)
		return s.failSet(name, err)
	}
	return nil
}

// bufs holds the buffers that Set encodes files in, so that a Set of a
// value of up to maxPooled bytes allocates none: a fast path for the Set
// target (at most 1.3 times a plain write and rename), whose baseline
// writes the caller's slice as it is.
var bufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooled is the largest buffer kept in bufs.
const maxPooled = 64 << 10

// putBuf puts b, which encode made in *buf's memory or in new memory, back
// in bufs, unless it is too large.
func putBuf(buf *[]byte, b []byte) {
	if cap(b) <= maxPooled {
		*buf = b[:0]
		bufs.Put(buf)
	}
}

// failSet drops the old entry of name, if any, and returns err.
func (s *Store) failSet(name string, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.idx.m[name]; e != nil && !s.closed {
		err = errors.Join(err, s.removeLocked(e))
	}
	return err
}

// tmpPrefix starts the names of temporary files, which no entry's name
// does.
const tmpPrefix = ".tmp-"

// writeTemp writes b to a new temporary file in the subdirectory of name,
// making the subdirectory if need be, and returns its path.
func (s *Store) writeTemp(name string, b []byte) (string, error) {
	p := s.subdirPath(name) + string(os.PathSeparator) + tmpPrefix + strconv.FormatUint(s.seq.Add(1), 36)
	err := writeNew(p, b, s.sync)
	if errors.Is(err, fs.ErrNotExist) {
		if err = s.mkdir(s.subdirPath(name)); err == nil {
			err = writeNew(p, b, s.sync)
		}
	}
	if err != nil {
		_ = os.Remove(p)
		return "", fmt.Errorf("disk: set: %w", err)
	}
	return p, nil
}

// mkdir makes the subdirectory dir if it does not exist; with
// Options.Sync it fsyncs the store's directory after making it, so that
// the files synced into it do not vanish with it after a power loss.
func (s *Store) mkdir(dir string) error {
	err := os.Mkdir(dir, 0o777)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil
	case err == nil && s.sync:
		return syncDir(s.dir)
	}
	return err
}

// commit makes room for a file of size bytes, then renames tmp to name's
// path and indexes it. Renames and removals happen under s.mu, so that the
// index always says which files the directory holds.
func (s *Store) commit(key, name, tmp string, size int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("disk: set: %w", ErrClosed)
	}
	old := s.idx.m[name]
	var oldSize int64
	if old != nil {
		oldSize = old.size
	}
	if err := s.evictLocked(s.idx.bytes-oldSize+size-s.maxBytes, old); err != nil {
		return err
	}
	if err := s.renameLocked(tmp, name); err != nil {
		return err
	}
	if old != nil {
		s.idx.remove(old)
	}
	e := &entry{name: name, size: size, touched: s.clock().UnixNano()}
	if name[0] == 'h' { // a long key, hashed: keep it, for the events
		e.key, e.keyKnown = strings.Clone(key), true
	}
	s.idx.add(e)
	return nil
}

// evictLocked removes the least recently used entries other than keep
// until need bytes are free, and reports them. A file it cannot remove is
// reported as an Error and made the most recently used, so that the next
// is evicted instead; only when every entry failed does it return an
// error.
func (s *Store) evictLocked(need int64, keep *entry) error {
	var stuck int // files that could not be removed, passed over
	for need > 0 {
		e := s.idx.oldest(keep)
		if e == nil {
			return fmt.Errorf("disk: set: nothing left to evict: %w", ErrTooLarge)
		}
		var key string
		notify := s.notify.Load() != nil
		if notify {
			key = s.keyOf(e) // may read the file: only for someone who listens
		}
		if err := s.removeLocked(e); err != nil {
			// One file that cannot be removed must not stop every write:
			// report it, make it the most recent, and evict the next one,
			// unless every entry has failed.
			err = fmt.Errorf("disk: evict: %w", err)
			if stuck++; stuck >= len(s.idx.m) {
				return fmt.Errorf("%w (%d files tried, none removed)", err, stuck)
			}
			s.idx.use(e)
			if notify {
				s.report(pipeline.Error, key, err)
			}
			continue
		}
		need -= e.size
		if notify {
			s.report(pipeline.Evicted, key, nil)
		}
	}
	return nil
}

// renameLocked renames tmp to name's path, in the same directory, and with
// Options.Sync fsyncs the directory.
func (s *Store) renameLocked(tmp, name string) error {
	if err := rename(tmp, s.path(name)); err != nil {
		return fmt.Errorf("disk: set: %w", err)
	}
	if s.sync {
		if err := syncDir(s.subdirPath(name)); err != nil {
			_ = os.Remove(s.path(name)) // the Set fails: the key must be left absent, not on disk unindexed
			return fmt.Errorf("disk: set: %w", err)
		}
	}
	return nil
}

// subdirPath returns the path of the subdirectory of the file named name.
func (s *Store) subdirPath(name string) string { return s.subdir(subdirOf(name)) }

// subdir returns the path of the subdirectory i.
func (s *Store) subdir(i int) string { return s.dir + string(os.PathSeparator) + subdirs[i] }

// syncDir fsyncs the directory dir, so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// keyOf returns e's key: read back from its name if the key is short;
// if not, kept in e if this store wrote it, and read from its file if not
// (or "" if the file cannot tell).
func (s *Store) keyOf(e *entry) string {
	if e.keyKnown {
		return e.key
	}
	if k, ok := keyInName(e.name); ok {
		return k
	}
	f, err := os.Open(s.path(e.name))
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, min(e.size, headerSize+1<<16))
	n, _ := f.ReadAt(b, 0)
	k, _ := keyOfFile(b[:n])
	return k
}

// SetBatch stores entries[i] under keys[i], as SetEntry does. It returns
// the errors of the keys that failed, joined; once ctx is done, the keys
// not yet written are not written and ctx.Err() is among them. It panics
// if len(entries) != len(keys), before it writes any.
func (s *Store) SetBatch(ctx context.Context, keys []string, entries []pipeline.Entry[[]byte]) error {
	checkBatch("SetBatch", len(keys), len(entries), "entries")
	var errs []error
	for i, k := range keys {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if err := s.SetEntry(ctx, k, entries[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
