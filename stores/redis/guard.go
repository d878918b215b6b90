package redis

import (
	"context"
	"math"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// The write guard: a fill that raced an invalidation is not written.
//
// Invariant: while a tombstone lives in a key (Options.Tombstone after the
// Delete that left it), nothing but another Delete replaces it. Every write
// (SetEntry, Set, SetBatch) is the script below, which refuses to replace a
// tombstone, in one command on one key; a lease is taken only with SET NX,
// on a key that holds nothing (see lease.go). So a value read from the
// source before a Delete, and written after it, finds the tombstone and is
// dropped, as long as the write comes within the tombstone's life; any
// write that does get through either began after the tombstone ended, or
// replaced a value or a lease that was itself written after no tombstone
// was left, so no invalidation lies between its read and its write within
// that life.
//
// A write does not replace a tombstone even when its fill began after the
// Delete: the Store cannot tell the two apart (a write carries no trace of
// the read that preceded it, and several reads of one key may be under way
// in one process), so after an invalidation the key stays out of Redis for
// the tombstone's life, and reads in that time go to the source.

// writeSource is the write script: KEYS[1] is the key, ARGV[1] the
// envelope, ARGV[2] its Redis TTL in milliseconds, or "0" to delete the key
// (an entry that expired already). It returns 1, or 0 if the key holds a
// tombstone, which it leaves. STRLEN first: a value of any size is not
// copied into the script to be compared.
const writeSource = `local k = KEYS[1]
if redis.call('STRLEN', k) == 3 and redis.call('GET', k) == '\183\1\2' then return 0 end
if ARGV[2] == '0' then redis.call('DEL', k) return 1 end
redis.call('SET', k, ARGV[1], 'PX', ARGV[2])
return 1`

// writeScript runs writeSource with EVALSHA, or EVAL: see Store.command.
var writeScript = goredis.NewScript(writeSource)

// command adds to c the command that stores e under k in the generation of
// prefix, or leaves a tombstone there if e is nil. A write is the write
// script, by its hash if sha is set (EVALSHA), or whole (EVAL), which also
// loads it into the server's script cache: a Store sends it whole until one
// such call succeeded, and again after a NOSCRIPT error (a restarted or
// flushed server, another node of a Cluster), so that a write stays one
// command in the usual case.
func (s *Store) command(ctx context.Context, c goredis.Cmdable, prefix, k string, e *pipeline.Entry[[]byte], sha bool) goredis.Cmder {
	rk := redisKey(prefix, k)
	if e == nil {
		return c.Set(ctx, rk, tombstone, s.tomb)
	}
	var px int64
	if ttl, ok := s.redisTTL(e.Expires); ok {
		px = ttl.Milliseconds()
	}
	var env []byte
	if px > 0 {
		env = envelope(*e)
	}
	if sha {
		return writeScript.EvalSha(ctx, c, []string{rk}, env, px)
	}
	return writeScript.Eval(ctx, c, []string{rk}, env, px)
}

// ran notes how cmd, made by command with sha, went, and reports whether
// it must run again whole: the server did not know the script's hash.
func (s *Store) ran(cmd goredis.Cmder, sha bool) (again bool) {
	if _, script := cmd.(*goredis.Cmd); !script {
		return false // a tombstone's SET
	}
	err := cmd.Err()
	switch {
	case err == nil && !sha:
		s.loaded.Store(true)
	case sha && goredis.HasErrorPrefix(err, "NOSCRIPT"):
		s.loaded.Store(false)
		return true
	}
	return false
}

// exec runs the command that stores e under k (or leaves a tombstone if e
// is nil) in the generation of prefix, and once more whole if the server
// did not know the script.
func (s *Store) exec(ctx context.Context, prefix, k string, e *pipeline.Entry[[]byte]) error {
	sha := s.loaded.Load()
	cmd := s.command(ctx, s.client, prefix, k, e, sha)
	if s.ran(cmd, sha) {
		cmd = s.command(ctx, s.client, prefix, k, e, false)
		s.ran(cmd, false)
	}
	return cmd.Err()
}

// envelope returns e in a new envelope.
func envelope(e pipeline.Entry[[]byte]) []byte {
	return AppendEnvelope(make([]byte, 0, headerLen+expiresLen+len(e.Value)), e)
}

// redisTTL returns the Redis TTL of an entry that expires at exp, rounded
// up to a millisecond, or ok == false if it should not be stored.
func (s *Store) redisTTL(exp time.Time) (ttl time.Duration, ok bool) {
	if exp.IsZero() {
		return s.ttl, true
	}
	d := exp.Add(s.grace).Sub(s.now())
	if d <= 0 {
		return 0, false
	}
	if d > math.MaxInt64-time.Millisecond { // Sub saturated: no room to round up
		return d.Truncate(time.Millisecond), true
	}
	return (d + time.Millisecond - 1).Truncate(time.Millisecond), true
}
