package pipeline

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/multilayer-cache/multilayer/internal/keys"
)

// DefaultBatchConcurrency is how many single fetches run at once when a
// batch reaches a Fetcher that cannot batch and no limit was given.
const DefaultBatchConcurrency = 16

// A Result is the outcome of fetching one key of a batch: an entry, or an
// error (wrapping ErrNotFound when the key has no value).
type Result[V any] struct {
	Entry[V]
	// Err is the key's error; nil when Entry holds its value.
	Err error
}

// A BatchFetcher is a Fetcher that can fetch many keys in one call. It is
// optional, in the spirit of http.Flusher: every stock layer implements it
// and keeps batches whole (a cache layer serves what it holds and passes
// only its misses down in one call), and a source with a bulk API implements
// it through [BulkFunc].
//
// FetchBatch writes the result of keys[i] to out[i]; len(out) == len(keys).
// One key's failure does not fail the others. keys may repeat; each distinct
// key is fetched from below at most once. When ctx ends, FetchBatch returns
// promptly with ctx.Err() for the keys it has not finished. FetchBatch must
// not keep keys or out after it returns.
type BatchFetcher[K, V any] interface {
	Fetcher[K, V]
	FetchBatch(ctx context.Context, keys []K, out []Result[V])
}

// FetchMany fetches keys through f and returns their results, aligned with
// keys. It uses f's batch support if it has any (see BatchFetcher), and
// otherwise runs single fetches, DefaultBatchConcurrency at a time. The
// returned slice is the only allocation of a batch whose keys all hit.
func FetchMany[K comparable, V any](ctx context.Context, f Fetcher[K, V], keys []K) []Result[V] {
	out := make([]Result[V], len(keys))
	if len(keys) > 0 {
		Batches[K, V](f, 0).FetchBatch(ctx, keys, out)
	}
	return out
}

// Batches returns f as a BatchFetcher: f itself if it is one, otherwise an
// adapter that fetches the distinct keys of a batch with single fetches, at
// most limit at a time (DefaultBatchConcurrency if limit <= 0). Layers call
// it once, at build time.
func Batches[K comparable, V any](f Fetcher[K, V], limit int) BatchFetcher[K, V] {
	if bf, ok := f.(BatchFetcher[K, V]); ok {
		return bf
	}
	if limit <= 0 {
		limit = DefaultBatchConcurrency
	}
	return &fanOut[K, V]{EntryFetcher: Entries(f), limit: limit}
}

// distinctBatcher is a BatchFetcher that can skip looking for repeated
// keys when its caller knows there are none, as a cache layer does.
type distinctBatcher[K, V any] interface {
	fetchDistinct(ctx context.Context, keys []K, out []Result[V])
}

// fanOut runs a batch as concurrent single fetches under a limit.
type fanOut[K comparable, V any] struct {
	EntryFetcher[K, V]
	limit int
}

func (f *fanOut[K, V]) FetchBatch(ctx context.Context, keys []K, out []Result[V]) {
	uniq, first := distinct(keys, out)
	f.fetch(ctx, keys, uniq, out)
	copyDuplicates(out, first)
}

func (f *fanOut[K, V]) fetchDistinct(ctx context.Context, keys []K, out []Result[V]) {
	f.fetch(ctx, keys, nil, out)
}

// fetch fetches the keys at the indexes uniq (every key if uniq is nil).
func (f *fanOut[K, V]) fetch(ctx context.Context, keys []K, uniq []int, out []Result[V]) {
	// A cache layer above marks the batch so that the cache layers below
	// know which of its keys each value serves; give each key its own mark.
	m, _ := ctx.Value(markerKey{}).(marker)
	one := func(i int) Result[V] {
		if m != nil {
			return f.one(context.WithValue(ctx, markerKey{}, keyMarker{m, i, len(keys)}), keys[i])
		}
		return f.one(ctx, keys[i])
	}
	n := len(uniq)
	index := func(j int) int { return uniq[j] }
	if uniq == nil {
		n = len(keys)
		index = func(j int) int { return j }
	}
	workers := min(f.limit, n)
	if workers <= 1 {
		for j := range n {
			out[index(j)] = one(index(j))
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				j := int(next.Add(1)) - 1
				if j >= n {
					return
				}
				out[index(j)] = one(index(j))
			}
		})
	}
	wg.Wait()
}

// one fetches a key, unless ctx has ended, turning a panic into an error so
// that it cannot kill a worker goroutine.
func (f *fanOut[K, V]) one(ctx context.Context, key K) (r Result[V]) {
	if err := ctx.Err(); err != nil {
		return Result[V]{Err: err}
	}
	defer func() {
		if p := recover(); p != nil {
			r = Result[V]{Err: &PanicError{Layer: "batch", Value: p, Stack: debug.Stack()}}
		}
	}()
	e, err := f.FetchEntry(ctx, key)
	return Result[V]{Entry: e, Err: err}
}

// distinct returns the index of the first occurrence of each key (uniq)
// and, if a key repeats, the index of the first occurrence of every key
// (first; nil when no key repeats). A key that cannot be hashed (see
// ErrInvalidKey) is in neither: it gets an error wrapping ErrInvalidKey in
// out, and first is not nil.
func distinct[K comparable, V any](ks []K, out []Result[V]) (uniq []int, first []int) {
	uniq = make([]int, 0, len(ks))
	seen := make(map[K]int, len(ks))
	check := keys.MayBeInvalid[K]()
	for i, k := range ks {
		if check && !keys.Valid(k) {
			out[i] = Result[V]{Err: fmt.Errorf("pipeline: key %v of type %T: %w", k, k, ErrInvalidKey)}
			first = selfIndexes(first, len(ks))
			continue
		}
		if j, ok := seen[k]; ok {
			first = selfIndexes(first, len(ks))
			first[i] = j
			continue
		}
		seen[k] = i
		uniq = append(uniq, i)
	}
	return uniq, first
}

// selfIndexes returns first, or, if it is nil, a new slice of n indexes that
// each point to themselves.
func selfIndexes(first []int, n int) []int {
	if first == nil {
		first = make([]int, n)
		for i := range first {
			first[i] = i
		}
	}
	return first
}

// copyDuplicates gives every repeated key the result of its first occurrence.
func copyDuplicates[V any](out []Result[V], first []int) {
	for i, j := range first {
		if i != j {
			out[i] = out[j]
		}
	}
}

// The BulkFunc type is an adapter to allow the use of a bulk source — one
// that answers many keys in one call, such as SQL's WHERE id IN (...) — as a
// BatchFetcher. The function returns the values it found; a key missing from
// the map is not found. An error fails every key of the call.
//
// The keys passed to the function are distinct. Like a BatchFetcher, the
// function must not keep them after it returns: they may be the caller's, or
// memory that a cache layer reuses.
type BulkFunc[K comparable, V any] func(ctx context.Context, keys []K) (map[K]V, error)

// Fetch fetches one key with a call of f.
func (f BulkFunc[K, V]) Fetch(ctx context.Context, key K) (V, error) {
	m, err := f(ctx, []K{key})
	if err != nil {
		var zero V
		return zero, err
	}
	v, ok := m[key]
	if !ok {
		return v, fmt.Errorf("pipeline: bulk source: %v: %w", key, ErrNotFound)
	}
	return v, nil
}

// FetchBatch fetches the distinct keys with one call of f.
func (f BulkFunc[K, V]) FetchBatch(ctx context.Context, keys []K, out []Result[V]) {
	uniq, first := distinct(keys, out)
	if first == nil {
		f.fetchDistinct(ctx, keys, out)
		return
	}
	ask := make([]K, len(uniq))
	for n, i := range uniq {
		ask[n] = keys[i]
	}
	res := make([]Result[V], len(uniq))
	f.fetchDistinct(ctx, ask, res)
	for n, i := range uniq {
		out[i] = res[n]
	}
	copyDuplicates(out, first)
}

func (f BulkFunc[K, V]) fetchDistinct(ctx context.Context, keys []K, out []Result[V]) {
	m, err := f(ctx, keys)
	for i, k := range keys {
		switch v, ok := m[k]; {
		case err != nil:
			out[i] = Result[V]{Err: err}
		case !ok:
			out[i] = Result[V]{Err: fmt.Errorf("pipeline: bulk source: %v: %w", k, ErrNotFound)}
		default:
			out[i] = Result[V]{Entry: Entry[V]{Value: v}}
		}
	}
}
