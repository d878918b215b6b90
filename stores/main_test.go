package stores_test

import (
	"context"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

// requireInstant requires got to be the instant want, whatever their
// locations and monotonic clock readings: LRU and TTL return an Expires as
// time.Unix makes it.
func requireInstant(t testing.TB, want, got time.Time, msgAndArgs ...any) {
	t.Helper()
	require.WithinDuration(t, want, got, 0, msgAndArgs...)
}

// sizedStore is what every store in the package offers.
type sizedStore interface {
	pipeline.BatchStore[string, string]
	Len() int
	Clear(ctx context.Context) error
}

// storeCase builds a fresh store for a table-driven test. Stores that keep
// time (TTL) use clock.
type storeCase struct {
	name string
	new  func(t *testing.T, clock func() time.Time) sizedStore
}

// allStores returns one case per store, each big enough and long-lived
// enough that nothing is evicted or expires in a test that does not ask for
// it.
func allStores() []storeCase {
	return []storeCase{
		{name: "Map", new: func(*testing.T, func() time.Time) sizedStore { return stores.NewMap[string, string]() }},
		{name: "zero Map", new: func(*testing.T, func() time.Time) sizedStore { return &stores.Map[string, string]{} }},
		{name: "LRU", new: func(t *testing.T, _ func() time.Time) sizedStore { return mustLRU[string, string](t, 1000) }},
		{name: "TTL", new: func(t *testing.T, clock func() time.Time) sizedStore {
			return mustTTL[string, string](t, 1000, time.Hour, &stores.TTLOptions{Clock: clock})
		}},
		{name: "2Q", new: func(t *testing.T, _ func() time.Time) sizedStore { return mustTwoQueue[string, string](t, 1000) }},
		{name: "ARC", new: func(t *testing.T, _ func() time.Time) sizedStore { return mustARC[string, string](t, 1000) }},
	}
}

// keepingStores returns the cases of allStores that keep entries as they
// were set, expired or not, until they are replaced, deleted or evicted:
// all but TTL.
func keepingStores() []storeCase {
	var cases []storeCase
	for _, sc := range allStores() {
		if sc.name != "TTL" {
			cases = append(cases, sc)
		}
	}
	return cases
}

func mustTwoQueue[K comparable, V any](t testing.TB, size int) *stores.TwoQueue[K, V] {
	t.Helper()
	s, err := stores.NewTwoQueue[K, V](size)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustARC[K comparable, V any](t testing.TB, size int) *stores.ARC[K, V] {
	t.Helper()
	s, err := stores.NewARC[K, V](size)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustLRU[K comparable, V any](t testing.TB, size int) *stores.LRU[K, V] {
	t.Helper()
	l, err := stores.NewLRU[K, V](size)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustTTL[K comparable, V any](t testing.TB, size int, ttl time.Duration, opts *stores.TTLOptions) *stores.TTL[K, V] {
	t.Helper()
	s, err := stores.NewTTL[K, V](size, ttl, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
