package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The namespace generation.
//
// Invariant: s.gen holds the generation this Store read or set last, with
// the time it did; it only moves to a newer generation, except when Redis
// itself says the counter is lower (it was flushed: Reload, a Clear's
// INCR, or a read of it). At most one call at a time refreshes a
// generation that is older than s.refresh, the one that set s.genLoading;
// the others use the old one meanwhile. A call that refreshes reads the
// generation in the same pipeline as its own commands (so the refresh
// costs no round trip), made with the old prefix: if the generation moved,
// the call does its commands again with the new one.

// A generation is the namespace generation a Store read, with the prefix of
// its entries' keys.
type generation struct {
	n      int64
	prefix string    // "<ns>:<n>:"
	read   time.Time // when it was read or set
}

// A genRead is a call's use of the generation: the one it uses, and, if
// the call reads the generation along with its commands, that command.
type genRead struct {
	g     *generation
	check bool               // the call must read the generation along
	owned bool               // the call holds s.genLoading
	cmd   *goredis.StringCmd // the read, once added to the call's pipeline
}

// startGen returns the generation a call uses. A Store that never read its
// generation reads it first, in a round trip of its own; afterwards, a call
// reads it along with its commands when it is due for a refresh, or always
// if force is set (a Delete, which must reach the current generation).
func (s *Store) startGen(ctx context.Context, force bool) (genRead, error) {
	g := s.gen.Load()
	if g == nil {
		n, err := s.readGeneration(ctx)
		if err != nil {
			return genRead{}, err
		}
		return genRead{g: s.setGeneration(nil, n)}, nil
	}
	if s.now().Sub(g.read) >= s.refresh && s.genLoading.CompareAndSwap(false, true) {
		return genRead{g: g, check: true, owned: true}, nil
	}
	return genRead{g: g, check: force}, nil
}

// add adds the read of the generation to pipe, if the call must read it.
func (s *Store) add(ctx context.Context, r *genRead, pipe goredis.Pipeliner) {
	if r.check {
		r.cmd = pipe.Get(ctx, s.genKey)
	}
}

// finishGen takes the generation read along with a call's commands, once
// its pipeline ran, and returns the new generation if it moved from the
// one the call used, or nil. It releases s.genLoading if the call held it.
// An error means the generation could not be read.
func (s *Store) finishGen(r *genRead) (*generation, error) {
	if r.owned {
		defer s.genLoading.Store(false)
	}
	if !r.check {
		return nil, nil
	}
	n, err := parseGeneration(r.cmd)
	if err != nil {
		return nil, err
	}
	g := s.setGeneration(r.g, n)
	if g.n == r.g.n {
		return nil, nil
	}
	return g, nil
}

// readGeneration reads the generation in a round trip of its own.
func (s *Store) readGeneration(ctx context.Context) (int64, error) {
	return parseGeneration(s.client.Get(ctx, s.genKey))
}

// parseGeneration returns the generation that cmd read: 0 if the key does
// not exist (the namespace was never cleared, or Redis lost it).
func parseGeneration(cmd *goredis.StringCmd) (int64, error) {
	n, err := cmd.Int64()
	switch {
	case errors.Is(err, goredis.Nil):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("stores/redis: read generation: %w", err)
	}
	return n, nil
}

// setGeneration makes n, read from Redis, the current generation, unless
// the generation moved past n since old was current (a Clear here), and
// returns the current one. n may be lower than old's: the counter was
// flushed.
func (s *Store) setGeneration(old *generation, n int64) *generation {
	g := s.newGeneration(n)
	for {
		if s.gen.CompareAndSwap(old, g) {
			return g
		}
		old = s.gen.Load()
		if old != nil && old.n > n {
			return old
		}
	}
}

// newGeneration returns generation n, read now.
func (s *Store) newGeneration(n int64) *generation {
	return &generation{n: n, prefix: s.ns + ":" + strconv.FormatInt(n, 10) + ":", read: s.now()}
}

// Reload reads the namespace generation from Redis now, so that a Clear by
// another Store of the namespace is seen at once rather than within
// Options.GenerationRefresh: an invalidation bus that learns of a remote
// Clear calls it. It returns Redis's error, if any.
func (s *Store) Reload(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	old := s.gen.Load()
	n, err := s.readGeneration(cctx)
	s.record(ctx, err)
	if err != nil {
		return fmt.Errorf("stores/redis: reload: %w", err)
	}
	s.setGeneration(old, n) // not over a Clear made here while it read
	return nil
}
