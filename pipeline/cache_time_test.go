package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

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

func TestExpiryFlowsThroughThreeLayers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := &versioned{ttl: 10 * time.Second}
		opts := &pipeline.CacheOptions[string]{TTL: 60 * time.Second}
		l0 := pipeline.Cache("l0", newMemStore[string, string](), opts)(src)
		l1 := pipeline.Cache("l1", newMemStore[string, string](), opts)(l0)
		l2 := pipeline.Cache("l2", newMemStore[string, string](), opts)(l1)
		_, err := l2.Fetch(t.Context(), "k")
		require.NoError(t, err)
		time.Sleep(9 * time.Second)
		for _, f := range []pipeline.Fetcher[string, string]{l2, l1, l0} {
			_, err = f.Fetch(t.Context(), "k")
			require.NoError(t, err)
		}
		require.EqualValues(t, 1, src.calls.Load())
		time.Sleep(time.Second)
		for _, f := range []pipeline.Fetcher[string, string]{l0, l1, l2} {
			src.calls.Store(0)
			err = pipeline.Invalidate(t.Context(), f, "unrelated")
			require.NoError(t, err)
		}
		// After 10 s no layer serves the value: each reaches the source.
		_, err = l2.Fetch(t.Context(), "k")
		require.NoError(t, err)
		require.EqualValues(t, 1, src.calls.Load(), "l2 expired, l1 expired, l0 expired: one source call")
	})
}

// upper is a test layer mapping "blob/version" keys to "blob", as a key
// mapper does; it describes itself so that cache layers see through it.
type upper struct {
	next pipeline.Fetcher[string, string]
}

func (u upper) inner(k string) string { b, _, _ := strings.Cut(k, "/"); return b }
func (u upper) Fetch(ctx context.Context, k string) (string, error) {
	v, err := u.next.Fetch(ctx, u.inner(k))
	return strings.ToUpper(v), err
}
func (u upper) Describe() pipeline.Description {
	return pipeline.Description{Kind: "map key", Next: []any{u.next}}
}
func (u upper) Clear(ctx context.Context) error {
	if c, ok := u.next.(pipeline.Clearer); ok {
		return c.Clear(ctx)
	}
	return nil
}
func (u upper) Invalidate(ctx context.Context, k string) error {
	err := pipeline.Invalidate(ctx, u.next, u.inner(k))
	return err
}

func TestInvalidateTree(t *testing.T) {
	t.Parallel()
	src := newSource("a", "a1", "b", "b1")
	rawStore := newMemStore[string, string]()
	raw := pipeline.Cache("raw", rawStore, nil)(src)
	leftStore, rightStore := newMemStore[string, string](), newMemStore[string, string]()
	left := pipeline.Cache("left", leftStore, nil)(upper{raw})
	right := pipeline.Cache("right", rightStore, nil)(upper{raw})
	ctx := t.Context()

	for _, f := range []pipeline.Fetcher[string, string]{left, right} {
		for _, k := range []string{"a/0", "a/1", "b/0"} {
			_, err := f.Fetch(ctx, k)
			require.NoError(t, err)
		}
	}
	require.EqualValues(t, 2, src.calls.Load(), "the second branch is served by the shared layer")

	src.set("a", "a2")
	require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
	for _, s := range []*memStore[string, string]{leftStore, rightStore} {
		require.False(t, s.has("a/0"))
		require.False(t, s.has("a/1"))
		require.True(t, s.has("b/0"), "unrelated keys stay")
	}
	v, err := left.Fetch(ctx, "a/1")
	require.NoError(t, err)
	require.Equal(t, "A2", v)
	v, err = right.Fetch(ctx, "a/0")
	require.NoError(t, err)
	require.Equal(t, "A2", v)
	require.EqualValues(t, 3, src.calls.Load())

	// Invalidating at the top of one branch goes inward, and so reaches the
	// other branch too: both derived from the shared value.
	src.set("a", "a3")
	require.NoError(t, left.(pipeline.Invalidator[string]).Invalidate(ctx, "a/1"))
	v, err = right.Fetch(ctx, "a/0")
	require.NoError(t, err)
	require.Equal(t, "A3", v)

	// Batches record their dependents too.
	res := pipeline.FetchMany(ctx, right, []string{"a/5", "b/5"})
	require.NoError(t, res[0].Err)
	require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, "b"))
	require.False(t, rightStore.has("b/5"))
	require.True(t, rightStore.has("a/5"))
}

type clearStore struct{ *memStore[string, string] }

func (c clearStore) Clear(context.Context) error {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
	return nil
}

func TestClearTree(t *testing.T) {
	t.Parallel()
	src := newSource("a", "a1")
	rawStore, leftStore := clearStore{newMemStore[string, string]()}, clearStore{newMemStore[string, string]()}
	raw := pipeline.Cache("raw", rawStore, nil)(src)
	left := pipeline.Cache("left", leftStore, nil)(upper{raw})
	_, err := left.Fetch(t.Context(), "a/0")
	require.NoError(t, err)
	require.NoError(t, raw.(pipeline.Clearer).Clear(t.Context()))
	require.False(t, leftStore.has("a/0"), "clearing a shared layer clears its dependents")

	_, err = left.Fetch(t.Context(), "a/0")
	require.NoError(t, err)
	require.NoError(t, left.(pipeline.Clearer).Clear(t.Context()))
	require.False(t, rawStore.has("a"), "Clear goes inward")

	plain := pipeline.Cache("plain", newMemStore[string, string](), nil)(src)
	require.ErrorIs(t, plain.(pipeline.Clearer).Clear(t.Context()), errors.ErrUnsupported)
}

func TestDependentsBounded(t *testing.T) {
	t.Parallel()
	src := newSource()
	for i := range 50 {
		src.set(string(rune('a'+i)), "v")
	}
	raw := pipeline.Cache("raw", newMemStore[string, string](), &pipeline.CacheOptions[string]{DependentsBytes: 1000})(src)
	topStore := newMemStore[string, string]()
	top := pipeline.Cache("top", topStore, nil)(upper{raw})
	for i := range 50 {
		_, err := top.Fetch(t.Context(), string(rune('a'+i))+"/0")
		require.NoError(t, err)
	}
	topStore.mu.Lock()
	n := len(topStore.m)
	topStore.mu.Unlock()
	require.LessOrEqual(t, n, 11, "values whose dependency was forgotten are dropped")
	// Every value still in the top layer is still protected.
	for i := range 50 {
		k := string(rune('a' + i))
		require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(t.Context(), k))
		require.False(t, topStore.has(k+"/0"))
	}
}

// A layer with its own Clock judges expiry by that clock, not by the
// store's Get (which judges by time.Now): with a clock an hour behind, an
// entry filled with TTL 1m is expired for Get but fresh for the layer, and
// hits. Without a Clock, an entry expired by time.Now is fetched again.
func TestOwnClockJudgesExpiryOverStoreGet(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	src := pipeline.FetcherFunc[string, string](func(_ context.Context, k string) (string, error) {
		calls.Add(1)
		return "v" + k, nil
	})
	clock := func() time.Time { return time.Now().Add(-time.Hour) }
	f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
		TTL: time.Minute, Clock: clock,
	})(src)
	ctx := context.Background()
	_, err := f.Fetch(ctx, "k")
	require.NoError(t, err)
	v, err := f.Fetch(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "vk", v)
	res := pipeline.FetchMany(ctx, f, []string{"k"})
	require.NoError(t, res[0].Err)
	require.EqualValues(t, 1, calls.Load(), "fresh by the layer's clock: hits")

	// And the plain fast path does refetch an entry expired by time.Now.
	plainStore := newMemStore[string, string]()
	require.NoError(t, plainStore.SetEntry(ctx, "k", pipeline.Entry[string]{Value: "old", Expires: time.Now().Add(-time.Second)}))
	g := pipeline.Cache("g", plainStore, &pipeline.CacheOptions[string]{TTL: time.Minute})(src)
	v, err = g.Fetch(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "vk", v)
	res = pipeline.FetchMany(ctx, g, []string{"k"})
	require.Equal(t, "vk", res[0].Value)
}
