package disk_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores/disk"
)

func TestBudgetHoldsAfterEverySet(t *testing.T) {
	t.Parallel()
	const budget = 10_000
	dir := t.TempDir()
	s := mustOpen(t, dir, budget, nil)
	ev := record(s)
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		key := fmt.Sprintf("key-%d", rng.IntN(50))
		require.NoError(t, s.Set(ctx, key, make([]byte, rng.IntN(2000))))
		on := totalSize(entryFiles(t, dir))
		require.LessOrEqual(t, on, int64(budget), "after set %d", i)
		require.Equal(t, on, s.Usage().Bytes, "the index counts what the directory holds")
		require.Len(t, entryFiles(t, dir), s.Len())
	}
	require.NotEmpty(t, ev.evicted())
}

func TestBudgetHoldsUnderEightConcurrentWriters(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		shared bool // the writers write the same keys
	}{
		{name: "distinct keys"},
		{name: "shared keys", shared: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const budget, writers, sets = 64 << 10, 8, 100
			dir := t.TempDir()
			s := mustOpen(t, dir, budget, nil)
			ev := record(s)
			ctx := t.Context()
			var wg sync.WaitGroup
			over := make([]int64, writers) // the most bytes each writer saw after a Set
			errs := make([]error, writers)
			for w := range writers {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					for i := range sets {
						key := fmt.Sprintf("w%d-%d", w, i)
						if tc.shared {
							key = fmt.Sprintf("k%d", rng.IntN(40))
						}
						if err := s.Set(ctx, key, make([]byte, 100+rng.IntN(3000))); err != nil {
							errs[w] = err
							return
						}
						over[w] = max(over[w], s.Usage().Bytes)
						_, _, _ = s.Get(ctx, fmt.Sprintf("w%d-%d", (w+1)%writers, i)) // readers too
					}
				})
			}
			wg.Wait()
			for w := range writers {
				require.NoError(t, errs[w])
				require.LessOrEqual(t, over[w], int64(budget))
			}
			on := entryFiles(t, dir)
			require.LessOrEqual(t, totalSize(on), int64(budget))
			require.Equal(t, totalSize(on), s.Usage().Bytes)
			require.Len(t, on, s.Len())
			if !tc.shared {
				require.Len(t, ev.evicted(), writers*sets-s.Len(), "every entry that left was evicted and reported")
			}
		})
	}
}

func TestEvictionRemovesTheLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 3*fileSize("a", 100), nil)
	ev := record(s)
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, s.Set(ctx, k, make([]byte, 100)))
	}
	_, ok, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.True(t, ok)

	require.NoError(t, s.Set(ctx, "d", make([]byte, 100)))
	require.Equal(t, []string{"b"}, ev.evicted())
	require.NoError(t, s.Set(ctx, "e", make([]byte, 150)))
	require.Equal(t, []string{"b", "c", "a"}, ev.evicted(), "as many as it takes")
	for _, k := range []string{"d", "e"} {
		_, ok, err := s.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok, k)
	}
	require.Len(t, entryFiles(t, dir), 2)
}

func TestReplacingAKeyDoesNotEvictItsOwnOldFileFirst(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir(), 2*fileSize("a", 100), nil)
	ev := record(s)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "a", make([]byte, 100)))
	require.NoError(t, s.Set(ctx, "b", make([]byte, 100)))
	require.NoError(t, s.Set(ctx, "a", make([]byte, 100))) // a was the oldest
	require.Empty(t, ev.evicted())
	require.Equal(t, 2, s.Len())
}

func TestValueLargerThanTheBudgetIsErrTooLarge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, 1000, nil)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "a", []byte("small")))
	require.NoError(t, s.Set(ctx, "b", []byte("small")))

	err := s.Set(ctx, "a", []byte(strings.Repeat("x", 1000)))
	require.ErrorIs(t, err, disk.ErrTooLarge)
	_, ok, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.False(t, ok, "a failed Set leaves its key absent, not holding the old value")
	_, ok, err = s.Get(ctx, "b")
	require.NoError(t, err)
	require.True(t, ok, "nothing was evicted for it")
	require.Len(t, entryFiles(t, dir), 1)
}

func TestEvictedEventsNameTheirKeysAfterAReopen(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("long key ", 20) // hashed into its file name
	dir := t.TempDir()
	s := mustOpen(t, dir, 1<<20, nil)
	ctx := t.Context()
	require.NoError(t, s.Set(ctx, "short", make([]byte, 100)))
	require.NoError(t, s.Set(ctx, long, make([]byte, 100)))
	require.NoError(t, s.Close())

	s = mustOpen(t, dir, 1<<20, nil)
	ev := record(s)
	require.NoError(t, s.Set(ctx, "big", make([]byte, 1<<20-100)))
	require.ElementsMatch(t, []string{"short", long}, ev.evicted())
	for _, e := range ev.all() {
		require.Equal(t, pipeline.Evicted, e.Kind)
		require.NoError(t, e.Err)
	}
}

func TestConcurrentUseKeepsTheIndexMatchingTheDirectory(t *testing.T) {
	t.Parallel()
	const budget = 32 << 10
	dir := t.TempDir()
	s := mustOpen(t, dir, budget, nil)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for range 300 {
				key := fmt.Sprintf("k%d", rng.IntN(30))
				var err error
				switch op := rng.IntN(100); {
				case op < 40:
					err = s.Set(ctx, key, make([]byte, rng.IntN(4000)))
				case op < 75:
					_, _, err = s.Get(ctx, key)
				case op < 85:
					out := make([]pipeline.Result[[]byte], 3)
					s.GetBatch(ctx, []string{key, "k1", key}, out)
				case op < 97:
					err = s.Delete(ctx, key)
				default:
					err = s.Clear(ctx)
				}
				if err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	on := entryFiles(t, dir)
	require.Empty(t, tempFiles(t, dir))
	require.Equal(t, pipeline.Usage{Entries: len(on), Bytes: totalSize(on), MaxBytes: budget}, s.Usage())
	require.LessOrEqual(t, totalSize(on), int64(budget))
}
