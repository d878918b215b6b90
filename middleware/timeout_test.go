package middleware_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/middleware"
	"github.com/multilayer-cache/multilayer/pipeline"
)

var errHungUp = errors.New("hung up")

// slow is a source that takes delay to answer a key, or fails when its ctx
// ends first: with ctx.Err(), or with errHungUp (not wrapping the ctx
// error) for the key "rude". The key "missing" is not found.
func slow(delay time.Duration) pipeline.FetcherFunc[string, string] {
	return func(ctx context.Context, k string) (string, error) {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			if k == "rude" {
				return "", errHungUp
			}
			return "", ctx.Err()
		}
		if k == "missing" {
			return "", pipeline.ErrNotFound
		}
		return k, nil
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		delay     time.Duration // the source's
		key       string
		deadline  time.Duration // the caller's, if any
		cancel    time.Duration // when the caller cancels, if it does
		want      string
		wantIs    []error
		wantNotIs []error
		wantMsg   string
		wantAfter time.Duration
	}{
		{name: "in time", delay: time.Second, key: "a", want: "a", wantAfter: time.Second},
		{name: "not found in time", delay: time.Second, key: "missing", wantIs: []error{pipeline.ErrNotFound}, wantMsg: "pipeline: not found", wantAfter: time.Second},
		{
			name: "fires", delay: time.Hour, key: "a",
			wantIs:    []error{context.DeadlineExceeded},
			wantMsg:   "middleware: timeout after 2s: context deadline exceeded",
			wantAfter: 2 * time.Second,
		},
		{
			name: "fires, below says something else", delay: time.Hour, key: "rude",
			wantIs:    []error{context.DeadlineExceeded, errHungUp},
			wantMsg:   "middleware: timeout after 2s: context deadline exceeded: hung up",
			wantAfter: 2 * time.Second,
		},
		{
			name: "caller's sooner deadline", delay: time.Hour, key: "a", deadline: time.Second,
			wantIs:    []error{context.DeadlineExceeded},
			wantMsg:   "context deadline exceeded",
			wantAfter: time.Second,
		},
		{
			name: "caller's later deadline", delay: time.Hour, key: "a", deadline: time.Minute,
			wantIs:    []error{context.DeadlineExceeded},
			wantMsg:   "middleware: timeout after 2s: context deadline exceeded",
			wantAfter: 2 * time.Second,
		},
		{
			name: "caller cancels", delay: time.Hour, key: "a", cancel: time.Second,
			wantIs:    []error{context.Canceled},
			wantNotIs: []error{context.DeadlineExceeded},
			wantMsg:   "context canceled",
			wantAfter: time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := middleware.Timeout[string, string](2 * time.Second)(slow(tt.delay))
				ctx := t.Context()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				if tt.cancel > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithCancel(ctx)
					defer time.AfterFunc(tt.cancel, cancel).Stop()
				}
				start := time.Now()
				v, err := f.Fetch(ctx, tt.key)
				require.Equal(t, tt.wantAfter, time.Since(start))
				if tt.wantMsg == "" {
					require.NoError(t, err)
					require.Equal(t, tt.want, v)
					return
				}
				require.EqualError(t, err, tt.wantMsg)
				for _, target := range tt.wantIs {
					require.ErrorIs(t, err, target)
				}
				for _, target := range tt.wantNotIs {
					require.NotErrorIs(t, err, target)
				}
			})
		})
	}
}

// TestTimeoutOverCache: a caller that gives up on a shared fetch leaves it
// running for the others, and the value is stored when it comes.
func TestTimeoutOverCache(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		src := pipeline.FetcherFunc[string, string](func(ctx context.Context, k string) (string, error) {
			select {
			case <-gate:
				return k, nil
			case <-ctx.Done():
				return "", ctx.Err()
			}
		})
		mem := testkit.NewMap[string, string]()
		cache := pipeline.Cache("c", mem, nil)(src)
		impatient := middleware.Timeout[string, string](time.Second)(cache)
		patient := middleware.Timeout[string, string](time.Hour)(cache)

		var wg sync.WaitGroup
		var patientV string
		var patientErr error
		wg.Go(func() { patientV, patientErr = patient.Fetch(t.Context(), "k") })
		synctest.Wait()
		_, err := impatient.Fetch(t.Context(), "k")
		close(gate)
		wg.Wait()

		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.True(t, strings.HasPrefix(err.Error(), "middleware: timeout after 1s: "), err.Error())
		require.NoError(t, patientErr)
		require.Equal(t, "k", patientV)
		require.True(t, mem.Has("k"))
	})
}

func TestTimeoutBatch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bulk := pipeline.BulkFunc[string, string](func(ctx context.Context, keys []string) (map[string]string, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		f := middleware.Timeout[string, string](time.Second)(bulk)
		res := pipeline.FetchMany(t.Context(), f, []string{"a", "b"})
		for _, r := range res {
			require.ErrorIs(t, r.Err, context.DeadlineExceeded)
			require.EqualError(t, r.Err, "middleware: timeout after 1s: context deadline exceeded")
		}
	})
}

func TestTimeoutDescribe(t *testing.T) {
	t.Parallel()
	p := &probe{}
	d := middleware.Timeout[string, string](1500 * time.Millisecond)(p).(pipeline.Describer).Describe()
	require.Equal(t, pipeline.Description{Kind: "timeout", Detail: "1.5s", Next: []any{p}}, d)
}

func TestTimeoutPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		build func()
		want  string
	}{
		{name: "zero", build: func() { middleware.Timeout[string, string](0) }, want: "middleware: Timeout: non-positive duration"},
		{name: "negative", build: func() { middleware.Timeout[string, string](-time.Second) }, want: "middleware: Timeout: non-positive duration"},
		{name: "nil next", build: func() { middleware.Timeout[string, string](time.Second)(nil) }, want: "middleware: Timeout: nil next Fetcher"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.PanicsWithValue(t, tt.want, tt.build)
		})
	}
}

// TestTimeoutBatchKeepsCallersSoonerDeadline: a caller's sooner deadline governs a
// batch, and its error is not named after the layer.
func TestTimeoutBatchKeepsCallersSoonerDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bulk := pipeline.BulkFunc[string, string](func(ctx context.Context, keys []string) (map[string]string, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		f := middleware.Timeout[string, string](time.Hour)(bulk)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		res := pipeline.FetchMany(ctx, f, []string{"a", "b"})
		require.Equal(t, time.Second, time.Since(start))
		for _, r := range res {
			require.Equal(t, context.DeadlineExceeded, r.Err, "the caller's own error, unchanged")
		}
	})
}

// TestTimeoutSoonerOfNestedNamesItself: of two Timeouts, the sooner one names
// itself, whichever is outer.
func TestTimeoutSoonerOfNestedNamesItself(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		outer, inner time.Duration
	}{
		{name: "outer sooner", outer: time.Second, inner: time.Minute},
		{name: "inner sooner", outer: time.Minute, inner: time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := pipeline.Chain(middleware.Timeout[string, string](tc.outer), middleware.Timeout[string, string](tc.inner))(slow(time.Hour))
				_, err := f.Fetch(t.Context(), "a")
				require.ErrorIs(t, err, context.DeadlineExceeded)
				require.EqualError(t, err, "middleware: timeout after 1s: context deadline exceeded")
			})
		})
	}
}
