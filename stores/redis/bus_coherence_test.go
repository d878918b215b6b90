package redis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/internal/redistest"
	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

// TestBusKeepsEightInstancesCoherent is the acceptance test of the bus: 8
// instances over one Redis, one writer, readers at a fixed rate. Once an
// instance has applied the invalidation of a version (or is the writer,
// whose Invalidate returned), no read that starts there returns an older
// version. It logs how long every update took to reach all instances.
func TestBusKeepsEightInstancesCoherent(t *testing.T) {
	t.Parallel()
	const (
		instances = 8
		keys      = 4
		perKey    = 60 // updates of each key: 240 in all
		readEvery = 2 * time.Millisecond
		writeGap  = 5 * time.Millisecond
		// sourceLatency widens the window in which a fill that read the
		// source before an update writes to Redis after the update's
		// delete: the Redis layer's guard against it is not the bus's.
		sourceLatency = 5 * time.Millisecond
	)
	srv := startServer(t)
	src := newVersions()
	src.delay = sourceLatency
	key := func(k int) string { return fmt.Sprintf("key%d", k) }
	index := map[string]int{}
	for k := range keys {
		index[key(k)] = k
	}

	var floor [instances][keys]atomic.Int64 // the oldest version a read may return
	var applied [instances][keys]atomic.Int64
	var appliedAt [instances][keys][perKey + 1]atomic.Int64 // unix nanoseconds
	ins := make([]*instance, instances)
	for i := range ins {
		o := instanceOptions{channel: "coherence", bus: fastBeat}
		o.bus.Observer = pipeline.ObserverFunc[string](func(_ context.Context, e pipeline.Event[string]) {
			if e.Kind != pipeline.Invalidated {
				return
			}
			k := index[e.Key]
			j := applied[i][k].Add(1) // the j-th invalidation of a key is that of its version j
			if j <= perKey {
				appliedAt[i][k][j].Store(time.Now().UnixNano())
			}
			floor[i][k].Store(j)
		})
		ins[i] = newInstance(t, srv.Addr, src, o)
	}
	waitHealthy(t, ins...)

	type stale struct {
		instance, key int
		got, floor    int64
		inRedis       bool // Redis held the value read, when the read was found stale
	}
	var (
		mu     sync.Mutex
		stales []stale
		errs   []error
		reads  atomic.Int64
	)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for i, in := range ins {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for k := range keys {
					f := floor[i][k].Load()
					v, err := in.stack.Fetch(context.Background(), key(k))
					reads.Add(1)
					mu.Lock()
					switch {
					case err != nil:
						errs = append(errs, err)
					case versionOf(v) < f:
						inRedis := redisHolds(srv, key(k), v)
						stales = append(stales, stale{i, k, versionOf(v), f, inRedis})
					}
					mu.Unlock()
				}
				time.Sleep(readEvery) // the readers' rate, not a wait for an outcome
			}
		})
	}

	var sentAt [keys][perKey + 1]time.Time
	writer := ins[0]
	ctx := t.Context()
	for j := 1; j <= perKey; j++ {
		for k := range keys {
			sentAt[k][j] = time.Now()
			require.Equal(t, int64(j), src.bump(key(k)))
			require.NoError(t, pipeline.Invalidate(ctx, writer.stack, key(k)))
			floor[0][k].Store(int64(j))
			time.Sleep(writeGap) // the writer's rate
		}
	}
	for i := 1; i < instances; i++ {
		for k := range keys {
			require.Eventually(t, func() bool { return applied[i][k].Load() == perKey }, waitFor, time.Millisecond,
				"instance %d applies every invalidation of key %d", i, k)
		}
	}
	close(stop)
	readers.Wait()

	var all, each []time.Duration
	for k := range keys {
		for j := 1; j <= perKey; j++ {
			var last time.Duration
			for i := 1; i < instances; i++ {
				d := time.Unix(0, appliedAt[i][k][j].Load()).Sub(sentAt[k][j])
				each = append(each, d)
				last = max(last, d)
			}
			all = append(all, last)
		}
	}
	p50, p99, worst := percentiles(all)
	t.Logf("%d updates, %d reads on %d instances; until all %d instances applied an update (from the start of the writer's Invalidate): p50 %v, p99 %v, max %v",
		keys*perKey, reads.Load(), instances, instances, p50, p99, worst)
	p50, p99, worst = percentiles(each)
	t.Logf("until one instance applied an update: p50 %v, p99 %v, max %v", p50, p99, worst)
	for i, in := range ins {
		st := in.bus.Stats()
		require.Zero(t, st.DecodeErrors+st.DropErrors, "instance %d: %+v", i, st)
		require.Equal(t, uint64(1), st.Clears.Subscribed, "instance %d subscribed once: %+v", i, st)
	}
	require.Empty(t, errs, "every read succeeds")
	require.Empty(t, stales, "no read returns a version older than one whose invalidation the instance applied")
}

// redisHolds reports whether Redis holds value under the key of the
// Redis layer of the test's instances.
func redisHolds(srv *redistest.Server, key, value string) bool {
	raw, err := srv.Do("GET", "coherence:0:"+key)
	if err != nil {
		return false
	}
	e, err := redis.ParseEnvelope([]byte(raw))
	var v string
	return err == nil && json.Unmarshal(e.Value, &v) == nil && v == value
}

// versionOf returns the version in a value "key@version", or -1.
func versionOf(value string) int64 {
	i := strings.LastIndexByte(value, '@')
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseInt(value[i+1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}
