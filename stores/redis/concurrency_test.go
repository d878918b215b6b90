package redis_test

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/redis"
)

// TestConcurrentCallsAndClearsNeverFail runs every kind of call from many
// goroutines while the generation keeps moving and falling due, for the race
// detector, and checks that none fails and that the stores end up in the
// generation Redis holds.
func TestConcurrentCallsAndClearsNeverFail(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	client := newClient(t, srv.Addr)
	clock := &tickingClock{now: time.Now()} // every reading is a millisecond later: refreshes keep falling due
	opts := &redis.Options{GenerationRefresh: time.Millisecond, Clock: clock.Now}
	a, b := newStore(t, client, "conc", opts), newStore(t, client, "conc", opts)
	ctx := t.Context()

	const workers, rounds = 8, 50
	errs := make(chan error, workers*rounds*5)
	var wg sync.WaitGroup
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range rounds {
				k := strconv.Itoa(i % 7)
				errs <- s.Set(ctx, k, []byte(k))
				_, _, err := s.Get(ctx, k)
				errs <- err
				out := make([]pipeline.Result[[]byte], 2)
				s.GetBatch(ctx, []string{k, "x"}, out)
				if out[0].Err != nil && !errors.Is(out[0].Err, pipeline.ErrNotFound) {
					errs <- out[0].Err
				}
				errs <- s.Delete(ctx, k)
				if i%10 == 0 {
					errs <- s.Clear(ctx)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	require.NoError(t, a.Set(ctx, "last", []byte("v")))
	requireHit(t, b, "last", []byte("v"), "both stores are in the generation Redis holds")
}

// tickingClock is a clock that moves a millisecond each time it is read.
type tickingClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *tickingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}
