package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// Options configures a Store. The zero value means defaults.
type Options struct {
	// Sync makes every write fsync the new file before renaming it into
	// place, and its directory after, so that a value whose Set returned
	// survives a power loss; and Delete and Clear fsync the directories
	// they removed files from, so that a value they removed stays removed.
	// By default (false) a crash may lose the last writes, or leave files
	// that fail their checksum: those are misses and are removed when read.
	Sync bool
	// TouchEvery is how often, at most, a read of a file updates the file's
	// modification time, which is how recency survives a crash (a Close
	// keeps it in the index file). Default: one minute.
	TouchEvery time.Duration
	// Clock returns the time by which Get judges expiry and a read decides
	// to update a file's modification time (to that time). Default:
	// time.Now.
	Clock func() time.Time
}

// A Store keeps byte values in files in a directory, within a byte budget,
// evicting the least recently used files to stay within it. It implements
// pipeline.BatchStore[string, []byte], pipeline.Notifier[string] and
// pipeline.Meter, and is safe for concurrent use. See the package doc for
// its guarantees and limits.
type Store struct {
	dir        string // absolute
	maxBytes   int64
	sync       bool
	touchEvery int64 // nanoseconds
	clock      func() time.Time
	lockFile   *os.File

	seq    atomic.Uint64                                     // names temporary files
	notify atomic.Pointer[func(pipeline.StoreEvent[string])] // set by Notify

	mu     sync.Mutex // guards idx and closed, and orders renames and removals
	idx    index
	closed bool
}

var (
	_ pipeline.BatchStore[string, []byte] = (*Store)(nil)
	_ pipeline.Notifier[string]           = (*Store)(nil)
	_ pipeline.Meter                      = (*Store)(nil)
)

// Notify sets the function the store reports evictions (Kind
// pipeline.Evicted) and corrupt or unreadable files (Kind pipeline.Error,
// with an Err wrapping ErrCorrupt for a corrupt file) to, replacing the
// previous one; nil stops the reports. Events of Open itself (evictions to
// fit a smaller budget) happen before any Notify and are not reported. The
// function is called from the goroutine of the call that found the event,
// while the store holds its lock (see pipeline.Notifier).
func (s *Store) Notify(f func(pipeline.StoreEvent[string])) {
	if f == nil {
		s.notify.Store(nil)
		return
	}
	s.notify.Store(&f)
}

func (s *Store) report(kind pipeline.EventKind, key string, err error) {
	if f := s.notify.Load(); f != nil {
		(*f)(pipeline.StoreEvent[string]{Kind: kind, Key: key, Err: err})
	}
}

// Len returns the number of entries in the store.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.idx.m)
}

// Usage returns the number of entries, the bytes their files take (headers
// included, temporary files not) and the budget.
func (s *Store) Usage() pipeline.Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return pipeline.Usage{Entries: len(s.idx.m), Bytes: s.idx.bytes, MaxBytes: s.maxBytes}
}

// Delete removes key's file, if the store holds one. An error means the
// file could not be removed; the entry is then still held.
func (s *Store) Delete(_ context.Context, key string) error {
	name := fileName(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("disk: delete: %w", ErrClosed)
	}
	if e := s.idx.m[name]; e != nil {
		if err := s.removeLocked(e); err != nil {
			return err
		}
		return s.syncRemovals("delete", subdirOf(name))
	}
	return nil
}

// Clear removes every entry's file. Writes under way when it is called may
// be kept. An error means some files could not be removed; their entries
// are still held.
func (s *Store) Clear(_ context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("disk: clear: %w", ErrClosed)
	}
	var errs []error
	var removed [fanOut]bool
	for _, e := range s.idx.m {
		if err := s.removeLocked(e); err != nil && len(errs) < 10 {
			errs = append(errs, err)
		}
		removed[subdirOf(e.name)] = true
	}
	for i, r := range removed {
		if !r {
			continue
		}
		if err := s.syncRemovals("clear", i); err != nil && len(errs) < 10 {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// syncRemovals fsyncs the subdirectory i, if the store syncs, so that the
// files removed from it stay removed after a power loss: a value deleted
// (invalidated) must not come back.
func (s *Store) syncRemovals(op string, i int) error {
	if !s.sync {
		return nil
	}
	if err := syncDir(s.subdir(i)); err != nil {
		return fmt.Errorf("disk: %s: %w", op, err)
	}
	return nil
}

// Close writes the index to the directory, so that the next Open need not
// stat every file, and releases the directory's lock; the files stay, for
// the next Open. An error is for the index or the lock: the files are all
// there, and without an index the next Open stats them.
//
// Every call after Close returns an error wrapping ErrClosed, but Close
// itself, which returns nil when called again. The store starts no
// goroutine.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.writeIndex()
	s.idx.init(0)
	if cerr := release(s.lockFile); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("disk: close: %w", err)
	}
	return nil
}

// removeLocked removes e's file and e; a file already gone (or whose
// subdirectory is no longer one) is no error.
func (s *Store) removeLocked(e *entry) error {
	err := os.Remove(s.path(e.name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("disk: remove: %w", err)
	}
	s.idx.remove(e)
	return nil
}

// path returns the path of the file named name.
func (s *Store) path(name string) string {
	return s.subdirPath(name) + string(os.PathSeparator) + name
}
