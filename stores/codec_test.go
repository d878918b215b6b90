package stores_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/multilayer-cache/multilayer/internal/testkit"
	"github.com/stretchr/testify/require"

	"github.com/multilayer-cache/multilayer/pipeline"
	"github.com/multilayer-cache/multilayer/stores"
)

// stringCodec stores strings as bytes; "bad" does not encode and bytes
// starting with 0xff do not decode.
type stringCodec struct{}

var errCodec = errors.New("codec says no")

func (stringCodec) Encode(s string) ([]byte, error) {
	if s == "bad" {
		return nil, errCodec
	}
	return []byte(s), nil
}

func (stringCodec) Decode(b []byte) (string, error) {
	if len(b) > 0 && b[0] == 0xff {
		return "", errCodec
	}
	return string(b), nil
}

// lenStore gives an Encoded store the Len of its inner store, so it fits
// the table of sizedStores.
type lenStore struct {
	pipeline.BatchStore[string, string]
	len func() int
}

func (s lenStore) Len() int { return s.len() }

func (s lenStore) Clear(ctx context.Context) error {
	return s.BatchStore.(interface{ Clear(context.Context) error }).Clear(ctx)
}

// plainStore hides everything but the Store methods of a store.
type plainStore[K, V any] struct{ pipeline.Store[K, V] }

// expiringStore hides everything but the ExpiringStore methods of a store.
type expiringStore[K, V any] struct{ pipeline.ExpiringStore[K, V] }

type doc struct {
	Title string   `json:"title"`
	Tags  []string `json:"tags,omitempty"`
}

func TestEncodedRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		inner    func(t *testing.T) pipeline.Store[string, []byte]
		expiring bool
		batch    bool
	}{
		{name: "Map", inner: func(*testing.T) pipeline.Store[string, []byte] { return stores.NewMap[string, []byte]() }, expiring: true, batch: true},
		{name: "LRU", inner: func(t *testing.T) pipeline.Store[string, []byte] { return mustLRU[string, []byte](t, 10) }, expiring: true, batch: true},
		{name: "TTL", inner: func(t *testing.T) pipeline.Store[string, []byte] {
			return mustTTL[string, []byte](t, 10, time.Hour, nil)
		}, expiring: true, batch: true},
		{name: "ExpiringStore", inner: func(*testing.T) pipeline.Store[string, []byte] {
			return expiringStore[string, []byte]{stores.NewMap[string, []byte]()}
		}, expiring: true, batch: false},
		{name: "plain Store", inner: func(*testing.T) pipeline.Store[string, []byte] {
			return plainStore[string, []byte]{stores.NewMap[string, []byte]()}
		}, expiring: false, batch: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			inner := tc.inner(t)
			s := stores.Encoded(inner, stores.JSON[doc]())
			es, expiring := s.(pipeline.ExpiringStore[string, doc])
			require.Equal(t, tc.expiring, expiring, "an ExpiringStore inside makes an ExpiringStore")
			_, batch := s.(pipeline.BatchStore[string, doc])
			require.Equal(t, tc.batch, batch, "a BatchStore inside makes a BatchStore")

			want := doc{Title: "hello", Tags: []string{"a", "b"}}
			require.NoError(t, s.Set(ctx, "k", want))
			raw, ok, err := inner.Get(ctx, "k")
			require.NoError(t, err)
			require.True(t, ok)
			require.JSONEq(t, `{"title":"hello","tags":["a","b"]}`, string(raw), "inner keeps JSON text")

			got, ok, err := s.Get(ctx, "k")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, want, got)

			_, ok, err = s.Get(ctx, "absent")
			require.NoError(t, err)
			require.False(t, ok)

			require.NoError(t, s.Delete(ctx, "k"))
			_, ok, err = inner.Get(ctx, "k")
			require.NoError(t, err)
			require.False(t, ok, "Delete reaches inner")

			if !expiring {
				return
			}
			exp := time.Now().Add(time.Minute).Round(0)
			require.NoError(t, es.SetEntry(ctx, "e", pipeline.Entry[doc]{Value: want, Expires: exp}))
			e, ok, err := es.GetEntry(ctx, "e")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, want, e.Value)
			require.True(t, exp.Equal(e.Expires), "Expires passes through")
			ie, ok, err := inner.(pipeline.ExpiringStore[string, []byte]).GetEntry(ctx, "e")
			require.NoError(t, err)
			require.True(t, ok)
			require.True(t, exp.Equal(ie.Expires), "inner keeps the Expires")
		})
	}
}

func TestEncodedCorruptIsMiss(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		stored   string
		getEntry bool
	}{
		{name: "Get truncated", stored: `{"title":"hel`},
		{name: "Get wrong type", stored: `{"title":42}`},
		{name: "Get trailing garbage", stored: `{"title":"x"} junk`},
		{name: "Get empty", stored: ``},
		{name: "GetEntry truncated", stored: `{"title":"hel`, getEntry: true},
		{name: "GetEntry not JSON", stored: "\xff\x00", getEntry: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			raw := stores.NewMap[string, []byte]()
			s := stores.Encoded(raw, stores.JSON[doc]()).(pipeline.ExpiringStore[string, doc])
			require.NoError(t, raw.Set(ctx, "k", []byte(tc.stored)))

			var ok bool
			var err error
			if tc.getEntry {
				var e pipeline.Entry[doc]
				e, ok, err = s.GetEntry(ctx, "k")
				require.Zero(t, e)
			} else {
				var v doc
				v, ok, err = s.Get(ctx, "k")
				require.Zero(t, v)
			}
			require.NoError(t, err, "corrupt data is a miss, not an error")
			require.False(t, ok)
			require.Zero(t, raw.Len(), "corrupt data is deleted")
		})
	}
}

func TestEncodedErrors(t *testing.T) {
	t.Parallel()
	errInner := errors.New("inner down")
	failing := pipeline.StoreFuncs[string, []byte]{
		GetFunc:    func(context.Context, string) ([]byte, bool, error) { return nil, false, errInner },
		SetFunc:    func(context.Context, string, []byte) error { return errInner },
		DeleteFunc: func(context.Context, string) error { return errInner },
	}
	expiring := stores.Encoded(stores.NewMap[string, []byte](), stringCodec{}).(pipeline.ExpiringStore[string, string])
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
		want error
	}{
		{name: "Set encode error", want: errCodec, call: func(ctx context.Context) error {
			return stores.Encoded(stores.NewMap[string, []byte](), stringCodec{}).Set(ctx, "k", "bad")
		}},
		{name: "SetEntry encode error", want: errCodec, call: func(ctx context.Context) error {
			return expiring.SetEntry(ctx, "k", pipeline.Entry[string]{Value: "bad"})
		}},
		{name: "JSON encode error", want: &json.UnsupportedTypeError{}, call: func(ctx context.Context) error {
			return stores.Encoded(stores.NewMap[string, []byte](), stores.JSON[any]()).Set(ctx, "k", func() {})
		}},
		{name: "inner Get error", want: errInner, call: func(ctx context.Context) error {
			_, _, err := stores.Encoded(failing, stringCodec{}).Get(ctx, "k")
			return err
		}},
		{name: "inner Set error", want: errInner, call: func(ctx context.Context) error {
			return stores.Encoded(failing, stringCodec{}).Set(ctx, "k", "v")
		}},
		{name: "inner Delete error", want: errInner, call: func(ctx context.Context) error {
			return stores.Encoded(failing, stringCodec{}).Delete(ctx, "k")
		}},
		{name: "Clear without inner Clear", want: errors.ErrUnsupported, call: func(ctx context.Context) error {
			return stores.Encoded(failing, stringCodec{}).(interface{ Clear(context.Context) error }).Clear(ctx)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.call(t.Context())
			require.Error(t, err)
			if target, ok := tc.want.(*json.UnsupportedTypeError); ok {
				require.ErrorAs(t, err, &target)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
			require.Regexp(t, `^stores: `, err.Error())
		})
	}

	t.Run("encode error stores nothing", func(t *testing.T) {
		t.Parallel()
		raw := stores.NewMap[string, []byte]()
		s := stores.Encoded(raw, stringCodec{})
		require.NoError(t, s.Set(t.Context(), "k", "good"))
		require.Error(t, s.Set(t.Context(), "k", "bad"))
		v, ok, err := s.Get(t.Context(), "k")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "good", v, "the old value stays")
	})
	t.Run("Clear reaches inner", func(t *testing.T) {
		t.Parallel()
		raw := stores.NewMap[string, []byte]()
		s := stores.Encoded(raw, stringCodec{})
		require.NoError(t, s.Set(t.Context(), "k", "v"))
		require.NoError(t, s.(interface{ Clear(context.Context) error }).Clear(t.Context()))
		require.Zero(t, raw.Len())
	})
}

// faultyBatch is a Map whose batches fail for the key "down": GetBatch
// reports errDown for it, and SetBatch fails if it is in the batch. GetBatch
// reports the key "gone" with a wrapped pipeline.ErrNotFound.
type faultyBatch struct{ *stores.Map[string, []byte] }

var (
	errDown = errors.New("inner down")
	errGone = fmt.Errorf("inner: gone: %w", pipeline.ErrNotFound)
)

func (s faultyBatch) GetBatch(ctx context.Context, keys []string, out []pipeline.Result[[]byte]) {
	s.Map.GetBatch(ctx, keys, out)
	for i, k := range keys {
		switch k {
		case "down":
			out[i] = pipeline.Result[[]byte]{Err: errDown}
		case "gone":
			out[i] = pipeline.Result[[]byte]{Err: errGone}
		}
	}
}

func (s faultyBatch) SetBatch(ctx context.Context, keys []string, entries []pipeline.Entry[[]byte]) error {
	if slices.Contains(keys, "down") {
		return errDown
	}
	return s.Map.SetBatch(ctx, keys, entries)
}

// TestEncodedBatch checks GetBatch and SetBatch of Encoded over a
// BatchStore: each key is decoded or encoded as GetEntry and SetEntry do,
// and one key's failure is its own.
func TestEncodedBatch(t *testing.T) {
	t.Parallel()
	exp := time.Now().Add(time.Minute).Round(0)
	newStore := func() (faultyBatch, pipeline.BatchStore[string, string]) {
		raw := faultyBatch{stores.NewMap[string, []byte]()}
		return raw, stores.Encoded(raw, stringCodec{}).(pipeline.BatchStore[string, string])
	}

	t.Run("GetBatch", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		raw, s := newStore()
		require.NoError(t, raw.SetEntry(ctx, "good", pipeline.Entry[[]byte]{Value: []byte("v"), Expires: exp}))
		require.NoError(t, raw.Set(ctx, "corrupt", []byte{0xff}))

		out := getBatch(ctx, s, "good", "corrupt", "absent", "gone", "down", "good")
		requireResult(t, "v", out[0])
		require.True(t, exp.Equal(out[0].Expires), "Expires passes through")
		requireResult(t, "v", out[5])
		requireResult(t, "", out[1], "a value that does not decode is missing")
		requireResult(t, "", out[2])
		require.Same(t, errGone, out[3].Err, "inner's not-found passes on as it is")
		require.Zero(t, out[3].Entry)
		require.ErrorIs(t, out[4].Err, errDown)
		require.Regexp(t, `^stores: encoded get: `, out[4].Err.Error())
		require.Zero(t, out[4].Entry)
		_, ok, _ := raw.Get(ctx, "corrupt")
		require.False(t, ok, "a value that does not decode is deleted")
	})
	t.Run("SetBatch stores what encodes", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		raw, s := newStore()
		err := s.SetBatch(ctx,
			[]string{"a", "b", "c", "d"},
			[]pipeline.Entry[string]{{Value: "1", Expires: exp}, {Value: "bad"}, {Value: "3"}, {Value: "bad"}})
		require.ErrorIs(t, err, errCodec)
		require.Regexp(t, `^stores: encoded set: `, err.Error())
		require.Equal(t, 2, raw.Len())
		out := getBatch(ctx, s, "a", "b", "c", "d")
		requireResult(t, "1", out[0])
		require.True(t, exp.Equal(out[0].Expires), "Expires passes through")
		requireResult(t, "", out[1])
		requireResult(t, "3", out[2])
		requireResult(t, "", out[3])
	})
	t.Run("SetBatch of nothing that encodes", func(t *testing.T) {
		t.Parallel()
		raw, s := newStore()
		err := s.SetBatch(t.Context(), []string{"down"}, []pipeline.Entry[string]{{Value: "bad"}})
		require.ErrorIs(t, err, errCodec)
		require.NotErrorIs(t, err, errDown, "inner is not called")
		require.Zero(t, raw.Len())
	})
	t.Run("SetBatch error of inner", func(t *testing.T) {
		t.Parallel()
		_, s := newStore()
		err := s.SetBatch(t.Context(), []string{"a", "down", "b"}, []pipeline.Entry[string]{{Value: "1"}, {Value: "2"}, {Value: "bad"}})
		require.ErrorIs(t, err, errDown)
		require.ErrorIs(t, err, errCodec, "both errors are reported")
		require.Regexp(t, `^stores: encoded set: `, err.Error())
	})
}

func TestEncodedPanicsOnNil(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		call func()
		want string
	}{
		{name: "nil inner", call: func() { stores.Encoded[string](nil, stores.JSON[int]()) }, want: "stores: Encoded: nil inner store"},
		{name: "nil codec", call: func() { stores.Encoded[string, int](stores.NewMap[string, []byte](), nil) }, want: "stores: Encoded: nil codec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.PanicsWithValue(t, tc.want, tc.call)
		})
	}
}

// FuzzJSONDecode stores arbitrary bytes where an Encoded JSON store keeps
// its values: reading them must never panic, and must be a hit with the
// value encoding/json decodes, or a miss that deletes the bytes.
func FuzzJSONDecode(f *testing.F) {
	for _, seed := range []string{
		`{"title":"a","tags":["x"]}`, `{}`, `null`, `[]`, `"s"`, `{"title":`, ``, "\xff", `{"tags":[1]}`,
		`{"title":"a"}{"title":"b"}`, `{"title":"\ud800"}`, `   {"title":"a"}  `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		raw := stores.NewMap[string, []byte]()
		s := stores.Encoded(raw, stores.JSON[doc]()).(pipeline.ExpiringStore[string, doc])
		var want doc
		decodes := json.Unmarshal(data, &want) == nil

		for _, viaEntry := range []bool{false, true} {
			require.NoError(t, raw.Set(ctx, "k", data))
			var got doc
			var ok bool
			var err error
			if viaEntry {
				var e pipeline.Entry[doc]
				e, ok, err = s.GetEntry(ctx, "k")
				got = e.Value
			} else {
				got, ok, err = s.Get(ctx, "k")
			}
			require.NoError(t, err)
			require.Equal(t, decodes, ok)
			if ok {
				require.Equal(t, want, got)
				require.Equal(t, 1, raw.Len())
			} else {
				require.Zero(t, got)
				require.Zero(t, raw.Len(), "corrupt data is deleted")
			}
		}
	})
}

// Encoded passes Notify on to a store that reports evictions, reports the
// corrupt values it deletes itself, and is a Meter when its store is one.
func TestEncodedForwardsEvictionsAndUsage(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	lru := mustLRU[string, []byte](t, 2)
	s := stores.Encoded(lru, stringCodec{})
	n, ok := s.(pipeline.Notifier[string])
	require.True(t, ok, "Encoded is a Notifier")
	m, ok := s.(pipeline.Meter)
	require.True(t, ok, "Encoded over a Meter is a Meter")
	_, ok = s.(pipeline.BatchStore[string, string])
	require.True(t, ok, "and still a BatchStore")

	var mu sync.Mutex
	var events []pipeline.StoreEvent[string]
	n.Notify(func(e pipeline.StoreEvent[string]) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	})
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, s.Set(ctx, k, k))
	}
	require.Equal(t, pipeline.Usage{Entries: 2, Capacity: 2}, m.Usage())
	require.NoError(t, lru.Set(ctx, "b", []byte{0xff}))
	_, ok, err := s.Get(ctx, "b")
	require.NoError(t, err)
	require.False(t, ok, "corrupt is a miss")

	require.Len(t, events, 2)
	require.Equal(t, pipeline.StoreEvent[string]{Kind: pipeline.Evicted, Key: "a"}, events[0])
	require.Equal(t, pipeline.Error, events[1].Kind)
	require.Equal(t, "b", events[1].Key)
	require.ErrorIs(t, events[1].Err, errCodec)
}

// TestEncodedGetBatchReportsARepeatedCorruptKeyOnce: a key repeated in a
// GetBatch whose value does not decode is missing at every position, and
// its value is deleted and reported once, as one corrupt value, not once
// per position.
func TestEncodedGetBatchReportsARepeatedCorruptKeyOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	lru := mustLRU[string, []byte](t, 4)
	s := stores.Encoded(lru, stringCodec{}).(pipeline.BatchStore[string, string])
	var events []pipeline.StoreEvent[string]
	s.(pipeline.Notifier[string]).Notify(func(e pipeline.StoreEvent[string]) { events = append(events, e) })
	require.NoError(t, lru.Set(ctx, "corrupt", []byte{0xff}))
	require.NoError(t, s.Set(ctx, "good", "v"))

	out := getBatch(ctx, s, "corrupt", "good", "corrupt")
	requireResult(t, "", out[0], "a value that does not decode is missing")
	requireResult(t, "v", out[1])
	requireResult(t, "", out[2], "at each of its positions")
	_, ok, err := lru.Get(ctx, "corrupt")
	require.NoError(t, err)
	require.False(t, ok, "a value that does not decode is deleted")
	require.Len(t, events, 1, "one corrupt value, one report: %v", events)
	require.Equal(t, pipeline.Error, events[0].Kind)
	require.Equal(t, "corrupt", events[0].Key)
	require.ErrorIs(t, events[0].Err, errCodec)
}

// Encoded over a store that is neither a Notifier nor a Meter is a Notifier
// of the corrupt values it finds, and no Meter, for every kind of store.
func TestEncodedIsAMeterOnlyOverAMeter(t *testing.T) {
	t.Parallel()
	lru := mustLRU[string, []byte](t, 2)
	for _, tc := range []struct {
		name  string
		inner pipeline.Store[string, []byte]
		meter bool
	}{
		{name: "Map", inner: stores.NewMap[string, []byte]()},
		{name: "LRU", inner: lru, meter: true},
		{name: "plain LRU", inner: plainStore[string, []byte]{lru}},
		{name: "expiring LRU", inner: expiringStore[string, []byte]{lru}},
		{name: "plain meter", inner: struct {
			plainStore[string, []byte]
			pipeline.Meter
		}{plainStore[string, []byte]{lru}, lru}, meter: true},
		{name: "expiring meter", inner: struct {
			expiringStore[string, []byte]
			pipeline.Meter
		}{expiringStore[string, []byte]{lru}, lru}, meter: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := stores.Encoded(tc.inner, stringCodec{})
			_, isMeter := s.(pipeline.Meter)
			require.Equal(t, tc.meter, isMeter)
			_, isNotifier := s.(pipeline.Notifier[string])
			require.True(t, isNotifier)
			_, innerExpiring := tc.inner.(pipeline.ExpiringStore[string, []byte])
			_, expiring := s.(pipeline.ExpiringStore[string, string])
			require.Equal(t, innerExpiring, expiring)
		})
	}
}

// TestEncodedOverTTLKeepsTTLRules: Encoded over a TTL keeps the TTL's rules: the
// cap on SetEntry, expiry on Get, and a corrupt value is a miss, deleted.
func TestEncodedOverTTLKeepsTTLRules(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := testkit.NewClock()
	raw := mustTTL[string, []byte](t, 4, time.Minute, &stores.TTLOptions{Clock: clock.Now})
	s, ok := stores.Encoded(raw, stores.JSON[map[string]int]()).(pipeline.ExpiringStore[string, map[string]int])
	require.True(t, ok)

	require.NoError(t, s.SetEntry(ctx, "k", pipeline.Entry[map[string]int]{Value: map[string]int{"a": 1}}))
	e, ok, err := s.GetEntry(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, map[string]int{"a": 1}, e.Value)
	requireInstant(t, clock.Now().Add(time.Minute), e.Expires, "zero Expires gets the TTL")

	require.NoError(t, raw.Set(ctx, "bad", []byte(`{"a":`)))
	_, ok, err = s.GetEntry(ctx, "bad")
	require.NoError(t, err)
	require.False(t, ok)
	_, ok, _ = raw.GetEntry(ctx, "bad")
	require.False(t, ok, "corrupt data is deleted")

	clock.Advance(time.Minute)
	_, ok, err = s.Get(ctx, "k")
	require.NoError(t, err)
	require.False(t, ok)
}

// Encoded is a pipeline.TTLStore over any store; its TTL is the inner
// store's, or 0 (no lifetime of its own) if the inner store has none.
func TestEncodedTTLIsTheInnerStoresOrZero(t *testing.T) {
	t.Parallel()
	ttl, ok := stores.Encoded(mustTTL[string, []byte](t, 10, time.Minute, nil), stores.JSON[int]()).(pipeline.TTLStore)
	require.True(t, ok)
	require.Equal(t, time.Minute, ttl.TTL())
	lru, err := stores.NewLRU[string, []byte](10)
	require.NoError(t, err)
	ttl, ok = stores.Encoded(lru, stores.JSON[int]()).(pipeline.TTLStore)
	require.True(t, ok)
	require.Zero(t, ttl.TTL())
}
