package pipeline_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
)

// With NoCoalesce, a negatively cached key repeated in a batch gets the
// remembered not found at every position, never the value of the key that
// follows it: with keys [x, y, x] and x remembered as not found, out[2] is
// ErrNotFound, not y's value.
func TestNoCoalesceBatchRepeatedNegativeKeyGetsItsOwnError(t *testing.T) {
	t.Parallel()
	bulk := &bulkSource{}
	f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
		NoCoalesce: true, NegativeTTL: time.Minute,
	})(pipeline.BulkFunc[string, string](bulk.fetch))
	ctx := context.Background()
	_, err := f.Fetch(ctx, "x") // remembered as not found
	require.ErrorIs(t, err, pipeline.ErrNotFound)

	res := pipeline.FetchMany(ctx, f, []string{"x", "y", "x"})
	require.ErrorIs(t, res[0].Err, pipeline.ErrNotFound)
	require.NoError(t, res[1].Err)
	require.Equal(t, "vy", res[1].Value)
	require.ErrorIs(t, res[2].Err, pipeline.ErrNotFound, "x must not get y's value %q", res[2].Value)
}

// With NoCoalesce, a negatively cached key repeated in a batch with no
// missed key after it gets ErrNotFound at every position, never a zero
// value with a nil error (which the Fetcher contract forbids).
func TestNoCoalesceBatchRepeatedNegativeKeyAloneGetsNotFound(t *testing.T) {
	t.Parallel()
	bulk := &bulkSource{}
	f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
		NoCoalesce: true, NegativeTTL: time.Minute,
	})(pipeline.BulkFunc[string, string](bulk.fetch))
	ctx := context.Background()
	_, err := f.Fetch(ctx, "x")
	require.ErrorIs(t, err, pipeline.ErrNotFound)

	res := pipeline.FetchMany(ctx, f, []string{"x", "x"})
	require.ErrorIs(t, res[0].Err, pipeline.ErrNotFound)
	require.ErrorIs(t, res[1].Err, pipeline.ErrNotFound)
}

// A not-found answer that raced an invalidation of its key is not
// remembered by the negative cache: a fetch that starts after Invalidate
// returned asks below again. With NoCoalesce too, where the fetch is in no
// flight for the drop to void, so the fill must see the drop by the
// layer's drop count, as a value's fill does.
//
//	A: Fetch(k) misses, the source decides "not found" (slow reply)
//	B: writes k at the source, Invalidate(k) returns
//	A: gets not found
//	C: Fetch(k) after Invalidate returned → the value, not ErrNotFound
func TestNegativeFillRacingInvalidationIsNotKept(t *testing.T) {
	t.Parallel()
	for _, noCoalesce := range []bool{false, true} {
		t.Run(map[bool]string{false: "coalescing", true: "NoCoalesce"}[noCoalesce], func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				data := map[string]string{}
				gate := make(chan struct{})
				src := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
					mu.Lock()
					v, ok := data[k]
					mu.Unlock()
					<-gate // the answer is decided, the reply is slow
					if !ok {
						return "", fmt.Errorf("%s: %w", k, pipeline.ErrNotFound)
					}
					return v, nil
				})
				f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
					NegativeTTL: time.Hour, NoCoalesce: noCoalesce,
				})(src)
				errc := make(chan error)
				go func() {
					_, err := f.Fetch(t.Context(), "k")
					errc <- err
				}()
				synctest.Wait()
				mu.Lock()
				data["k"] = "V"
				mu.Unlock()
				require.NoError(t, pipeline.Invalidate(t.Context(), f, "k"))
				close(gate)
				require.ErrorIs(t, <-errc, pipeline.ErrNotFound, "the raced fetch itself may answer not found")

				v, err := f.Fetch(t.Context(), "k")
				require.NoError(t, err, "a fetch that starts after Invalidate returned must not be answered by the negative cache")
				require.Equal(t, "V", v)
			})
		})
	}
}

// Tree with negative caching: an outer layer that remembers a not found
// derived from an inner key forgets it when that inner key is invalidated,
// so after Invalidate(inner) returned the outer layer serves the value the
// inner layer now has.
func TestTreeInnerInvalidateDropsOuterNegativeEntry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newSource()
	raw := pipeline.Cache("raw", newMemStore[string, string](), nil)(src)
	top := pipeline.Cache("top", newMemStore[string, string](), &pipeline.CacheOptions[string]{NegativeTTL: time.Hour})(upper{raw})

	_, err := top.Fetch(ctx, "a/0")
	require.ErrorIs(t, err, pipeline.ErrNotFound)
	src.set("a", "a1")
	require.NoError(t, raw.(pipeline.Invalidator[string]).Invalidate(ctx, "a"))
	v, err := raw.Fetch(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "a1", v)

	v, err = top.Fetch(ctx, "a/0")
	require.NoError(t, err, "the outer layer must not keep a not-found derived from the invalidated inner key")
	require.Equal(t, "A1", v)
}

// Negative-cached keys, repeated, among keys the batch fetches, joins and
// rechecks: each occurrence of a remembered key gets the remembered error,
// and the others their values.
func TestBatchRepeatedNegativeKeysAmongFetchedKeys(t *testing.T) {
	for _, cancellable := range []bool{false, true} {
		t.Run(fmt.Sprintf("cancellable=%v", cancellable), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				bulk := &gatedBulk{hold: map[string]bool{"g": true}, gate: make(chan struct{})}
				ms := newMemStore[string, string]()
				f := pipeline.Cache("l", ms, &pipeline.CacheOptions[string]{NegativeTTL: time.Hour})(pipeline.BulkFunc[string, string](bulk.fetch))
				bg := context.Background()
				require.ErrorIs(t, pipeline.FetchMany(bg, f, []string{"x1"})[0].Err, pipeline.ErrNotFound)
				go pipeline.FetchMany(bg, f, []string{"g"})
				synctest.Wait() // g is in flight
				ctx, cancel := batchCtx(cancellable)
				defer cancel()
				keys := []string{"x1", "g", "m", "x1", "g", "m", "x2", "x2"}
				resc := make(chan []pipeline.Result[string], 1)
				go func() { resc <- pipeline.FetchMany(ctx, f, keys) }()
				synctest.Wait()
				close(bulk.gate)
				res := <-resc
				for i, k := range keys {
					if k[0] == 'x' {
						require.ErrorIs(t, res[i].Err, pipeline.ErrNotFound, i)
						require.Empty(t, res[i].Value, i)
						continue
					}
					require.NoError(t, res[i].Err, i)
					require.Equal(t, "v"+k, res[i].Value, i)
				}
				synctest.Wait()
				require.ElementsMatch(t, [][]string{{"x1"}, {"g"}, {"m", "x2"}}, bulk.list())
				require.NoError(t, f.(pipeline.Closer).Close())
			})
		})
	}
}

// Negative caching through a tree: an outer layer that remembers a not
// found derived from an inner read that raced an invalidation of the inner
// key forgets it; and a single layer's negative entry does not outlive
// Invalidate.
func TestNegativeEntryDoesNotOutliveInvalidate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		src := newSource()
		inStore := newMemStore[string, string]()
		in := pipeline.Cache("in", inStore, &pipeline.CacheOptions[string]{NegativeTTL: time.Hour})(src)
		outer := pipeline.Cache("outer", newMemStore[string, string](), &pipeline.CacheOptions[string]{NegativeTTL: time.Hour})(upperNoCase{in})
		read, release := make(chan struct{}), make(chan struct{})
		inStore.afterGet = func() {
			inStore.afterGet = nil
			close(read)
			<-release
		}
		first := make(chan error, 1)
		go func() { _, err := outer.Fetch(ctx, "a/x"); first <- err }()
		<-read // outer's fill read in's store (absent) and will get not found
		src.set("a", "a1")
		done := make(chan error, 1)
		go func() { done <- in.(pipeline.Invalidator[string]).Invalidate(ctx, "a") }()
		synctest.Wait()
		close(release)
		require.NoError(t, <-done)
		<-first
		v, err := outer.Fetch(ctx, "a/x")
		require.NoError(t, err)
		require.Equal(t, "a1", v)

		// A batch that fetched not-found before an invalidation.
		src2 := newSource()
		l := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{NegativeTTL: time.Hour})(src2)
		require.ErrorIs(t, pipeline.FetchMany(ctx, l, []string{"k"})[0].Err, pipeline.ErrNotFound)
		src2.set("k", "k1")
		require.NoError(t, l.(pipeline.Invalidator[string]).Invalidate(ctx, "k"))
		res := pipeline.FetchMany(ctx, l, []string{"k", "k"})
		require.NoError(t, res[0].Err)
		require.Equal(t, "k1", res[1].Value)
	})
}

func TestCacheNegative(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock()
	src := newSource()
	rec := &recorder[string]{}
	f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
		NegativeTTL: 10 * time.Second, Clock: clk.Now, Observer: rec,
	})(src)
	for range 5 {
		_, err := f.Fetch(t.Context(), "missing")
		require.ErrorIs(t, err, pipeline.ErrNotFound)
	}
	require.EqualValues(t, 1, src.calls.Load(), "within the negative TTL")
	require.Equal(t, 4, rec.count(pipeline.NegativeHit))

	clk.Advance(10 * time.Second)
	_, err := f.Fetch(t.Context(), "missing")
	require.ErrorIs(t, err, pipeline.ErrNotFound)
	require.EqualValues(t, 2, src.calls.Load(), "after the negative TTL")

	// The key appears; an invalidation drops the negative entry.
	src.set("missing", "here")
	_, err = f.Fetch(t.Context(), "missing")
	require.ErrorIs(t, err, pipeline.ErrNotFound)
	err = pipeline.Invalidate(t.Context(), f, "missing")
	require.NoError(t, err)
	v, err := f.Fetch(t.Context(), "missing")
	require.NoError(t, err)
	require.Equal(t, "here", v)
}

func TestCacheNegativeBounded(t *testing.T) {
	t.Parallel()
	src := newSource()
	f := pipeline.Cache("l", newMemStore[string, string](), &pipeline.CacheOptions[string]{
		NegativeTTL: time.Hour, NegativeSize: 10,
	})(src)
	for i := range 100 {
		_, err := f.Fetch(t.Context(), string(rune('a'+i)))
		require.ErrorIs(t, err, pipeline.ErrNotFound)
	}
	// The most recent key is remembered; the bound held (old ones forgotten).
	_, err := f.Fetch(t.Context(), string(rune('a'+99)))
	require.ErrorIs(t, err, pipeline.ErrNotFound)
	require.EqualValues(t, 100, src.calls.Load())
}
