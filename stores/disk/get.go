package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// errNotFound is the Err of a GetBatch result for a key the store does not
// hold.
var errNotFound = fmt.Errorf("disk: %w", pipeline.ErrNotFound)

// Get returns the value stored under key, unless the store does not hold
// it or its non-zero expiry has passed (by Options.Clock). A file that
// cannot be read is a miss and is reported, a corrupt one is also removed
// (see Notify); the error is only for a closed store. The value is the
// caller's to keep.
func (s *Store) Get(_ context.Context, key string) ([]byte, bool, error) {
	now := s.clock()
	e, ok, err := s.get(key, now)
	if !ok || (!e.Expires.IsZero() && !now.Before(e.Expires)) {
		return nil, false, err
	}
	return e.Value, true, nil
}

// GetEntry returns the entry stored under key as it was set, expired or
// not, with its Expires in the Local location (see Get for misses and
// errors).
func (s *Store) GetEntry(_ context.Context, key string) (pipeline.Entry[[]byte], bool, error) {
	return s.get(key, s.clock())
}

// get is GetEntry at the time now, which a read may set as the file's
// modification time.
func (s *Store) get(key string, t time.Time) (pipeline.Entry[[]byte], bool, error) {
	name := fileName(key)
	now := t.UnixNano()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return pipeline.Entry[[]byte]{}, false, fmt.Errorf("disk: get: %w", ErrClosed)
	}
	e := s.idx.m[name]
	if e == nil {
		s.mu.Unlock()
		return pipeline.Entry[[]byte]{}, false, nil
	}
	s.idx.use(e)
	touch := now-e.touched >= s.touchEvery
	if touch {
		e.touched = now
	}
	s.mu.Unlock()

	// The file is read outside the lock: a rename replaces it whole, and a
	// removal leaves an open file readable.
	p := s.path(name)
	b, err := readFile(p)
	if err != nil {
		s.readFailed(e, key, err)
		return pipeline.Entry[[]byte]{}, false, nil
	}
	v, exp, err := decode(key, b)
	if err != nil {
		s.dropCorrupt(e, key, err)
		return pipeline.Entry[[]byte]{}, false, nil
	}
	if touch {
		_ = os.Chtimes(p, t, t) // recency is a hint: a failure costs nothing else
	}
	return pipeline.Entry[[]byte]{Value: v, Expires: exp}, true, nil
}

// readFailed handles a file of e that could not be read: one that is gone
// leaves the index, any other failure is reported.
func (s *Store) readFailed(e *entry, key string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !errors.Is(err, fs.ErrNotExist) {
		s.report(pipeline.Error, key, fmt.Errorf("disk: read: %w", err))
		return
	}
	if s.idx.m[e.name] == e { // not replaced since it was read
		s.idx.remove(e)
	}
}

// dropCorrupt removes the corrupt file of e, unless a write replaced it
// since it was read, and reports it.
func (s *Store) dropCorrupt(e *entry, key string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idx.m[e.name] == e {
		if rerr := s.removeLocked(e); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	s.report(pipeline.Error, key, fmt.Errorf("disk: %s: %w", e.name, err))
}

// GetBatch writes to out[i] the entry of keys[i], as GetEntry does, or
// an error wrapping pipeline.ErrNotFound for a key the store does not
// hold. Once ctx is done, the keys not yet read get ctx.Err(). It panics
// if len(out) != len(keys).
func (s *Store) GetBatch(ctx context.Context, keys []string, out []pipeline.Result[[]byte]) {
	checkBatch("GetBatch", len(keys), len(out), "results")
	for i, k := range keys {
		if err := ctx.Err(); err != nil {
			out[i] = pipeline.Result[[]byte]{Err: err}
			continue
		}
		e, ok, err := s.get(k, s.clock())
		switch {
		case err != nil:
			out[i] = pipeline.Result[[]byte]{Err: err}
		case !ok:
			out[i] = pipeline.Result[[]byte]{Err: errNotFound}
		default:
			out[i] = pipeline.Result[[]byte]{Entry: e}
		}
	}
}

// checkBatch panics unless a batch method got as many results or entries
// (what) as keys, before it reads or writes any.
func checkBatch(method string, keys, n int, what string) {
	if n != keys {
		panic(fmt.Sprintf("disk: %s: %d %s for %d keys", method, n, what, keys))
	}
}
