package redis

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// newTestBreaker returns a breaker with threshold 3 and openFor 1s on the
// clock *now.
func newTestBreaker(now *time.Time) *breaker {
	return &breaker{threshold: 3, openFor: time.Second, now: func() time.Time { return *now }}
}

func TestBreakerOpensAfterThresholdFailuresInARow(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	b := newTestBreaker(&now)
	for range 2 {
		require.True(t, b.allow())
		_, changed := b.done(failed)
		require.False(t, changed)
	}
	require.True(t, b.allow())
	_, _ = b.done(succeeded) // a success starts the count again
	for range 2 {
		require.True(t, b.allow())
		_, _ = b.done(failed)
	}
	require.Equal(t, Closed, BreakerState(b.state.Load()))
	require.True(t, b.allow())
	to, changed := b.done(failed)
	require.True(t, changed)
	require.Equal(t, Open, to)
	require.False(t, b.allow(), "an open breaker refuses calls")
}

func TestBreakerLetsOneProbeThroughAfterOpenFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		probe     outcome
		wantState BreakerState
		changed   bool
	}{
		{name: "a successful probe closes it", probe: succeeded, wantState: Closed, changed: true},
		{name: "a failed probe opens it again", probe: failed, wantState: Open, changed: true},
		{name: "a probe whose caller gave up lets another probe", probe: neutral, wantState: HalfOpen, changed: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := time.Unix(1000, 0)
			b := newTestBreaker(&now)
			for range 3 {
				b.allow()
				b.done(failed)
			}
			now = now.Add(999 * time.Millisecond)
			require.False(t, b.allow(), "not yet")
			now = now.Add(time.Millisecond)
			require.True(t, b.allow(), "the probe")
			require.Equal(t, HalfOpen, BreakerState(b.state.Load()))
			require.False(t, b.allow(), "one probe at a time")

			to, changed := b.done(tt.probe)
			require.Equal(t, tt.changed, changed)
			require.Equal(t, tt.wantState, to)
			if tt.probe == neutral {
				require.True(t, b.allow(), "the next call probes")
			}
			if tt.probe == failed {
				require.False(t, b.allow(), "open for another OpenFor")
				now = now.Add(time.Second)
				require.True(t, b.allow())
			}
		})
	}
}

func TestBreakerIgnoresCallsThatEndWhileItIsOpen(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	b := newTestBreaker(&now)
	for range 3 {
		b.allow()
		b.done(failed)
	}
	_, changed := b.done(succeeded) // a call that started before it opened
	require.False(t, changed)
	require.Equal(t, Open, BreakerState(b.state.Load()), "only a probe closes it")
}

func TestCallerCancellationDoesNotCountAsAFailure(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	b := newTestBreaker(&now)
	for range 10 {
		require.True(t, b.allow())
		_, changed := b.done(neutral)
		require.False(t, changed)
	}
	require.Equal(t, Closed, BreakerState(b.state.Load()))
}

func TestBreakerStateNames(t *testing.T) {
	t.Parallel()
	require.Equal(t, "closed", Closed.String())
	require.Equal(t, "open", Open.String())
	require.Equal(t, "half-open", HalfOpen.String())
	require.Equal(t, "BreakerState(?)", BreakerState(9).String())
}
