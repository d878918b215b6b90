package otter_test

import (
	"testing"

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

func mustNew[K comparable, V any](t testing.TB, size int, opts *otter.Options) *otter.Store[K, V] {
	t.Helper()
	s, err := otter.New[K, V](size, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
