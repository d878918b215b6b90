package redis_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// TestBusClearsEveryInstanceWhenItsSubscriptionIsKilled kills the pub/sub
// connections of every instance (CLIENT KILL TYPE pubsub) while a writer
// streams updates, and updates a key right after each kill, in the gap:
// every instance clears when it subscribes again, and none serves a value
// from before an update made in the gap. It logs the time from a kill to
// the clear.
func TestBusClearsEveryInstanceWhenItsSubscriptionIsKilled(t *testing.T) {
	t.Parallel()
	const instances, rounds = 4, 3
	srv := startServer(t)
	src := newVersions()
	ins := make([]*instance, instances)
	for i := range ins {
		ins[i] = newInstance(t, srv.Addr, src, instanceOptions{channel: "killed", bus: fastBeat})
	}
	waitHealthy(t, ins...)
	ctx := t.Context()
	writer := ins[0]

	stopStream := streamUpdates(writer, src) // a stream of updates of other keys meanwhile

	var toClear []time.Duration
	for round := 1; round <= rounds; round++ {
		for _, in := range ins {
			require.Equal(t, fmt.Sprintf("gap@%d", round-1), in.read(t, "gap"))
		}
		before := make([]uint64, instances)
		for i, in := range ins {
			before[i] = in.bus.Stats().Clears.Subscribed
		}
		killed := time.Now()
		_, err := srv.Do("CLIENT", "KILL", "TYPE", "pubsub")
		require.NoError(t, err)
		src.bump("gap") // an update in the gap: its message may be lost
		require.NoError(t, pipeline.Invalidate(ctx, writer.stack, "gap"))

		for i, in := range ins {
			require.Eventually(t, func() bool { return in.bus.Stats().Clears.Subscribed > before[i] }, waitFor, 100*time.Microsecond,
				"round %d: instance %d clears when it subscribes again", round, i)
			toClear = append(toClear, time.Since(killed))
		}
		for i, in := range ins {
			require.Equal(t, fmt.Sprintf("gap@%d", round), in.read(t, "gap"),
				"round %d: instance %d serves nothing from before the update made in the gap", round, i)
		}
	}
	require.NoError(t, stopStream())
	p50, _, worst := percentiles(toClear)
	t.Logf("from CLIENT KILL TYPE pubsub to the clear on resubscribe, %d instances × %d kills: p50 %v, max %v (an upper bound: polled)",
		instances, rounds, p50, worst)
	for i, in := range ins {
		for k := range 4 {
			key := fmt.Sprintf("stream%d", k)
			want, _ := src.Fetch(ctx, key)
			require.Equal(t, want, in.read(t, key), "instance %d serves the last version of %s", i, key)
		}
	}
}

// TestBusKeepsReadsWorkingAndClearsWhileRedisStalls stalls the server
// (DEBUG SLEEP): reads keep succeeding, the heartbeat marks the bus
// unhealthy and it clears; once the server answers, it is healthy again,
// and clears again.
func TestBusKeepsReadsWorkingAndClearsWhileRedisStalls(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	src := newVersions()
	o := instanceOptions{channel: "stall", storeTimeout: 50 * time.Millisecond, bus: fastBeat}
	o.bus.Timeout = 50 * time.Millisecond
	a := newInstance(t, srv.Addr, src, o)
	b := newInstance(t, srv.Addr, src, o)
	waitHealthy(t, a, b)
	require.Equal(t, "k@0", a.read(t, "k"))
	require.Equal(t, "k@0", b.read(t, "k"))

	resumed := srv.Stall(t, 2*time.Second)
	var took []time.Duration
	for n := 0; ; n++ {
		select {
		case <-resumed:
		default:
			for _, in := range []*instance{a, b} {
				start := time.Now()
				require.Equal(t, "k@0", in.read(t, "k"), "a value the local layer holds, or the source")
				require.Equal(t, fmt.Sprintf("fresh%d@0", n), in.read(t, fmt.Sprintf("fresh%d", n)), "a value only the source has")
				took = append(took, time.Since(start))
			}
			continue
		}
		break
	}
	for _, in := range []*instance{a, b} {
		require.Positive(t, in.bus.Stats().Clears.HeartbeatLost, "the bus noticed the stall and cleared: %+v", in.bus.Stats())
	}
	p50, p99, worst := percentiles(took)
	t.Logf("%d pairs of reads (a local value and a miss) succeeded while Redis stalled for 2s; a pair took p50 %v, p99 %v, max %v",
		len(took), p50, p99, worst)

	for _, in := range []*instance{a, b} {
		require.Eventually(t, func() bool { return in.bus.Healthy() && in.bus.Stats().Clears.HeartbeatBack > 0 }, waitFor, time.Millisecond,
			"the heartbeat comes back: healthy again, and cleared again")
	}
	src.bump("k")
	// The store's 50ms deadline is this test's; on a loaded machine the first
	// Delete after the stall (a new connection) may miss it and return its
	// error, as it should: the Invalidate is then tried again.
	require.Eventually(t, func() bool { return pipeline.Invalidate(t.Context(), a.stack, "k") == nil }, waitFor, 10*time.Millisecond,
		"an Invalidate succeeds once the server answers again")
	require.Eventually(t, func() bool { return b.read(t, "k") == "k@1" }, waitFor, time.Millisecond, "messages flow again")
}

// streamUpdates updates and invalidates the keys stream0 to stream3 through
// writer, one every 2ms, until the function it returns is called; that
// function returns the first error of an Invalidate.
func streamUpdates(writer *instance, src *versions) (stop func() error) {
	done := make(chan struct{})
	var streamed sync.WaitGroup
	var streamErr atomic.Pointer[error]
	streamed.Go(func() {
		for n := 0; ; n++ {
			select {
			case <-done:
				return
			default:
			}
			k := fmt.Sprintf("stream%d", n%4)
			src.bump(k)
			if err := pipeline.Invalidate(context.Background(), writer.stack, k); err != nil {
				streamErr.CompareAndSwap(nil, &err)
			}
			time.Sleep(2 * time.Millisecond) // the stream's rate
		}
	})
	return func() error {
		close(done)
		streamed.Wait()
		if err := streamErr.Load(); err != nil {
			return *err
		}
		return nil
	}
}

// TestBusResubscribesAndTheLayersRefillAfterRedisRestarts shuts the server
// down (SHUTDOWN NOSAVE) and starts it again on the same port, while
// readers read: every read succeeds, the bus subscribes again, and the
// Redis layer fills again.
func TestBusResubscribesAndTheLayersRefillAfterRedisRestarts(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	src := newVersions()
	o := instanceOptions{channel: "restart", storeTimeout: 100 * time.Millisecond, bus: fastBeat}
	o.bus.Timeout = 100 * time.Millisecond
	ins := []*instance{newInstance(t, srv.Addr, src, o), newInstance(t, srv.Addr, src, o)}
	waitHealthy(t, ins...)

	l := &readLoad{}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for i, in := range ins {
		readers.Go(func() { l.read(i, in, stop) })
	}

	srv.Shutdown(t)
	l.down.Store(true)
	for _, in := range ins {
		require.Eventually(t, func() bool { return in.bus.Stats().Health.String() == "unhealthy" }, waitFor, time.Millisecond)
	}
	l.down.Store(false)
	srv.Restart(t)
	for i, in := range ins {
		require.Eventually(t, func() bool { return in.bus.Healthy() && in.bus.Stats().Clears.Subscribed >= 2 }, waitFor, time.Millisecond,
			"instance %d subscribes again and its heartbeat comes back", i)
	}
	require.Eventually(t, func() bool {
		n, err := srv.Do("DBSIZE")
		return err == nil && n != "0"
	}, waitFor, 10*time.Millisecond, "the Redis layer fills again")
	close(stop)
	readers.Wait()
	if err := l.firstErr.Load(); err != nil {
		require.NoError(t, *err)
	}
	require.Zero(t, l.failed.Load())
	t.Logf("%d reads, all succeeded, across SHUTDOWN NOSAVE and a restart", l.reads.Load())
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.whileDown) > 0 {
		p50, p99, maxd := percentiles(l.whileDown)
		t.Logf("%d reads while the server was down, all served: p50 %v, p99 %v, max %v", len(l.whileDown), p50, p99, maxd)
	}
}

// A readLoad counts the reads of the restart test's readers, and times
// those made while the server is down.
type readLoad struct {
	reads, failed atomic.Int64
	firstErr      atomic.Pointer[error]
	down          atomic.Bool // the server is down: its reads' times are kept
	mu            sync.Mutex
	whileDown     []time.Duration
}

// read reads through instance i's stack, one key every millisecond, until
// stop is closed: keys that its local layer may hold, and every tenth a
// key that no layer holds.
func (l *readLoad) read(i int, in *instance, stop <-chan struct{}) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		key := fmt.Sprintf("k%d", n%50) // some in the local layer, some not yet
		if n%10 == 0 {
			key = fmt.Sprintf("new%d-%d", i, n) // a miss everywhere
		}
		wasDown, start := l.down.Load(), time.Now()
		_, err := in.stack.Fetch(context.Background(), key)
		if took := time.Since(start); wasDown && l.down.Load() {
			l.mu.Lock()
			l.whileDown = append(l.whileDown, took)
			l.mu.Unlock()
		}
		l.reads.Add(1)
		if err != nil {
			l.failed.Add(1)
			l.firstErr.CompareAndSwap(nil, &err)
		}
		time.Sleep(time.Millisecond) // the readers' rate
	}
}

// TestBusSubscribesAgainOnANewConnectionAfterASilentPartition cuts the
// connections between an instance and Redis without closing them, as a
// network partition does: the bus goes unhealthy and clears; once the
// network heals, it subscribes again on a new connection (the old one
// never fails) and applies messages again.
func TestBusSubscribesAgainOnANewConnectionAfterASilentPartition(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	proxy := newPartitionProxy(t, srv.Addr)
	src := newVersions()
	o := instanceOptions{channel: "partition", storeTimeout: 50 * time.Millisecond, bus: fastBeat}
	o.bus.Timeout = 50 * time.Millisecond
	cut := newInstance(t, proxy.addr(), src, o)
	other := newInstance(t, srv.Addr, src, o)
	waitHealthy(t, cut, other)
	require.Equal(t, "k@0", cut.read(t, "k"))

	proxy.partition()
	require.Eventually(t, func() bool { return cut.bus.Stats().Clears.HeartbeatLost > 0 }, waitFor, time.Millisecond)
	require.Equal(t, "k@0", cut.read(t, "k"), "reads go on, from the source")
	subscribed := cut.bus.Stats().Clears.Subscribed
	proxy.heal() // the old connections stay dead
	require.Eventually(t, func() bool {
		st := cut.bus.Stats()
		return st.Health.String() == "healthy" && st.Clears.Subscribed > subscribed
	}, waitFor, time.Millisecond, "the bus subscribes again on a new connection")

	src.bump("k")
	require.NoError(t, pipeline.Invalidate(t.Context(), other.stack, "k"))
	require.Eventually(t, func() bool { return cut.read(t, "k") == "k@1" }, waitFor, time.Millisecond, "messages reach it again")
}

// partitionProxy forwards TCP connections to a server until it is
// partitioned: from then on, the connections it has and those it accepts
// until it heals neither forward nor close.
type partitionProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []*proxied
	wg     sync.WaitGroup
}

// proxied is one connection through the proxy.
type proxied struct {
	client, server net.Conn
	dead           atomic.Bool
}

func newPartitionProxy(t *testing.T, target string) *partitionProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &partitionProxy{ln: ln, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *partitionProxy) addr() string { return p.ln.Addr().String() }

// accept forwards each connection until the listener closes.
func (p *partitionProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		pc := &proxied{client: c, server: s}
		p.mu.Lock()
		pc.dead.Store(p.cut)
		p.conns = append(p.conns, pc)
		p.mu.Unlock()
		p.wg.Go(func() { pc.pipe(c, s) })
		p.wg.Go(func() { pc.pipe(s, c) })
	}
}

// pipe copies from src to dst while the connection lives; once it is
// dead, it reads and drops.
func (pc *proxied) pipe(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if !pc.dead.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}

// partition kills every connection, silently, and the new ones until heal.
func (p *partitionProxy) partition() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.dead.Store(true)
	}
}

// heal lets new connections through again.
func (p *partitionProxy) heal() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// close closes everything and waits for the proxy's goroutines.
func (p *partitionProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.client.Close()
		c.server.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
