package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// Defaults of Options.
const (
	DefaultTimeout           = 50 * time.Millisecond
	DefaultTTL               = time.Hour
	DefaultFailureThreshold  = 5
	DefaultOpenFor           = time.Second
	DefaultGenerationRefresh = time.Second
	// DefaultTombstone covers a fill whose write comes up to 5s after an
	// invalidation, a hundred times a usual source call, while a key stays
	// out of Redis only that long after each invalidation (see the package
	// documentation, "The write guard").
	DefaultTombstone = 5 * time.Second
)

// Options configures a Store. The zero value, or a nil *Options, means the
// defaults; New never writes into the caller's Options.
type Options struct {
	// Timeout bounds every call to Redis: each method of the Store runs its
	// Redis commands (one round trip; two on the Store's first use, when it
	// reads the generation, when the generation moved, and when a write
	// finds the server without the write script) under a context with this
	// deadline, and the caller's if that is earlier. With Options.Lease, the
	// SET NX of a lease and each read of a wait for one have a deadline of
	// their own. Default: DefaultTimeout (50ms). The client must honour
	// context deadlines (see ClientOptions).
	Timeout time.Duration
	// TTL is the Redis-side lifetime of an entry stored with an unknown
	// lifetime (a zero Expires). Every entry gets a Redis TTL, so that the
	// entries of a cleared generation leave Redis on their own (see Clear).
	// Default: DefaultTTL (1h).
	TTL time.Duration
	// Grace keeps an entry in Redis this long after its Expires, so that a
	// cache layer can still read it and serve it stale if the layer below
	// fails (stale-if-error). Default: 0, Redis drops an entry when it
	// expires.
	Grace time.Duration
	// FailureThreshold is how many calls in a row must fail (an error or a
	// timeout) to open the circuit breaker. Default: DefaultFailureThreshold
	// (5).
	FailureThreshold int
	// OpenFor is how long the breaker stays open before one call probes the
	// server again. Default: DefaultOpenFor (1s).
	OpenFor time.Duration
	// GenerationRefresh is how long the Store uses the namespace generation
	// it read last before reading it again, in the pipeline of the call that
	// finds it due: a Clear by another Store of the same namespace (in this
	// process or another) is seen within this time, or at once after
	// Reload. Delete does not wait: it always reads the generation along.
	// Default: DefaultGenerationRefresh (1s).
	GenerationRefresh time.Duration
	// Tombstone is how long the tombstone a Delete leaves in the key lasts
	// in Redis: while it does, the key reads as missing and no write but
	// another Delete replaces it, so that a fill that read the source
	// before the Delete cannot write its value after it (see the package
	// documentation, "The write guard"). A fill whose write comes later
	// than this after the Delete is not stopped; the cost of a longer one
	// is that the key stays out of Redis that long after each
	// invalidation. Default: DefaultTombstone (5s).
	Tombstone time.Duration
	// Lease turns on the lease, and is its lifetime in Redis: a Get that
	// finds the key missing takes a lease in it (SET NX PX) and returns the
	// miss, and a Get that finds another's lease waits for the value
	// instead of loading it too (see the package documentation, "The
	// lease"). Set it above the source's usual load time. Default 0: off.
	Lease time.Duration
	// LeaseWait bounds how long a Get waits for the value of another's
	// lease before it returns a miss (and its caller loads on its own).
	// Default: Lease.
	LeaseWait time.Duration
	// Clock returns the current time, for the breaker, the generation
	// refresh, the Redis TTL of an entry and the freshness check of Get. It
	// must be safe for concurrent use. Default: time.Now.
	Clock func() time.Time
}

// A Store keeps byte values in Redis under a namespace, for a cache layer
// (pipeline.Cache). It is a pipeline.BatchStore[string, []byte] and a
// pipeline.Notifier[string], and has Clear and Reload; it is safe for
// concurrent use. Wrap it in stores.Encoded to keep typed values. See the
// package documentation for its keys, its envelope and its failure rules.
type Store struct {
	client  goredis.UniversalClient
	ns      string
	genKey  string // "<ns>:g"
	timeout time.Duration
	ttl     time.Duration
	grace   time.Duration
	refresh time.Duration
	tomb    time.Duration // Options.Tombstone
	lease   time.Duration // Options.Lease; 0: off
	wait    time.Duration // Options.LeaseWait
	now     func() time.Time
	breaker breaker
	loaded  atomic.Bool // the write script is in the server's cache, as far as the Store knows; see guard.go

	gen        atomic.Pointer[generation] // nil until first read; see generation.go
	genLoading atomic.Bool                // a call refreshes the generation
	notify     atomic.Pointer[func(pipeline.StoreEvent[string])]
	waits      waits // for leases; see lease.go
	held       held  // leases taken; see lease.go
}

var (
	_ pipeline.BatchStore[string, []byte] = (*Store)(nil)
	_ pipeline.Notifier[string]           = (*Store)(nil)
)

// New returns a Store that keeps its entries in Redis through client, under
// namespace. The namespace is 1 to 64 bytes, each an ASCII letter or digit
// or one of "-._~/"; Stores of one namespace on one server share their
// entries, and stores of different namespaces never see each other's. opts
// may be nil.
//
// New makes no Redis call. It returns an error wrapping ErrInvalidOption for
// a nil client, a bad namespace, a negative setting, a TTL, Tombstone or
// Lease under a millisecond (Redis's resolution), or a *redis.Client,
// *redis.ClusterClient or *redis.Ring whose options do not set
// ContextTimeoutEnabled: such a client ignores the Store's deadlines and can
// hold a read for as long as its own timeouts and retries allow (see
// ClientOptions). Closing the client is the caller's business.
func New(client goredis.UniversalClient, namespace string, opts *Options) (*Store, error) {
	if nilClient(client) {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOption)
	}
	if !validNamespace(namespace) {
		return nil, fmt.Errorf("%w: namespace %q: want 1 to %d bytes of [A-Za-z0-9-._~/]", ErrInvalidOption, namespace, maxNamespace)
	}
	if !honoursDeadlines(client) {
		return nil, fmt.Errorf("%w: the client ignores context deadlines: set ContextTimeoutEnabled (see ClientOptions)", ErrInvalidOption)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout < 0 || o.TTL < 0 || o.Grace < 0 || o.FailureThreshold < 0 || o.OpenFor < 0 || o.GenerationRefresh < 0 ||
		o.Tombstone < 0 || o.Lease < 0 || o.LeaseWait < 0 {
		return nil, fmt.Errorf("%w: negative setting in %+v", ErrInvalidOption, o)
	}
	for _, d := range []time.Duration{o.TTL, o.Tombstone, o.Lease} {
		if d > 0 && d < time.Millisecond { // Redis counts them in milliseconds
			return nil, fmt.Errorf("%w: TTL, Tombstone and Lease must be 0 or at least 1ms, got %v", ErrInvalidOption, d)
		}
	}
	s := &Store{
		client:  client,
		ns:      namespace,
		genKey:  namespace + ":g",
		timeout: cmp.Or(o.Timeout, DefaultTimeout),
		ttl:     cmp.Or(o.TTL, DefaultTTL),
		grace:   o.Grace,
		refresh: cmp.Or(o.GenerationRefresh, DefaultGenerationRefresh),
		tomb:    cmp.Or(o.Tombstone, DefaultTombstone),
		lease:   o.Lease,
		wait:    cmp.Or(o.LeaseWait, o.Lease),
		now:     o.Clock,
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.breaker = breaker{threshold: cmp.Or(o.FailureThreshold, DefaultFailureThreshold), openFor: cmp.Or(o.OpenFor, DefaultOpenFor), now: s.now}
	return s, nil
}

// nilClient reports whether client is nil, or a nil pointer of a client
// type of go-redis (which would panic at the first call).
func nilClient(client goredis.UniversalClient) bool {
	switch c := client.(type) {
	case nil:
		return true
	case *goredis.Client:
		return c == nil
	case *goredis.ClusterClient:
		return c == nil
	case *goredis.Ring:
		return c == nil
	}
	return false
}

// honoursDeadlines reports whether client honours context deadlines, as far
// as its options tell; a client of a type New does not know is trusted.
func honoursDeadlines(client goredis.UniversalClient) bool {
	switch c := client.(type) {
	case *goredis.Client:
		return c.Options().ContextTimeoutEnabled
	case *goredis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *goredis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}

// Notify sets the function the Store reports to: a corrupt envelope it
// found and deleted (Kind pipeline.Error, with the key and an error
// wrapping ErrCorrupt), and its breaker opening (pipeline.BreakerOpened,
// with the error of the call that opened it) and closing
// (pipeline.BreakerClosed). It implements pipeline.Notifier.
func (s *Store) Notify(f func(pipeline.StoreEvent[string])) {
	if f == nil {
		s.notify.Store(nil)
		return
	}
	s.notify.Store(&f)
}

// emit reports ev, if anyone listens.
func (s *Store) emit(ev pipeline.StoreEvent[string]) {
	if f := s.notify.Load(); f != nil {
		(*f)(ev)
	}
}

// Breaker returns the state of the Store's circuit breaker.
func (s *Store) Breaker() BreakerState { return BreakerState(s.breaker.state.Load()) }

// record tells the breaker how a call made for a caller's ctx ended (under
// a deadline of the Store's own), and reports a change of its state. An
// error after ctx itself ended is the caller's doing, not the server's.
func (s *Store) record(ctx context.Context, err error) {
	o := succeeded
	switch {
	case err == nil || errors.Is(err, goredis.Nil):
	case ctx.Err() != nil:
		o = neutral // the caller gave up or was cancelled: not the server's fault
	default:
		o = failed
	}
	to, changed := s.breaker.done(o)
	if !changed {
		return
	}
	switch to {
	case Open:
		s.emit(pipeline.StoreEvent[string]{Kind: pipeline.BreakerOpened, Err: err})
	case Closed:
		s.emit(pipeline.StoreEvent[string]{Kind: pipeline.BreakerClosed})
	}
}

// errOpen is the error of a call the breaker refused.
func errOpen(op string) error { return fmt.Errorf("stores/redis: %s: %w", op, ErrBreakerOpen) }

// Get returns the value of key, if Redis holds it and its expiry, if any,
// has not passed by Options.Clock. It is GetEntry without the expiry.
func (s *Store) Get(ctx context.Context, k string) ([]byte, bool, error) {
	e, ok, err := s.GetEntry(ctx, k)
	if !ok || (!e.Expires.IsZero() && !s.now().Before(e.Expires)) {
		return nil, false, err
	}
	return e.Value, true, nil
}

// GetEntry returns the entry of key as it was set, expired or not, with one
// GET (in the round trip of which, once per Options.GenerationRefresh, the
// generation is read too). A missing key is ok == false with a nil error,
// and so is a key that holds a tombstone (see Delete). An envelope that
// does not decode is reported as missing, deleted and reported through
// Notify. Any other trouble (an error, a timeout after Options.Timeout, an
// open breaker) is returned as an error, which a cache layer treats as a
// miss.
//
// With Options.Lease set, a GetEntry that finds the key missing takes a
// lease in it (one more command) and returns the miss, for its caller to
// load the value and set it; one that finds a lease waits for the value,
// for at most Options.LeaseWait, and returns it, or the miss once the wait
// is over (see the package documentation). Its ctx ends the wait, with
// ctx's error.
func (s *Store) GetEntry(ctx context.Context, k string) (pipeline.Entry[[]byte], bool, error) {
	if !s.breaker.allow() {
		return pipeline.Entry[[]byte]{}, false, errOpen("get")
	}
	e, kd, err := s.read(ctx, k)
	switch {
	case err != nil:
		return pipeline.Entry[[]byte]{}, false, err
	case kd == valueKind:
		return e, true, nil
	case s.lease == 0 || kd == tombstoneKind:
		return pipeline.Entry[[]byte]{}, false, nil
	}
	return s.await(ctx, k, kd)
}

// read reads the envelope of k under a deadline of its own, and returns
// what it holds: a value, a marker, or nothing (missingKind; a corrupt
// envelope, deleted and reported, is nothing).
func (s *Store) read(ctx context.Context, k string) (pipeline.Entry[[]byte], kind, error) {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rk, raw, err := s.get(cctx, k)
	s.record(ctx, err)
	switch {
	case errors.Is(err, goredis.Nil):
		return pipeline.Entry[[]byte]{}, missingKind, nil
	case err != nil:
		return pipeline.Entry[[]byte]{}, 0, fmt.Errorf("stores/redis: get: %w", err)
	}
	exp, n, kd, err := parseHeader(raw)
	switch {
	case err != nil:
		s.dropCorrupt(ctx, []corrupt{{key: k, rkey: rk, raw: raw, err: err}})
		return pipeline.Entry[[]byte]{}, missingKind, nil
	case kd != valueKind:
		return pipeline.Entry[[]byte]{}, kd, nil
	}
	return pipeline.Entry[[]byte]{Value: []byte(raw[n:]), Expires: exp}, valueKind, nil
}

// get reads the envelope of k in the current generation and returns it
// with its Redis key; redis.Nil if there is none.
func (s *Store) get(ctx context.Context, k string) (rk, raw string, err error) {
	r, err := s.startGen(ctx, false)
	if err != nil {
		return "", "", err
	}
	rk = redisKey(r.g.prefix, k)
	if !r.check { // the hit path: one GET
		raw, err = s.client.Get(ctx, rk).Result()
		return rk, raw, err
	}
	pipe := s.client.Pipeline()
	s.add(ctx, &r, pipe)
	cmd := pipe.Get(ctx, rk)
	_, _ = pipe.Exec(ctx) // each command has its own error
	moved, err := s.finishGen(&r)
	if err != nil {
		return rk, "", err
	}
	if moved != nil { // a Clear elsewhere: read the key of the new generation
		rk = redisKey(moved.prefix, k)
		cmd = s.client.Get(ctx, rk)
	}
	raw, err = cmd.Result()
	return rk, raw, err
}

// A corrupt is an envelope that did not decode.
type corrupt struct {
	key, rkey, raw string
	err            error
}

// deleteIfUnchanged deletes KEYS[1] if it still holds ARGV[1], so that the
// delete of a corrupt envelope never deletes a good value set meanwhile. It
// touches one key, as a Cluster requires.
const deleteIfUnchanged = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

// dropCorrupt deletes the corrupt envelopes cs, unless they changed, in one
// round trip, and reports each.
func (s *Store) dropCorrupt(ctx context.Context, cs []corrupt) {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pipe := s.client.Pipeline()
	for _, c := range cs {
		pipe.Eval(cctx, deleteIfUnchanged, []string{c.rkey}, c.raw)
	}
	_, derr := pipe.Exec(cctx)
	s.record(ctx, derr)
	for _, c := range cs {
		err := fmt.Errorf("stores/redis: key %q: %w", c.key, c.err)
		if derr != nil {
			err = errors.Join(err, fmt.Errorf("stores/redis: delete: %w", derr))
		}
		s.emit(pipeline.StoreEvent[string]{Kind: pipeline.Error, Key: c.key, Err: err})
	}
}

// Set stores value under key with an unknown lifetime: it is
// SetEntry(ctx, key, pipeline.Entry[[]byte]{Value: value}).
func (s *Store) Set(ctx context.Context, k string, value []byte) error {
	return s.SetEntry(ctx, k, pipeline.Entry[[]byte]{Value: value})
}

// SetEntry stores e under key in its envelope, with a Redis TTL (from
// Options.Clock) that ends Options.Grace after e.Expires, or after
// Options.TTL if e.Expires is zero. An entry whose Expires plus Grace has
// passed already is not stored: the key is deleted instead, so that no older
// value outlives the write. Either is one command, the Store's write script
// (EVALSHA), which leaves a tombstone in place: while the tombstone of a
// Delete lasts, a write of the key is dropped, and SetEntry returns nil (the
// guard did its work; see the package documentation). It replaces a lease.
// An open breaker fails it without calling Redis.
func (s *Store) SetEntry(ctx context.Context, k string, e pipeline.Entry[[]byte]) error {
	if !s.breaker.allow() {
		return errOpen("set")
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if s.lease > 0 {
		s.held.release(k)
	}
	r, err := s.startGen(cctx, false)
	if err == nil {
		err = s.one(cctx, &r, k, &e)
	}
	s.record(ctx, err)
	if err != nil {
		return fmt.Errorf("stores/redis: set: %w", err)
	}
	return nil
}

// one runs the command that stores e under k, or leaves a tombstone in k
// if e is nil, in the generation r uses; if r reads the generation along
// and it moved, it runs the command again in the new generation.
func (s *Store) one(ctx context.Context, r *genRead, k string, e *pipeline.Entry[[]byte]) error {
	if !r.check {
		return s.exec(ctx, r.g.prefix, k, e)
	}
	pipe := s.client.Pipeline()
	s.add(ctx, r, pipe)
	sha := s.loaded.Load()
	cmd := s.command(ctx, pipe, r.g.prefix, k, e, sha)
	_, _ = pipe.Exec(ctx) // each command has its own error
	moved, err := s.finishGen(r)
	switch {
	case err != nil:
		return err
	case moved != nil:
		return s.exec(ctx, moved.prefix, k, e)
	case s.ran(cmd, sha):
		return s.exec(ctx, r.g.prefix, k, e)
	}
	return cmd.Err()
}

// Delete replaces whatever key holds with a tombstone that lasts
// Options.Tombstone (one SET PX), in the round trip of which it reads the
// generation, so that a Clear made elsewhere does not make it miss the
// key's current Redis key (if the generation moved, it leaves the tombstone
// in that key too, in one more round trip). While the tombstone lasts, the
// key reads as missing and no write replaces it, so that a fill that read
// the source before the Delete does not write its value after it (see the
// package documentation). It calls Redis even while the breaker is open,
// for an invalidation that does not reach Redis leaves a stale value there:
// its error is returned.
func (s *Store) Delete(ctx context.Context, k string) error {
	s.breaker.allow() // counts as the probe if one is due
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if s.lease > 0 {
		s.held.release(k)
	}
	r, err := s.startGen(cctx, true)
	if err == nil {
		err = s.one(cctx, &r, k, nil)
	}
	s.record(ctx, err)
	if err != nil {
		return fmt.Errorf("stores/redis: delete: %w", err)
	}
	return nil
}

// Clear empties the namespace with one INCR of its generation: every entry
// written before it is out of reach at once for this Store, and for the
// other Stores of the namespace within their Options.GenerationRefresh (or
// at once, after their Reload). Entries of older generations stay in Redis
// until their Redis TTL ends; no other key on the server is touched. It
// calls Redis even while the breaker is open, and returns its error.
func (s *Store) Clear(ctx context.Context) error {
	s.breaker.allow()
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	old := s.gen.Load()
	n, err := s.client.Incr(cctx, s.genKey).Result()
	s.record(ctx, err)
	if err != nil {
		return fmt.Errorf("stores/redis: clear: %w", err)
	}
	s.setGeneration(old, n) // n, even below old's if the server lost the counter
	return nil
}

// GetBatch reads the entries of keys with one pipeline of GETs: one round
// trip on a single server, one per server holding some of the keys on a
// Cluster (the generation, when due for a refresh, is read in the same
// pipeline). It writes each result as GetEntry would return it: a missing
// key, a tombstone, or an envelope that does not decode (deleted and
// reported, in one more round trip), as pipeline.ErrNotFound, and Redis
// trouble as an error, for every key if the breaker is open or the
// generation could not be read. It takes no lease and waits for none, even
// with Options.Lease set: a key under another's lease is
// pipeline.ErrNotFound, so that a batch stays one round trip and none of
// its keys waits on another instance.
func (s *Store) GetBatch(ctx context.Context, keys []string, out []pipeline.Result[[]byte]) {
	checkBatch("GetBatch", len(keys), len(out))
	if len(keys) == 0 {
		return
	}
	if !s.breaker.allow() {
		fill(out, errOpen("get batch"))
		return
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	r, err := s.startGen(cctx, false)
	rkeys := make([]string, len(keys))
	cmds := make([]*goredis.StringCmd, len(keys))
	if err == nil {
		s.getAll(cctx, &r, r.g.prefix, keys, rkeys, cmds)
		var moved *generation
		if moved, err = s.finishGen(&r); moved != nil {
			s.getAll(cctx, &genRead{g: moved}, moved.prefix, keys, rkeys, cmds)
		}
	}
	if err != nil {
		s.record(ctx, err)
		fill(out, fmt.Errorf("stores/redis: get batch: %w", err))
		return
	}
	bad, err := s.collect(keys, rkeys, cmds, out)
	s.record(ctx, err)
	if len(bad) > 0 {
		s.dropCorrupt(ctx, bad)
	}
}

// getAll reads the Redis keys of keys under prefix into cmds with one
// pipeline, and the generation along if r says so.
func (s *Store) getAll(ctx context.Context, r *genRead, prefix string, keys, rkeys []string, cmds []*goredis.StringCmd) {
	pipe := s.client.Pipeline()
	s.add(ctx, r, pipe)
	for i, k := range keys {
		rkeys[i] = redisKey(prefix, k)
		cmds[i] = pipe.Get(ctx, rkeys[i])
	}
	_, _ = pipe.Exec(ctx) // each command has its own error
}

// collect writes the results of cmds to out and returns the envelopes that
// did not decode, and the first error other than a missing key.
func (s *Store) collect(keys, rkeys []string, cmds []*goredis.StringCmd, out []pipeline.Result[[]byte]) (bad []corrupt, firstErr error) {
	for i, cmd := range cmds {
		raw, err := cmd.Result()
		switch {
		case errors.Is(err, goredis.Nil):
			out[i] = pipeline.Result[[]byte]{Err: pipeline.ErrNotFound}
			continue
		case err != nil:
			if firstErr == nil {
				firstErr = err
			}
			out[i] = pipeline.Result[[]byte]{Err: fmt.Errorf("stores/redis: get batch: %w", err)}
			continue
		}
		exp, n, kd, err := parseHeader(raw)
		if err != nil {
			bad = append(bad, corrupt{key: keys[i], rkey: rkeys[i], raw: raw, err: err})
		}
		if err != nil || kd != valueKind { // a tombstone or a lease holds no value
			out[i] = pipeline.Result[[]byte]{Err: pipeline.ErrNotFound}
			continue
		}
		out[i] = pipeline.Result[[]byte]{Entry: pipeline.Entry[[]byte]{Value: []byte(raw[n:]), Expires: exp}}
	}
	return bad, firstErr
}

// SetBatch stores entries[i] under keys[i], each as SetEntry would, with
// one pipeline: one round trip on a single server, one per server holding
// some of the keys on a Cluster (the generation, when due for a refresh, is
// read in the same pipeline). It returns the first error, if any; the other
// entries may have been stored. An open breaker fails it without calling
// Redis.
func (s *Store) SetBatch(ctx context.Context, keys []string, entries []pipeline.Entry[[]byte]) error {
	checkBatch("SetBatch", len(keys), len(entries))
	if len(keys) == 0 {
		return nil
	}
	if !s.breaker.allow() {
		return errOpen("set batch")
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if s.lease > 0 {
		s.held.release(keys...)
	}
	r, err := s.startGen(cctx, false)
	if err == nil {
		err = s.setAll(cctx, &r, r.g.prefix, keys, entries)
		moved, gerr := s.finishGen(&r)
		switch {
		case gerr != nil:
			err = gerr
		case moved != nil:
			err = s.setAll(cctx, &genRead{g: moved}, moved.prefix, keys, entries)
		}
	}
	s.record(ctx, err)
	if err != nil {
		return fmt.Errorf("stores/redis: set batch: %w", err)
	}
	return nil
}

// setAll stores entries under keys and prefix with one pipeline, and reads
// the generation along if r says so. The writes the server did not know
// the script for run again whole, in one more pipeline. It returns the
// first error of a write.
func (s *Store) setAll(ctx context.Context, r *genRead, prefix string, keys []string, entries []pipeline.Entry[[]byte]) error {
	pipe := s.client.Pipeline()
	s.add(ctx, r, pipe)
	sha := s.loaded.Load()
	cmds := make([]goredis.Cmder, len(keys))
	for i, k := range keys {
		cmds[i] = s.command(ctx, pipe, prefix, k, &entries[i], sha)
	}
	_, _ = pipe.Exec(ctx) // each command has its own error
	var again []int
	for i, c := range cmds {
		if s.ran(c, sha) {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		pipe := s.client.Pipeline()
		for _, i := range again {
			cmds[i] = s.command(ctx, pipe, prefix, keys[i], &entries[i], false)
		}
		_, _ = pipe.Exec(ctx)
		for _, i := range again {
			s.ran(cmds[i], false)
		}
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return err
		}
	}
	return nil
}

// fill sets every result in out to err.
func fill(out []pipeline.Result[[]byte], err error) {
	for i := range out {
		out[i] = pipeline.Result[[]byte]{Err: err}
	}
}

// checkBatch panics if a batch's slices differ in length: a programmer
// error, as for the stores of package stores.
func checkBatch(op string, keys, other int) {
	if keys != other {
		panic(fmt.Sprintf("stores/redis: %s: %d keys, %d results or entries", op, keys, other))
	}
}
