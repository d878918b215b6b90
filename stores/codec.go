package stores

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/multilayer-cache/multilayer/internal/keys"
	"github.com/multilayer-cache/multilayer/pipeline"
)

// A Codec turns values of type V into their encoded form E and back, for
// stores that keep encoded values (see Encoded).
//
// Encode returns an error for a value it cannot encode. Decode returns an
// error, never a panic, for input it cannot decode: stored data may be
// corrupt, truncated, or written by another version of the program. A Codec
// must be safe for concurrent use: a store calls it from many goroutines at
// once.
type Codec[V, E any] interface {
	Encode(v V) (E, error)
	Decode(e E) (V, error)
}

// JSON returns a Codec that encodes values as JSON text with encoding/json.
// It is safe for concurrent use. Its errors wrap those of encoding/json.
func JSON[V any]() Codec[V, []byte] { return jsonCodec[V]{} }

type jsonCodec[V any] struct{}

// Encode returns the JSON encoding of v.
func (jsonCodec[V]) Encode(v V) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("stores: json encode: %w", err)
	}
	return b, nil
}

// Decode parses the JSON text b into a V.
func (jsonCodec[V]) Decode(b []byte) (V, error) {
	var v V
	if err := json.Unmarshal(b, &v); err != nil {
		var zero V
		return zero, fmt.Errorf("stores: json decode: %w", err)
	}
	return v, nil
}

// Encoded returns a store of V values that keeps them in inner, encoded by
// codec: for example JSON text in a Map, or bytes in a store shared with
// another process. Encoded panics if inner or codec is nil.
//
// If inner is a pipeline.ExpiringStore, so is the returned store, and entries
// keep their Expires; it is then a pipeline.StaleKeeper too, whose
// KeepStale passes d on to inner if inner is one, and otherwise returns nil,
// as a cache layer does for a store that is not one; and a
// pipeline.TTLStore, whose TTL is inner's if inner is one, and otherwise 0
// (no lifetime of its own), so that a cache layer over it reports the
// lifetime inner keeps to the layers above.
//
// Get and GetEntry decode what inner holds; a stored value that does not
// decode is reported as missing (ok == false, nil error) and deleted from
// inner: corrupt data is a miss, never a failure. Set and
// SetEntry return an error wrapping the codec's error when a value does not
// encode, and store nothing. Errors of inner are returned wrapped, except
// that of the delete of a corrupt value, which is best effort. A delete of a
// corrupt value can race with a Set of the same key and delete the new value
// too; that costs a miss, never a wrong answer.
//
// If inner is a pipeline.BatchStore, so is the returned store: GetBatch and
// SetBatch make one call of inner's, and encode and decode each key as
// GetEntry and SetEntry do. GetBatch reports a value that does not decode as
// missing (pipeline.ErrNotFound) and deletes it; it passes on an error of
// inner's that is ErrNotFound as it is, and wraps any other. SetBatch stores
// the values that encode, and returns an error wrapping the first codec
// error, if any, and inner's error. Each call allocates scratch space for
// inner's values.
//
// The returned store is a pipeline.Notifier: it reports each corrupt value
// it deletes as an event of Kind pipeline.Error, with the key and the
// codec's error, and if inner is a Notifier, Notify passes the function on
// to inner, so that inner's events (evictions) reach the layer too. If inner
// is a pipeline.Meter, so is the returned store, with inner's Usage.
//
// A key that cannot live in a map (see the package doc, "Keys") never
// reaches inner: every method returns an error wrapping
// pipeline.ErrInvalidKey for it (GetBatch in the key's Result; SetBatch
// stores the other keys).
//
// The returned store also has a Clear(ctx) error method, which calls inner's
// if it has one and otherwise returns an error wrapping
// errors.ErrUnsupported. It is safe for concurrent use if inner and codec
// are.
func Encoded[K comparable, V, E any](inner pipeline.Store[K, E], codec Codec[V, E]) pipeline.Store[K, V] {
	if inner == nil {
		panic("stores: Encoded: nil inner store")
	}
	if codec == nil {
		panic("stores: Encoded: nil codec")
	}
	s := &encoded[K, V, E]{inner: inner, codec: codec, checkKeys: keys.MayBeInvalid[K]()}
	m, metered := inner.(pipeline.Meter)
	ei, ok := inner.(pipeline.ExpiringStore[K, E])
	if !ok {
		if metered {
			return &struct {
				*encoded[K, V, E]
				pipeline.Meter
			}{s, m}
		}
		return s
	}
	se := &encodedExpiring[K, V, E]{encoded: s, einner: ei}
	if bi, ok := inner.(pipeline.BatchStore[K, E]); ok {
		sb := &encodedBatch[K, V, E]{encodedExpiring: se, binner: bi}
		if metered {
			return &struct {
				*encodedBatch[K, V, E]
				pipeline.Meter
			}{sb, m}
		}
		return sb
	}
	if metered {
		return &struct {
			*encodedExpiring[K, V, E]
			pipeline.Meter
		}{se, m}
	}
	return se
}

// encoded is the store returned by Encoded over a plain Store.
type encoded[K comparable, V, E any] struct {
	inner     pipeline.Store[K, E]
	codec     Codec[V, E]
	checkKeys bool                                         // see keys.MayBeInvalid
	notify    atomic.Pointer[func(pipeline.StoreEvent[K])] // see Notify
}

// check returns an error wrapping pipeline.ErrInvalidKey if key cannot live
// in a map.
func (s *encoded[K, V, E]) check(key K) error {
	if s.checkKeys && !keys.Valid(key) {
		return invalidKey("Encoded", key)
	}
	return nil
}

// Notify makes f the function corrupt values are reported to, and passes it
// on to inner if inner is a pipeline.Notifier.
func (s *encoded[K, V, E]) Notify(f func(pipeline.StoreEvent[K])) {
	if f == nil {
		s.notify.Store(nil)
	} else {
		s.notify.Store(&f)
	}
	if n, ok := s.inner.(pipeline.Notifier[K]); ok {
		n.Notify(f)
	}
}

// Get decodes the value inner holds for key; see Encoded.
func (s *encoded[K, V, E]) Get(ctx context.Context, key K) (V, bool, error) {
	var zero V
	if err := s.check(key); err != nil {
		return zero, false, err
	}
	e, ok, err := s.inner.Get(ctx, key)
	if err != nil {
		return zero, false, fmt.Errorf("stores: encoded get: %w", err)
	}
	if !ok {
		return zero, false, nil
	}
	return s.decode(ctx, key, e)
}

// decode decodes e, stored under key; it deletes a value that does not
// decode and reports it missing.
func (s *encoded[K, V, E]) decode(ctx context.Context, key K, e E) (V, bool, error) {
	v, err := s.codec.Decode(e)
	if err != nil {
		// Corrupt data is a miss; the delete is best effort, as the next
		// Set of the key replaces the value anyway.
		_ = s.inner.Delete(ctx, key)
		if f := s.notify.Load(); f != nil {
			(*f)(pipeline.StoreEvent[K]{Kind: pipeline.Error, Key: key,
				Err: fmt.Errorf("stores: encoded: corrupt value deleted: %w", err)})
		}
		var zero V
		return zero, false, nil
	}
	return v, true, nil
}

// Set encodes value and stores it in inner; see Encoded.
func (s *encoded[K, V, E]) Set(ctx context.Context, key K, value V) error {
	if err := s.check(key); err != nil {
		return err
	}
	e, err := s.codec.Encode(value)
	if err != nil {
		return fmt.Errorf("stores: encoded set: %w", err)
	}
	if err := s.inner.Set(ctx, key, e); err != nil {
		return fmt.Errorf("stores: encoded set: %w", err)
	}
	return nil
}

// Delete deletes key from inner.
func (s *encoded[K, V, E]) Delete(ctx context.Context, key K) error {
	if err := s.check(key); err != nil {
		return err
	}
	if err := s.inner.Delete(ctx, key); err != nil {
		return fmt.Errorf("stores: encoded delete: %w", err)
	}
	return nil
}

// Clear clears inner, if it can be cleared.
func (s *encoded[K, V, E]) Clear(ctx context.Context) error {
	c, ok := s.inner.(interface{ Clear(context.Context) error })
	if !ok {
		return fmt.Errorf("stores: encoded clear: inner store has no Clear method: %w", errors.ErrUnsupported)
	}
	if err := c.Clear(ctx); err != nil {
		return fmt.Errorf("stores: encoded clear: %w", err)
	}
	return nil
}

// encodedExpiring is the store returned by Encoded over an ExpiringStore.
type encodedExpiring[K comparable, V, E any] struct {
	*encoded[K, V, E]
	einner pipeline.ExpiringStore[K, E]
}

// KeepStale passes d on to inner if inner is a pipeline.StaleKeeper, so
// that a cache layer's StaleIfError reaches it; otherwise it returns nil.
func (s *encodedExpiring[K, V, E]) KeepStale(d time.Duration) error {
	if k, ok := s.einner.(pipeline.StaleKeeper); ok {
		return k.KeepStale(d)
	}
	return nil
}

// TTL returns inner's TTL if inner is a pipeline.TTLStore, and otherwise 0:
// no lifetime of its own.
func (s *encodedExpiring[K, V, E]) TTL() time.Duration {
	if t, ok := s.einner.(pipeline.TTLStore); ok {
		return t.TTL()
	}
	return 0
}

// GetEntry decodes the entry inner holds for key; see Encoded.
func (s *encodedExpiring[K, V, E]) GetEntry(ctx context.Context, key K) (pipeline.Entry[V], bool, error) {
	if err := s.check(key); err != nil {
		return pipeline.Entry[V]{}, false, err
	}
	e, ok, err := s.einner.GetEntry(ctx, key)
	if err != nil {
		return pipeline.Entry[V]{}, false, fmt.Errorf("stores: encoded get: %w", err)
	}
	if !ok {
		return pipeline.Entry[V]{}, false, nil
	}
	v, ok, err := s.decode(ctx, key, e.Value)
	if !ok {
		return pipeline.Entry[V]{}, false, err
	}
	return pipeline.Entry[V]{Value: v, Expires: e.Expires}, true, nil
}

// SetEntry encodes e's value and stores it in inner with e's Expires.
func (s *encodedExpiring[K, V, E]) SetEntry(ctx context.Context, key K, e pipeline.Entry[V]) error {
	if err := s.check(key); err != nil {
		return err
	}
	enc, err := s.codec.Encode(e.Value)
	if err != nil {
		return fmt.Errorf("stores: encoded set: %w", err)
	}
	if err := s.einner.SetEntry(ctx, key, pipeline.Entry[E]{Value: enc, Expires: e.Expires}); err != nil {
		return fmt.Errorf("stores: encoded set: %w", err)
	}
	return nil
}

// encodedBatch is the store returned by Encoded over a BatchStore.
type encodedBatch[K comparable, V, E any] struct {
	*encodedExpiring[K, V, E]
	binner pipeline.BatchStore[K, E]
}

var _ pipeline.BatchStore[string, int] = (*encodedBatch[string, int, []byte])(nil)

// GetBatch decodes the entries inner holds for keys, read with one
// GetBatch; see Encoded.
func (s *encodedBatch[K, V, E]) GetBatch(ctx context.Context, keys []K, out []pipeline.Result[V]) {
	checkBatch("encoded GetBatch", len(keys), len(out), "results")
	pass, at := keys, []int(nil) // the keys inner gets; at[j] is the position of pass[j]
	if s.checkKeys {
		pass, at = s.validKeys(keys, out)
	}
	raw := make([]pipeline.Result[E], len(pass))
	s.binner.GetBatch(ctx, pass, raw)
	var dropped map[K]struct{} // keys deleted as corrupt: a repeat is reported once
	for j, r := range raw {
		i := j
		if at != nil {
			i = at[j]
		}
		switch {
		case r.Err == nil:
			if _, seen := dropped[keys[i]]; seen { // a nil map reads as empty
				out[i] = pipeline.Result[V]{Err: pipeline.ErrNotFound}
			} else if v, ok, _ := s.decode(ctx, keys[i], r.Value); ok {
				out[i] = pipeline.Result[V]{Entry: pipeline.Entry[V]{Value: v, Expires: r.Expires}}
			} else {
				if dropped == nil {
					dropped = make(map[K]struct{})
				}
				dropped[keys[i]] = struct{}{}
				out[i] = pipeline.Result[V]{Err: pipeline.ErrNotFound}
			}
		case errors.Is(r.Err, pipeline.ErrNotFound):
			out[i] = pipeline.Result[V]{Err: r.Err} // as it is: a miss is not a failure to wrap
		default:
			out[i] = pipeline.Result[V]{Err: fmt.Errorf("stores: encoded get: %w", r.Err)}
		}
	}
}

// validKeys writes an error to out[i] for each invalid keys[i], and returns
// the valid keys with their positions in keys; keys itself and nil if all
// are valid.
func (s *encodedBatch[K, V, E]) validKeys(keys []K, out []pipeline.Result[V]) (pass []K, at []int) {
	pass = keys
	for i, k := range keys {
		err := s.check(k)
		switch {
		case err != nil && at == nil: // the first invalid key
			out[i] = pipeline.Result[V]{Err: err}
			pass = slices.Clone(keys[:i])
			at = make([]int, i, len(keys))
			for j := range at {
				at[j] = j
			}
		case err != nil:
			out[i] = pipeline.Result[V]{Err: err}
		case at != nil:
			pass = append(pass, k)
			at = append(at, i)
		}
	}
	return pass, at
}

// SetBatch encodes the entries' values and stores those that encode, under
// valid keys, in inner with one SetBatch; see Encoded.
func (s *encodedBatch[K, V, E]) SetBatch(ctx context.Context, keys []K, entries []pipeline.Entry[V]) error {
	checkBatch("encoded SetBatch", len(keys), len(entries), "entries")
	enc := make([]pipeline.Entry[E], 0, len(entries))
	kept := keys // the keys of enc: a copy once a key is left out
	copied := false
	var encErr error
	var bad batchErr[K]
	for i, e := range entries {
		var v E
		err := s.check(keys[i])
		if err != nil {
			bad.add(keys[i])
		} else if v, err = s.codec.Encode(e.Value); err != nil && encErr == nil {
			encErr = fmt.Errorf("stores: encoded set: %w", err)
		}
		if err != nil {
			if !copied {
				kept, copied = slices.Clone(keys[:i]), true
			}
			continue
		}
		if copied {
			kept = append(kept, keys[i])
		}
		enc = append(enc, pipeline.Entry[E]{Value: v, Expires: e.Expires})
	}
	var setErr error
	if len(kept) > 0 {
		if err := s.binner.SetBatch(ctx, kept, enc); err != nil {
			setErr = fmt.Errorf("stores: encoded set: %w", err)
		}
	}
	return errors.Join(bad.err("Encoded", len(keys)), encErr, setErr)
}
