package otter_test

import (
	"sync"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/multilayer-cache/multilayer/stores/otter"
)

// TestMain checks that no goroutine outlives the tests. The process's
// coarse clock, which stores use by default, ticks until a second after
// its last read, so its goroutine is ignored; otter's maintenance
// goroutines return once their pass is done, which goleak waits for.
func TestMain(m *testing.M) {
	testkit.VerifyNoLeaks(m)
}

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func mustNew[K comparable, V any](t testing.TB, size int, opts *otter.Options) *otter.Store[K, V] {
	t.Helper()
	s, err := otter.New[K, V](size, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
