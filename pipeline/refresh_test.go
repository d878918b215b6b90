package pipeline_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// After Close, a due hit's refresh is refused; a miss of the same key that
// joined the refresh's flight in that window is released, not left waiting
// until its ctx ends:
//
//	A: hit, due → refresh opens a flight for k
//	B: miss → joins the flight of k
//	A: the closed layer refuses to start the refresh → B must be released
//
// The window has no hook, so this test is a stress test: it may need
// several runs to hit it.
func TestRefreshRefusedAfterCloseReleasesWaiters(t *testing.T) {
	t.Parallel()
	type forceMiss struct{}
	now := time.Now()
	store := newMemStore[string, string]()
	missing := &missOnCtx{memStore: store, key: forceMiss{}}
	src := newSource("k", "V")
	f := pipeline.Cache("l", missing, &pipeline.CacheOptions[string]{
		TTL: time.Minute, RefreshAhead: 2 * time.Minute, // every hit is due
		Clock: func() time.Time { return now },
	})(src)
	require.NoError(t, f.(pipeline.Closer).Close())
	_, err := f.Fetch(context.Background(), "k")
	require.NoError(t, err)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // A: due hits, each trying a refresh that background refuses
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = f.Fetch(context.Background(), "k")
		}
	})
	var hung atomic.Int64
	mctx := context.WithValue(context.Background(), forceMiss{}, true)
	for range 20000 {
		ctx, cancel := context.WithTimeout(mctx, 5*time.Second)
		_, err := f.Fetch(ctx, "k") // B: misses, joins any flight it finds
		cancel()
		if err != nil {
			hung.Add(1)
			break
		}
	}
	close(stop)
	wg.Wait()
	require.Zero(t, hung.Load(), "a waiter that joined an abandoned refresh flight hung")
}

// missOnCtx is a store that reports a miss when ctx carries key.
type missOnCtx struct {
	*memStore[string, string]
	key any
}

func (m *missOnCtx) GetEntry(ctx context.Context, k string) (pipeline.Entry[string], bool, error) {
	if ctx.Value(m.key) != nil {
		return pipeline.Entry[string]{}, false, nil
	}
	return m.memStore.GetEntry(ctx, k)
}

func (m *missOnCtx) Get(ctx context.Context, k string) (string, bool, error) {
	if ctx.Value(m.key) != nil {
		return "", false, nil
	}
	return m.memStore.Get(ctx, k)
}

// A miss that finds a refresh-ahead flight of its key joins it.
func TestMissJoinsRefreshFlight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", "V")
		rec := &recorder[string]{}
		f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
			TTL: time.Minute, RefreshAhead: 10 * time.Second, Observer: rec,
		})(src)
		defer f.(pipeline.Closer).Close()
		ctx := t.Context()
		_, err := f.Fetch(ctx, "k")
		require.NoError(t, err)

		src.gate = make(chan struct{})
		time.Sleep(55 * time.Second)
		v, err := f.Fetch(ctx, "k") // due: served, refresh starts and blocks
		require.NoError(t, err)
		require.Equal(t, "V", v)
		synctest.Wait()
		require.EqualValues(t, 2, src.calls.Load())

		time.Sleep(10 * time.Second) // expired now
		rec.list()
		got := make(chan string)
		go func() {
			v, _ := f.Fetch(ctx, "k")
			got <- v
		}()
		synctest.Wait()
		require.Equal(t, []string{"miss l k", "shared wait l k"}, rec.list())
		src.set("k", "V2")
		close(src.gate)
		require.Equal(t, "V2", <-got)
		require.EqualValues(t, 2, src.calls.Load(), "the miss joined the refresh")
	})
}

// A refresh under way when its key is invalidated is not kept.
func TestRefreshRacingInvalidationIsNotKept(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", "V")
		store := newMemStore[string, string]()
		f := pipeline.Cache("l", store, &pipeline.CacheOptions[string]{
			TTL: time.Minute, RefreshAhead: 10 * time.Second,
		})(src)
		defer f.(pipeline.Closer).Close()
		ctx := t.Context()
		_, err := f.Fetch(ctx, "k")
		require.NoError(t, err)
		src.gate = make(chan struct{})
		time.Sleep(55 * time.Second)
		_, err = f.Fetch(ctx, "k") // starts the refresh
		require.NoError(t, err)
		synctest.Wait()
		err = pipeline.Invalidate(ctx, f, "k")
		require.NoError(t, err)
		close(src.gate)
		synctest.Wait()
		require.False(t, store.has("k"), "the refresh raced the invalidation")
	})
}

// Close cancels a refresh under way and waits for it.
func TestCloseCancelsRefreshUnderWay(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", "V")
		f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
			TTL: time.Minute, RefreshAhead: 10 * time.Second, FetchTimeout: -1,
		})(src)
		ctx := t.Context()
		_, err := f.Fetch(ctx, "k")
		require.NoError(t, err)
		src.gate = make(chan struct{}) // never opens
		time.Sleep(55 * time.Second)
		_, err = f.Fetch(ctx, "k")
		require.NoError(t, err)
		synctest.Wait()
		start := time.Now()
		require.NoError(t, f.(pipeline.Closer).Close())
		require.Zero(t, time.Since(start))
		// After Close: a due hit starts no refresh, and misses still work.
		_, err = f.Fetch(ctx, "k")
		require.NoError(t, err)
		require.EqualValues(t, 2, src.calls.Load())
	})
}

// A refresh-ahead flight whose fetch began before Invalidate and returns
// the old value is neither joined by a fetch that starts after Invalidate
// returned nor kept.
func TestRefreshStartedBeforeInvalidateIsNeitherJoinedNorKept(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var clockMu sync.Mutex
		clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
		var calls atomic.Int64
		gate := make(chan struct{})
		var mu sync.Mutex
		val := "a1"
		src := pipeline.FetcherFunc[string, string](func(context.Context, string) (string, error) {
			mu.Lock()
			v := val
			mu.Unlock()
			if calls.Add(1) == 2 { // the refresh: read the old value, then wait
				<-gate
			}
			return v, nil
		})
		st := newMemStore[string, string]()
		f := pipeline.Cache("l", st, &pipeline.CacheOptions[string]{TTL: time.Minute, RefreshAhead: 30 * time.Second, Clock: clock})(src)
		v, err := f.Fetch(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, "a1", v)
		clockMu.Lock()
		now = now.Add(45 * time.Second)
		clockMu.Unlock()
		v, err = f.Fetch(ctx, "a") // due: serves a1, refreshes in the background
		require.NoError(t, err)
		require.Equal(t, "a1", v)
		synctest.Wait() // the refresh read a1 from src and waits
		mu.Lock()
		val = "a2"
		mu.Unlock()
		require.NoError(t, f.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
		v, err = f.Fetch(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, "a2", v)
		close(gate)
		synctest.Wait()
		e, ok, _ := st.GetEntry(ctx, "a")
		require.True(t, ok)
		require.Equal(t, "a2", e.Value, "the refresh of the old value was not kept")
		require.NoError(t, f.(pipeline.Closer).Close())
	})
}

// versioned is a source whose values change on demand and that counts calls.
type versioned struct {
	calls   atomic.Int64
	version atomic.Int64
	fail    atomic.Bool
	ttl     time.Duration                 // lifetime the source reports; 0: unknown
	hold    atomic.Pointer[chan struct{}] // if set, a fetch waits for it to close
}

func (s *versioned) FetchEntry(_ context.Context, k string) (pipeline.Entry[string], error) {
	s.calls.Add(1)
	if h := s.hold.Load(); h != nil {
		<-*h
	}
	if s.fail.Load() {
		return pipeline.Entry[string]{}, errBoom
	}
	e := pipeline.Entry[string]{Value: k + "@" + string(rune('0'+s.version.Load()))}
	if s.ttl > 0 {
		e.Expires = time.Now().Add(s.ttl)
	}
	return e, nil
}

func (s *versioned) Fetch(ctx context.Context, k string) (string, error) {
	e, err := s.FetchEntry(ctx, k)
	return e.Value, err
}

func TestRefreshAhead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := &versioned{}
		rec := &recorder[string]{}
		f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
			TTL: time.Minute, RefreshAhead: 10 * time.Second, Observer: rec,
		})(src)
		defer f.(pipeline.Closer).Close()
		ctx := t.Context()

		v, err := f.Fetch(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, "k@0", v)

		time.Sleep(49 * time.Second) // before the refresh age: plain hits
		_, _ = f.Fetch(ctx, "k")
		synctest.Wait()
		require.EqualValues(t, 1, src.calls.Load())

		src.version.Store(1)
		hold := make(chan struct{}) // the refresh waits until the reads are done
		src.hold.Store(&hold)
		time.Sleep(2 * time.Second) // at refresh age
		for range 5 {
			v, err = f.Fetch(ctx, "k")
			require.NoError(t, err)
			require.Equal(t, "k@0", v, "the old value at once")
		}
		src.hold.Store(nil)
		close(hold)
		synctest.Wait() // the background refresh finishes
		require.EqualValues(t, 2, src.calls.Load(), "exactly one background fetch")
		v, err = f.Fetch(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, "k@1", v, "then the new value")

		// An idle key is not refreshed: it expires.
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		require.EqualValues(t, 2, src.calls.Load(), "no refresh without reads")
		v, err = f.Fetch(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, "k@1", v)
		require.EqualValues(t, 3, src.calls.Load(), "expired: fetched synchronously")
	})
}

func TestRefreshAheadErrorsBackOffThenSurface(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := &versioned{}
		f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
			TTL: time.Minute, RefreshAhead: 30 * time.Second, RefreshBackoff: 10 * time.Second,
		})(src)
		defer f.(pipeline.Closer).Close()
		ctx := t.Context()
		_, err := f.Fetch(ctx, "k")
		require.NoError(t, err)

		src.fail.Store(true)
		time.Sleep(35 * time.Second) // due
		for range 3 {
			v, err := f.Fetch(ctx, "k")
			require.NoError(t, err)
			require.Equal(t, "k@0", v, "the old value while refreshes fail")
			synctest.Wait()
		}
		require.EqualValues(t, 2, src.calls.Load(), "one failed refresh, then backing off")
		time.Sleep(11 * time.Second) // backoff over
		_, _ = f.Fetch(ctx, "k")
		synctest.Wait()
		require.EqualValues(t, 3, src.calls.Load(), "refresh retried after the backoff")
		time.Sleep(15 * time.Second) // past the hard age
		_, err = f.Fetch(ctx, "k")
		require.ErrorIs(t, err, errBoom, "past the hard age the error surfaces")
	})
}

func TestCloseCancelsBackgroundWork(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", "V")
		src.gate = make(chan struct{}) // never opens
		f := pipeline.Cache("l", newMemStore[string, string](), nil)(src)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			_, err := f.Fetch(ctx, "k")
			done <- err
		}()
		synctest.Wait()
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		// The detached fetch still runs; Close cancels it and waits.
		require.NoError(t, f.(pipeline.Closer).Close())
		// After Close, fetches run in the caller's goroutine.
		src.gate = nil
		v, err := f.Fetch(t.Context(), "k")
		require.NoError(t, err)
		require.Equal(t, "V", v)
	})
}

// A refresh that leaves the value due (a layer over a cache whose value
// keeps its expiry: the refresh only reads that value again) backs off as
// a failed one does, instead of starting again on every hit: each would
// be a fetch below, a round trip over a remote tier.
func TestRefreshThatLeavesTheValueDueBacksOff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := &versioned{}
		inner := pipeline.Cache("inner", newMemStore[string, string](), &pipeline.CacheOptions[string]{TTL: time.Minute})(src)
		rec := &recorder[string]{}
		f := pipeline.Cache("outer", newMemStore[string, string](), &pipeline.CacheOptions[string]{
			RefreshAhead: 10 * time.Second, Observer: rec,
		})(inner)
		defer pipeline.Close(f)
		ctx := t.Context()
		_, err := f.Fetch(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, 1, rec.count(pipeline.Fill))

		time.Sleep(55 * time.Second) // due at the outer layer; the inner value expires at 60s
		for range 20 {
			v, err := f.Fetch(ctx, "k")
			require.NoError(t, err)
			require.Equal(t, "k@0", v)
			synctest.Wait()
		}
		require.Equal(t, 2, rec.count(pipeline.Fill), "one refresh, which left the value due: then backing off")
		require.EqualValues(t, 1, src.calls.Load())

		time.Sleep(2 * time.Second) // the backoff (RefreshBackoff, 1s) is over
		_, err = f.Fetch(ctx, "k")
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, 3, rec.count(pipeline.Fill), "refreshed again after the backoff")
	})
}
