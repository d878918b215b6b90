package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// The bus.
//
// Invariant: the local layers above the bus (its origin's dependents) are
// cleared after anything that may have lost a message: a subscription
// confirmed by the server (the first, and each one go-redis makes after it
// reconnected: messages published before it were not delivered), a
// heartbeat missed MissedHeartbeats times, a heartbeat back after that, a
// message that does not decode, a drop that failed. Two goroutines run
// until Close: receive, the only reader of the subscription, which applies
// messages in the order the server sent them; and beat, which publishes
// the heartbeat, judges the bus's health, and renews the subscription on a
// new connection after every MissedHeartbeats heartbeats missed in a row
// (go-redis reconnects only when a read or a write fails, which a
// connection to a peer gone from the network may never do).

// Defaults of BusOptions.
const (
	DefaultHeartbeat        = time.Second
	DefaultMissedHeartbeats = 3
	DefaultMaxStale         = time.Minute
)

// receiveBackoff is how long the receiving goroutine waits after a second
// failed read in a row (the server is down), so that it does not spin.
const receiveBackoff = 100 * time.Millisecond

// BusOptions configure a Bus. The zero value, or a nil *BusOptions, means
// the defaults; NewBus never writes into the caller's BusOptions.
type BusOptions[K any] struct {
	// Timeout bounds each PUBLISH, and each Reload of a Store of Reload.
	// Default: DefaultTimeout (50ms).
	Timeout time.Duration
	// Heartbeat is how often the bus publishes a heartbeat and checks that
	// the last one came back. Default: DefaultHeartbeat (1s).
	Heartbeat time.Duration
	// MissedHeartbeats is how many intervals in a row without a heartbeat
	// back make the bus unhealthy (and clear the local layers above it).
	// Default: DefaultMissedHeartbeats (3).
	MissedHeartbeats int
	// MaxStale caps the lifetime of every entry the bus's layer passes
	// outward: the local layers above it keep no value longer. Default:
	// DefaultMaxStale (1m).
	MaxStale time.Duration
	// Reload names the Stores of the Redis layer below the bus (usually
	// one): on a Clear from another instance, and whenever the bus clears
	// for a gap, it reloads them (see Store.Reload) before it clears the
	// local layers, so that they do not read the old generation's entries.
	// Default: none.
	Reload []Reloader
	// Observer receives the bus's events, with the channel as the layer's
	// name: Invalidated for each invalidation from another instance that
	// was applied (Key is the key); Error for a publish that failed, a
	// message that did not decode (ErrBadMessage), a gap (ErrBusGap), a
	// Reload or a local drop that failed. Default: none.
	Observer pipeline.Observer[K]
	// Clock returns the current time, for MaxStale. Default: time.Now.
	Clock func() time.Time
}

// A Reloader is a store that can read its shared state again at once, as
// Store.Reload reads the namespace generation.
type Reloader interface {
	Reload(ctx context.Context) error
}

// A Bus is an invalidation bus on one Redis pub/sub channel, for the layer
// that Coherent builds over it; see the package documentation. Its methods
// are safe for concurrent use.
type Bus[K any] struct {
	client   goredis.UniversalClient
	channel  string
	keys     stores.Codec[K, []byte]
	id       uint64
	timeout  time.Duration
	interval time.Duration
	missed   int
	maxStale time.Duration
	reload   []Reloader
	observer pipeline.Observer[K]
	now      func() time.Time

	origin atomic.Pointer[pipeline.Origin[K]] // set once, by Coherent
	mu     sync.Mutex                         // guards ps
	ps     *goredis.PubSub                    // replaced by renew; closed by Close
	ctx    context.Context                    // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	health atomic.Int32 // a Health
	heard  atomic.Bool  // an own heartbeat came back since beat last looked
	stats  busCounters
}

// Health is the state of a Bus's subscription, as its heartbeat tells.
type Health int32

const (
	Starting  Health = iota // no heartbeat has come back yet, and none was missed MissedHeartbeats times
	Healthy                 // the last heartbeat came back in time
	Unhealthy               // MissedHeartbeats heartbeats in a row did not come back
)

var healthNames = [...]string{Starting: "starting", Healthy: "healthy", Unhealthy: "unhealthy"}

// String returns the health's name in lower case, such as "healthy".
func (h Health) String() string {
	if h >= 0 && int(h) < len(healthNames) {
		return healthNames[h]
	}
	return fmt.Sprintf("Health(%d)", int32(h))
}

// BusStats are the counts of a Bus since it was made.
type BusStats struct {
	Health        Health `json:"health"`         // the bus's health when Stats was called
	Received      uint64 `json:"received"`       // messages received on the channel, the bus's own included
	Applied       uint64 `json:"applied"`        // invalidations and Clears of other instances applied here
	Published     uint64 `json:"published"`      // invalidations and Clears published (heartbeats not counted)
	PublishErrors uint64 `json:"publish_errors"` // publishes that failed, heartbeats included
	DecodeErrors  uint64 `json:"decode_errors"`  // messages that did not decode
	DropErrors    uint64 `json:"drop_errors"`    // drops and clears of the local layers that failed
	Heartbeats    uint64 `json:"heartbeats"`     // the bus's own heartbeats that came back
	Clears        Clears `json:"clears"`         // clears of the local layers, by reason
}

// Clears counts a Bus's clears of the local layers above it, by reason.
type Clears struct {
	Remote        uint64 `json:"remote"`         // a Clear from another instance
	Subscribed    uint64 `json:"subscribed"`     // a subscription confirmed: the first, or one after a reconnection
	HeartbeatLost uint64 `json:"heartbeat_lost"` // MissedHeartbeats heartbeats in a row did not come back
	HeartbeatBack uint64 `json:"heartbeat_back"` // a heartbeat came back while the bus was unhealthy
	BadMessage    uint64 `json:"bad_message"`    // a message did not decode
	DropFailed    uint64 `json:"drop_failed"`    // the drop of a key from another instance failed
}

// busCounters are the atomic counts behind BusStats.
type busCounters struct {
	received, applied, published, publishErrors, decodeErrors, dropErrors, heartbeats atomic.Uint64
	remote, subscribed, heartbeatLost, heartbeatBack, badMessage, dropFailed          atomic.Uint64
}

// NewBus returns a Bus on the Redis pub/sub channel named channel, reached
// through client, whose messages carry keys encoded by keys (StringKeys,
// IntKeys, or a codec of your own whose Decode inverts Encode). It starts
// the bus's goroutines, which subscribe and keep the subscription alive,
// and makes no Redis call itself: a Bus over a server that is down is made
// all the same, and starts to work when the server answers. Every instance
// of a service that caches the same data uses the same channel, and a
// channel serves one data set. opts may be nil.
//
// Close the Bus (or the layer that Coherent built over it) to stop its
// goroutines; closing the client is the caller's business, after that.
//
// NewBus returns an error wrapping ErrInvalidOption for a nil client or
// key codec, a channel that is not 1 to 64 bytes of [A-Za-z0-9-._~/], a
// negative setting, or a client that ignores context deadlines (see
// ClientOptions).
func NewBus[K any](client goredis.UniversalClient, channel string, keys stores.Codec[K, []byte], opts *BusOptions[K]) (*Bus[K], error) {
	var o BusOptions[K]
	if opts != nil {
		o = *opts
	}
	switch {
	case nilClient(client):
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOption)
	case keys == nil:
		return nil, fmt.Errorf("%w: nil key codec", ErrInvalidOption)
	case !validNamespace(channel):
		return nil, fmt.Errorf("%w: channel %q: want 1 to %d bytes of [A-Za-z0-9-._~/]", ErrInvalidOption, channel, maxNamespace)
	case o.Timeout < 0 || o.Heartbeat < 0 || o.MissedHeartbeats < 0 || o.MaxStale < 0:
		return nil, fmt.Errorf("%w: negative setting in bus options", ErrInvalidOption)
	case !honoursDeadlines(client):
		return nil, fmt.Errorf("%w: the client ignores context deadlines: set ContextTimeoutEnabled (see ClientOptions)", ErrInvalidOption)
	}
	for i, r := range o.Reload {
		if r == nil {
			return nil, fmt.Errorf("%w: Reload[%d] is nil", ErrInvalidOption, i)
		}
	}
	b := &Bus[K]{
		client:   client,
		channel:  channel,
		keys:     keys,
		id:       rand.Uint64(),
		timeout:  cmp.Or(o.Timeout, DefaultTimeout),
		interval: cmp.Or(o.Heartbeat, DefaultHeartbeat),
		missed:   cmp.Or(o.MissedHeartbeats, DefaultMissedHeartbeats),
		maxStale: cmp.Or(o.MaxStale, DefaultMaxStale),
		reload:   append([]Reloader(nil), o.Reload...),
		observer: o.Observer,
		now:      o.Clock,
	}
	if b.now == nil {
		b.now = time.Now
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.ps = client.Subscribe(b.ctx) // no channel yet: no Redis call
	b.wg.Add(2)
	go b.receive()
	go b.beat()
	return b, nil
}

// Channel returns the name of the bus's channel.
func (b *Bus[K]) Channel() string { return b.channel }

// Healthy reports whether the bus's last heartbeat came back in time: its
// subscription works and its messages flow.
func (b *Bus[K]) Healthy() bool { return Health(b.health.Load()) == Healthy }

// Stats returns the bus's health and counts.
func (b *Bus[K]) Stats() BusStats {
	c := &b.stats
	return BusStats{
		Health:        Health(b.health.Load()),
		Received:      c.received.Load(),
		Applied:       c.applied.Load(),
		Published:     c.published.Load(),
		PublishErrors: c.publishErrors.Load(),
		DecodeErrors:  c.decodeErrors.Load(),
		DropErrors:    c.dropErrors.Load(),
		Heartbeats:    c.heartbeats.Load(),
		Clears: Clears{
			Remote:        c.remote.Load(),
			Subscribed:    c.subscribed.Load(),
			HeartbeatLost: c.heartbeatLost.Load(),
			HeartbeatBack: c.heartbeatBack.Load(),
			BadMessage:    c.badMessage.Load(),
			DropFailed:    c.dropFailed.Load(),
		},
	}
}

// Close stops the bus's goroutines and unsubscribes, and returns once they
// have returned. A message that arrives later is not applied; Invalidate
// and Clear through the layer still publish. Close is idempotent and
// always returns nil.
func (b *Bus[K]) Close() error {
	b.once.Do(func() {
		b.cancel()
		b.mu.Lock()
		ps := b.ps
		b.mu.Unlock()
		_ = ps.Close() // ends a read under way
		b.wg.Wait()
	})
	return nil
}

// receive reads the subscription until Close, and applies what it reads.
func (b *Bus[K]) receive() {
	defer b.wg.Done()
	var ps *goredis.PubSub
	failed := 0
	for {
		if cur := b.current(); cur != ps { // the first, or one renew made
			ps = cur
			sctx, cancel := context.WithTimeout(b.ctx, b.timeout)
			_ = ps.Subscribe(sctx, b.channel) // on failure, the next read connects and subscribes
			cancel()
		}
		msg, err := ps.Receive(b.ctx)
		if b.ctx.Err() != nil {
			return
		}
		if err != nil { // go-redis reconnects, and subscribes again, on the next read
			if failed++; failed > 1 {
				select {
				case <-b.ctx.Done():
					return
				case <-time.After(receiveBackoff):
				}
			}
			continue
		}
		failed = 0
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				b.subscribed()
			}
		case *goredis.Message:
			b.handle(m.Payload)
		}
	}
}

// current returns the subscription in use.
func (b *Bus[K]) current() *goredis.PubSub {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ps
}

// renew replaces the subscription with a new one, on a new connection,
// and closes the old one, which ends a read under way: the receiving
// goroutine then subscribes on the new one. A connection that died without
// the system telling (a peer gone from the network) is left behind this
// way. After Close, it does nothing.
func (b *Bus[K]) renew() {
	b.mu.Lock()
	if b.ctx.Err() != nil {
		b.mu.Unlock()
		return
	}
	old := b.ps
	b.ps = b.client.Subscribe(b.ctx) // no Redis call
	b.mu.Unlock()
	_ = old.Close()
}

// subscribed clears the local layers after the server confirmed a
// subscription, and sends a heartbeat at once.
func (b *Bus[K]) subscribed() {
	if b.stats.subscribed.Load() > 0 {
		b.emit(pipeline.Error, *new(K), fmt.Errorf("stores/redis: bus %s: %w: subscribed again", b.channel, ErrBusGap))
	}
	b.clear(&b.stats.subscribed)
	_ = b.publish(b.ctx, message{kind: kindHeartbeat})
}

// handle applies one message from the channel.
func (b *Bus[K]) handle(payload string) {
	b.stats.received.Add(1)
	m, err := parseMessage([]byte(payload))
	if err != nil {
		b.bad(err)
		return
	}
	if m.sender == b.id {
		if m.kind == kindHeartbeat {
			b.stats.heartbeats.Add(1)
			b.heard.Store(true)
			if Health(b.health.Swap(int32(Healthy))) == Unhealthy {
				b.clear(&b.stats.heartbeatBack)
			}
		}
		return // an own invalidation or Clear: applied already
	}
	switch m.kind {
	case kindClear:
		b.clear(&b.stats.remote)
		b.stats.applied.Add(1)
	case kindInvalidate:
		key, err := b.keys.Decode(m.key)
		if err != nil {
			b.bad(fmt.Errorf("%w: key %q: %w", ErrBadMessage, m.key, err))
			return
		}
		b.drop(key)
	}
}

// bad counts and reports a message that did not decode, and clears.
func (b *Bus[K]) bad(err error) {
	b.emit(pipeline.Error, *new(K), fmt.Errorf("stores/redis: bus %s: %w", b.channel, err))
	b.clear(&b.stats.badMessage)
	b.stats.decodeErrors.Add(1)
}

// drop drops what the local layers derived from key; if that fails, it
// clears them.
func (b *Bus[K]) drop(key K) {
	o := b.origin.Load()
	if o == nil {
		return
	}
	if err := (*o).DropDerived(b.ctx, key); err != nil {
		b.stats.dropErrors.Add(1)
		b.emit(pipeline.Error, key, fmt.Errorf("stores/redis: bus %s: drop: %w", b.channel, err))
		b.clear(&b.stats.dropFailed)
		return
	}
	b.stats.applied.Add(1)
	b.emit(pipeline.Invalidated, key, nil)
}

// clear reloads the stores of BusOptions.Reload, then clears the local
// layers above the bus, then counts a clear under reason.
func (b *Bus[K]) clear(reason *atomic.Uint64) {
	defer reason.Add(1)
	for _, r := range b.reload {
		ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
		err := r.Reload(ctx)
		cancel()
		if err != nil {
			b.emit(pipeline.Error, *new(K), fmt.Errorf("stores/redis: bus %s: reload: %w", b.channel, err))
		}
	}
	o := b.origin.Load()
	if o == nil {
		return
	}
	if err := (*o).ClearDerived(b.ctx); err != nil {
		b.stats.dropErrors.Add(1)
		b.emit(pipeline.Error, *new(K), fmt.Errorf("stores/redis: bus %s: clear: %w", b.channel, err))
	}
}

// beat publishes a heartbeat every interval and judges the bus's health by
// whether the last ones came back, until Close.
func (b *Bus[K]) beat() {
	defer b.wg.Done()
	t := time.NewTicker(b.interval)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		if b.heard.Swap(false) {
			missed = 0
		} else {
			missed++
		}
		if missed >= b.missed && Health(b.health.Swap(int32(Unhealthy))) != Unhealthy {
			b.emit(pipeline.Error, *new(K), fmt.Errorf("stores/redis: bus %s: %w: %d heartbeats missed", b.channel, ErrBusGap, missed))
			b.clear(&b.stats.heartbeatLost)
		}
		if missed > 0 && missed%b.missed == 0 {
			b.renew() // MissedHeartbeats more missed: try a new connection
		}
		_ = b.publish(b.ctx, message{kind: kindHeartbeat})
	}
}

// publish publishes m, tagged with the bus's id, under the bus's timeout.
func (b *Bus[K]) publish(ctx context.Context, m message) error {
	m.sender = b.id
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	err := b.client.Publish(ctx, b.channel, appendMessage(nil, m)).Err()
	if err != nil {
		b.stats.publishErrors.Add(1)
		return fmt.Errorf("stores/redis: bus %s: publish: %w", b.channel, err)
	}
	if m.kind != kindHeartbeat {
		b.stats.published.Add(1)
	}
	return nil
}

// publishKey publishes the invalidation of key.
func (b *Bus[K]) publishKey(ctx context.Context, key K) error {
	kb, err := b.keys.Encode(key)
	if err != nil {
		return fmt.Errorf("stores/redis: bus %s: encode key: %w", b.channel, err)
	}
	return b.publish(ctx, message{kind: kindInvalidate, key: kb})
}

// emit reports an event to the observer, if any. A panicking observer
// must not stop the bus.
func (b *Bus[K]) emit(kind pipeline.EventKind, key K, err error) {
	if b.observer == nil {
		return
	}
	defer func() { _ = recover() }()
	b.observer.Observe(context.Background(), pipeline.Event[K]{Layer: b.channel, Kind: kind, Key: key, Err: err})
}

// capExpiry returns exp capped at MaxStale from now.
func (b *Bus[K]) capExpiry(exp time.Time) time.Time {
	limit := b.now().Add(b.maxStale)
	if exp.IsZero() || exp.After(limit) {
		return limit
	}
	return exp
}

// errNotOrigin is the message of Coherent's panic for a next that is not a
// pipeline.Origin.
var errNotOrigin = errors.New("stores/redis: Coherent: next is not a pipeline.Origin: build the bus over a cache layer (pipeline.Cache)")
