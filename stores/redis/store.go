package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
)

// Options configures a Store. The zero value, or a nil *Options, means the
// defaults; New never writes into the caller's Options.
type Options struct {
	// Timeout bounds every call to Redis: each method of the Store runs its
	// Redis commands (one round trip, or two when it reads the generation
	// again) under a context with this deadline, and the caller's if that
	// is earlier. Default: DefaultTimeout (50ms). The client must honour
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
	// it read last before reading it again: a Clear by another Store of the
	// same namespace (in this process or another) is seen within this time,
	// or at once after Reload. Default: DefaultGenerationRefresh (1s).
	GenerationRefresh time.Duration
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
	now     func() time.Time
	breaker breaker

	gen        atomic.Pointer[generation] // nil until first read
	genLoading atomic.Bool                // a refresh is under way
	notify     atomic.Pointer[func(pipeline.StoreEvent[string])]
}

// A generation is the namespace generation a Store read, with the prefix of
// its entries' keys.
type generation struct {
	n      int64
	prefix string // "<ns>:<n>:"
	read   time.Time
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
// a nil client, a bad namespace, a negative setting, or a *redis.Client,
// *redis.ClusterClient or *redis.Ring whose options do not set
// ContextTimeoutEnabled: such a client ignores the Store's deadlines and can
// hold a read for as long as its own timeouts and retries allow (see
// ClientOptions). Closing the client is the caller's business.
func New(client goredis.UniversalClient, namespace string, opts *Options) (*Store, error) {
	if client == nil {
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
	if o.Timeout < 0 || o.TTL < 0 || o.Grace < 0 || o.FailureThreshold < 0 || o.OpenFor < 0 || o.GenerationRefresh < 0 {
		return nil, fmt.Errorf("%w: negative setting in %+v", ErrInvalidOption, o)
	}
	s := &Store{
		client:  client,
		ns:      namespace,
		genKey:  namespace + ":g",
		timeout: or(o.Timeout, DefaultTimeout),
		ttl:     or(o.TTL, DefaultTTL),
		grace:   o.Grace,
		refresh: or(o.GenerationRefresh, DefaultGenerationRefresh),
		now:     o.Clock,
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.breaker = breaker{threshold: or(o.FailureThreshold, DefaultFailureThreshold), openFor: or(o.OpenFor, DefaultOpenFor), now: s.now}
	return s, nil
}

// or returns v, or def if v is zero.
func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
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

// prefix returns the prefix of the keys of the current generation, reading
// the generation from Redis on first use and once it is older than
// s.refresh. While one caller reads it again, the others use the old one.
func (s *Store) prefix(ctx context.Context) (string, error) {
	g := s.gen.Load()
	if g != nil && (s.now().Sub(g.read) < s.refresh || !s.genLoading.CompareAndSwap(false, true)) {
		return g.prefix, nil
	}
	if g != nil {
		defer s.genLoading.Store(false)
	}
	n, err := s.client.Get(ctx, s.genKey).Int64()
	if errors.Is(err, goredis.Nil) {
		n, err = 0, nil // never cleared
	}
	if err != nil {
		return "", fmt.Errorf("stores/redis: read generation: %w", err)
	}
	return s.setGeneration(g, n), nil
}

// setGeneration makes n the current generation unless a newer one was set
// since old was loaded, and returns the current prefix.
func (s *Store) setGeneration(old *generation, n int64) string {
	g := &generation{n: n, prefix: s.ns + ":" + strconv.FormatInt(n, 10) + ":", read: s.now()}
	for {
		if s.gen.CompareAndSwap(old, g) {
			return g.prefix
		}
		old = s.gen.Load()
		if old != nil && old.n > n {
			return old.prefix // a Clear moved on meanwhile
		}
	}
}

// Reload reads the namespace generation from Redis now, so that a Clear by
// another Store of the namespace is seen at once rather than within
// Options.GenerationRefresh: an invalidation bus that learns of a remote
// Clear calls it. It returns Redis's error, if any.
func (s *Store) Reload(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := s.client.Get(cctx, s.genKey).Int64()
	if errors.Is(err, goredis.Nil) {
		n, err = 0, nil
	}
	s.record(ctx, err)
	if err != nil {
		return fmt.Errorf("stores/redis: reload: %w", err)
	}
	g := s.gen.Load()
	if g == nil || g.n != n {
		s.forceGeneration(n)
	}
	return nil
}

// forceGeneration makes n the current generation, newer or not: Redis said
// so (after a FLUSHALL, the counter starts again from 0).
func (s *Store) forceGeneration(n int64) {
	s.gen.Store(&generation{n: n, prefix: s.ns + ":" + strconv.FormatInt(n, 10) + ":", read: s.now()})
}

// key returns the Redis key of key under prefix.
func key(prefix, key string) string {
	n := encodedLen(key)
	if n == len(key) {
		return prefix + key
	}
	var b strings.Builder
	b.Grow(len(prefix) + n)
	b.WriteString(prefix)
	appendKey(&b, key)
	return b.String()
}

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
// GET (and, once per Options.GenerationRefresh, one read of the
// generation). A missing key is ok == false with a nil error. An envelope
// that does not decode is reported as missing, deleted and reported through
// Notify. Any other trouble (an error, a timeout after Options.Timeout, an
// open breaker) is returned as an error, which a cache layer treats as a
// miss.
func (s *Store) GetEntry(ctx context.Context, k string) (pipeline.Entry[[]byte], bool, error) {
	if !s.breaker.allow() {
		return pipeline.Entry[[]byte]{}, false, errOpen("get")
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	prefix, err := s.prefix(cctx)
	if err != nil {
		s.record(ctx, err)
		return pipeline.Entry[[]byte]{}, false, fmt.Errorf("stores/redis: get: %w", err)
	}
	rk := key(prefix, k)
	raw, err := s.client.Get(cctx, rk).Result()
	s.record(ctx, err)
	switch {
	case errors.Is(err, goredis.Nil):
		return pipeline.Entry[[]byte]{}, false, nil
	case err != nil:
		return pipeline.Entry[[]byte]{}, false, fmt.Errorf("stores/redis: get: %w", err)
	}
	exp, n, err := parseHeader(raw)
	if err != nil {
		s.dropCorrupt(ctx, []corrupt{{key: k, rkey: rk, raw: raw, err: err}})
		return pipeline.Entry[[]byte]{}, false, nil
	}
	return pipeline.Entry[[]byte]{Value: []byte(raw[n:]), Expires: exp}, true, nil
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

// SetEntry stores e under key in its envelope, with one SET whose Redis TTL
// (PX, from Options.Clock) ends Options.Grace after e.Expires, or after
// Options.TTL if e.Expires is zero. An entry whose Expires plus Grace has
// passed already is not stored: the key is deleted instead, so that no older
// value outlives the write. An open breaker fails it without calling Redis.
func (s *Store) SetEntry(ctx context.Context, k string, e pipeline.Entry[[]byte]) error {
	if !s.breaker.allow() {
		return errOpen("set")
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	prefix, err := s.prefix(cctx)
	if err != nil {
		s.record(ctx, err)
		return fmt.Errorf("stores/redis: set: %w", err)
	}
	rk := key(prefix, k)
	if ttl, ok := s.redisTTL(e.Expires); ok {
		err = s.client.Set(cctx, rk, envelope(e), ttl).Err()
	} else {
		err = s.client.Del(cctx, rk).Err()
	}
	s.record(ctx, err)
	if err != nil {
		return fmt.Errorf("stores/redis: set: %w", err)
	}
	return nil
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
	return (d + time.Millisecond - 1).Truncate(time.Millisecond), true
}

// Delete deletes key with one DEL. It calls Redis even while the breaker is
// open, for an invalidation that does not reach Redis leaves a stale value
// there: its error is returned.
func (s *Store) Delete(ctx context.Context, k string) error {
	s.breaker.allow() // counts as the probe if one is due
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	prefix, err := s.prefix(cctx)
	if err == nil {
		err = s.client.Del(cctx, key(prefix, k)).Err()
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
	n, err := s.client.Incr(cctx, s.genKey).Result()
	s.record(ctx, err)
	if err != nil {
		return fmt.Errorf("stores/redis: clear: %w", err)
	}
	s.forceGeneration(n)
	return nil
}

// GetBatch reads the entries of keys with one pipeline: one round trip on a
// single server, one per server holding some of the keys on a Cluster
// (plus, once per Options.GenerationRefresh, one read of the generation).
// It writes each result as GetEntry would return it: a missing key, or one
// whose envelope does not decode (deleted and reported, in one more round
// trip), as pipeline.ErrNotFound, and Redis trouble as an error, for every
// key if the breaker is open or the generation could not be read.
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
	prefix, err := s.prefix(cctx)
	if err != nil {
		s.record(ctx, err)
		fill(out, fmt.Errorf("stores/redis: get batch: %w", err))
		return
	}
	rkeys := make([]string, len(keys))
	cmds := make([]*goredis.StringCmd, len(keys))
	pipe := s.client.Pipeline()
	for i, k := range keys {
		rkeys[i] = key(prefix, k)
		cmds[i] = pipe.Get(cctx, rkeys[i])
	}
	_, _ = pipe.Exec(cctx) // each command has its own error
	var firstErr error
	var bad []corrupt
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
		exp, n, err := parseHeader(raw)
		if err != nil {
			bad = append(bad, corrupt{key: keys[i], rkey: rkeys[i], raw: raw, err: err})
			out[i] = pipeline.Result[[]byte]{Err: pipeline.ErrNotFound}
			continue
		}
		out[i] = pipeline.Result[[]byte]{Entry: pipeline.Entry[[]byte]{Value: []byte(raw[n:]), Expires: exp}}
	}
	s.record(ctx, firstErr)
	if len(bad) > 0 {
		s.dropCorrupt(ctx, bad)
	}
}

// SetBatch stores entries[i] under keys[i], each as SetEntry would, with
// one pipeline: one round trip on a single server, one per server holding
// some of the keys on a Cluster. It returns the first error, if any; the
// other entries may have been stored. An open breaker fails it without
// calling Redis.
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
	prefix, err := s.prefix(cctx)
	if err != nil {
		s.record(ctx, err)
		return fmt.Errorf("stores/redis: set batch: %w", err)
	}
	pipe := s.client.Pipeline()
	for i, k := range keys {
		rk := key(prefix, k)
		if ttl, ok := s.redisTTL(entries[i].Expires); ok {
			pipe.Set(cctx, rk, envelope(entries[i]), ttl)
		} else {
			pipe.Del(cctx, rk)
		}
	}
	_, err = pipe.Exec(cctx)
	s.record(ctx, err)
	if err != nil {
		return fmt.Errorf("stores/redis: set batch: %w", err)
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
