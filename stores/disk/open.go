package disk

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/multilayer-cache/multilayer/stores"
)

// The directory's layout:
//
//	lock     the lock file (see the package doc)
//	index    the index, as Close left it (see indexfile.go)
//	00/..ff/ the entries' files, spread by a hash of their names, and the
//	         temporary files of the writes under way (.tmp-*), each in the
//	         subdirectory of the file it will replace, so that its rename
//	         stays in one directory
//
// Anything else at the top is left alone; anything else in the 00..ff
// subdirectories, temporary files included, is removed by Open.
const (
	lockName  = "lock"
	probeName = ".probe" // Open's test that it can write
)

// Open opens the store kept in dir, creating dir if need be, with a budget
// of maxBytes bytes for its files. It takes the directory's lock, removes
// the temporary files left by writes that did not finish, and rebuilds the
// index from the files: their sizes, and their modification times for
// recency. If they take more than maxBytes, it evicts the least recently
// used ones.
//
// Open returns an error wrapping stores.ErrInvalidSize if maxBytes is not
// positive, stores.ErrInvalidOption for an option out of range, ErrLocked
// if another Store holds dir, and the file system's error if dir cannot be
// created, read or written.
func Open(dir string, maxBytes int64, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case maxBytes <= 0:
		return nil, fmt.Errorf("disk: Open: budget %d: %w", maxBytes, stores.ErrInvalidSize)
	case o.TouchEvery < 0:
		return nil, fmt.Errorf("disk: Open: negative TouchEvery: %w", stores.ErrInvalidOption)
	case dir == "":
		return nil, fmt.Errorf("disk: Open: empty directory name: %w", stores.ErrInvalidOption)
	}
	if o.TouchEvery == 0 {
		o.TouchEvery = time.Minute
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("disk: Open: %w", err)
	}
	s := &Store{
		dir: abs, maxBytes: maxBytes,
		sync: o.Sync, touchEvery: int64(o.TouchEvery), clock: o.Clock,
	}
	if err := s.open(); err != nil {
		if s.lockFile != nil {
			_ = release(s.lockFile)
		}
		return nil, fmt.Errorf("disk: Open %s: %w", dir, err)
	}
	return s, nil
}

// open locks the directory, checks that it can write, and builds the index
// (removing temporary files).
func (s *Store) open() error {
	if err := os.MkdirAll(s.dir, 0o777); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(s.dir, lockName), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return err
	}
	s.lockFile = f
	if err := lock(f); err != nil {
		return err
	}
	// A directory we cannot write fails here, not at the first Set.
	probe := filepath.Join(s.dir, probeName)
	if err := os.Remove(probe); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := writeNew(probe, nil, false); err != nil {
		return err
	}
	if err := os.Remove(probe); err != nil {
		return err
	}
	known, err := s.takeIndex()
	if err != nil {
		return err
	}
	entries, err := s.scan(known)
	if err != nil {
		return err
	}
	s.idx.init(len(entries))
	slices.SortFunc(entries, func(a, b *entry) int { return cmp.Compare(a.touched, b.touched) })
	for _, e := range entries { // oldest first, so the newest ends up in front
		s.idx.add(e)
	}
	return s.evictLocked(s.idx.bytes-s.maxBytes, nil)
}

// scanWorkers is how many goroutines scan the subdirectories at once:
// after a crash, Open spends its time in one stat per file, and runs them
// in parallel.
const scanWorkers = 8

// scan returns the entries of the fan-out subdirectories, removing what
// does not belong there. It takes the size and recency of the files in
// known (the index file's entries; nil if there was none) from there, and
// stats the others. The goroutines it starts end before it returns.
func (s *Store) scan(known map[string]*entry) ([]*entry, error) {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		found [scanWorkers][]*entry
		errs  [scanWorkers]error
	)
	for w := range scanWorkers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < fanOut && errs[w] == nil; i = int(next.Add(1) - 1) {
				found[w], errs[w] = s.scanDir(i, known, found[w])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return slices.Concat(found[:]...), nil
}

// scanDir appends to entries those of subdirectory i.
func (s *Store) scanDir(i int, known map[string]*entry, entries []*entry) ([]*entry, error) {
	d, err := os.Open(filepath.Join(s.dir, subdirs[i]))
	if errors.Is(err, fs.ErrNotExist) {
		return entries, nil
	}
	if err != nil {
		return entries, err
	}
	list, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return entries, err
	}
	for _, de := range list {
		if e := s.scanOne(i, de, known); e != nil {
			entries = append(entries, e)
		}
	}
	return entries, nil
}

// scanOne returns the entry of de, in subdirectory i, or removes de if it
// is a file that is not an entry.
func (s *Store) scanOne(i int, de fs.DirEntry, known map[string]*entry) *entry {
	if de.IsDir() {
		return nil // not ours to remove
	}
	name := de.Name()
	if de.Type().IsRegular() && validName(name) && subdirOf(name) == i {
		if e := known[name]; e != nil {
			return e
		}
		if info, err := de.Info(); err == nil {
			return &entry{name: name, size: info.Size(), touched: info.ModTime().UnixNano()}
		}
	}
	_ = os.Remove(filepath.Join(s.dir, subdirs[i], name))
	return nil
}
