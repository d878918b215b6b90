// Package testkit holds what the tests of several packages share, in the
// spirit of net/http/httptest.
package testkit

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/multilayer-cache/multilayer/internal/clock"
)

// VerifyNoLeaks runs the tests of a package and fails if they leave
// goroutines behind. It ignores the coarse clock's goroutine, which lives as
// long as the program (see internal/clock). Call it from TestMain.
func VerifyNoLeaks(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(clock.TickerFunction))
}
