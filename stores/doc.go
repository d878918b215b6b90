// Package stores holds in-memory stores for the cache layer of package
// pipeline (pipeline.Cache), and codecs for stores that keep values encoded.
//
// # Stores
//
//   - [Map] is an unbounded map on a sync.Map, whose reads take no lock: for
//     small key sets and tests. Its zero value is ready to use.
//   - [LRU] holds at most a fixed number of entries and evicts the least
//     recently used one, on golang-lru/v2's simplelru under a mutex of its
//     own. A hit allocates nothing.
//   - [TTL] is an LRU whose entries also expire after a fixed time, with an
//     injectable clock, optional jitter, and a grace period that keeps expired
//     entries for stale-if-error. It starts no goroutine.
//   - [TwoQueue] and [ARC] hold at most a fixed number of entries and evict
//     by the 2Q and ARC policies, with the hit ratios of golang-lru's
//     TwoQueueCache and ARCCache: a few points above an LRU's on skewed
//     workloads, and a scan does not flush them.
//   - [Encoded] wraps any store and keeps its values encoded by a [Codec],
//     such as [JSON].
//
// # Cache layers in one call
//
// [LRUCache] and [TTLCache] return a cache layer over a new LRU or TTL
// store (pipeline.Cache over it), for the common case: no store to build,
// no error to check for constant sizes (a bad size panics at build time),
// and for TTLCache one lifetime for the store and the layer.
//
// Every store here is safe for concurrent use and has a Clear method, which a
// cache layer's Clear calls; all but Encoded also have Len. Package
// stores/otter holds a store on otter (W-TinyLFU, reads without a lock),
// for more cores and a byte budget.
//
// # Evictions and fill level
//
// The bounded stores (LRU, TTL, TwoQueue, ARC) implement pipeline.Notifier:
// a cache layer gives them, through Notify, a function that they call with
// an event of Kind pipeline.Evicted and the key for every entry they evict
// to make room, so that the layer counts evictions and forgets what depended
// on the key. They call it from the goroutine of the write that evicted,
// under their lock, as the Notifier contract allows. A Delete, a Clear, a
// replaced value and an entry dropped because it expired are not
// evictions. They also implement pipeline.Meter: Usage says how many
// entries they hold and their capacity. Encoded forwards both, and reports
// the corrupt values it deletes (Kind pipeline.Error).
//
// # Keys
//
// A key must be able to live in a Go map: it must be hashable and equal to
// itself. A key of an interface type holding a slice, a map or a func
// cannot be hashed, and a NaN float (or a struct, array or interface holding
// one) is not equal to itself, so a map could store it but never find or
// delete it again. Every store here answers such a key with an error
// wrapping pipeline.ErrInvalidKey, for its caller alone: it stores nothing
// and the store goes on working (GetBatch answers it in the key's Result;
// SetBatch stores the other keys and returns the error). The check costs
// nothing for key types that cannot go wrong, such as strings and ints.
//
// # Expiry
//
// Map, LRU, TTL, TwoQueue and ARC implement pipeline.ExpiringStore: they
// keep a pipeline.Entry, a value with its Expires, and the cache layer reads
// it with GetEntry and judges freshness with its own clock
// (CacheOptions.Clock). A store keeps entries; it does not decide for the
// layer. So GetEntry returns expired entries too: Map, LRU, TwoQueue and ARC
// until they are replaced, deleted or evicted, TTL until Grace after they
// expired. Encoded is an ExpiringStore when the store it wraps is one.
//
// Plain Get, for use without a cache layer, reports an expired entry as
// missing, judged by time.Now (TTL: by its clock) to within about a
// millisecond: so that a hit need not read time.Now, an entry that a clock
// refreshed every millisecond shows still fresh is served without reading
// it (TTL: only with the default clock). A zero Expires means an unknown
// lifetime: Map, LRU, TwoQueue and ARC keep such an entry until it is
// replaced, deleted or evicted, and TTL gives it its own ttl, because in a
// TTL store an unknown lifetime never means forever.
//
// LRU, TTL, TwoQueue and ARC keep Expires in Unix nanoseconds, which is
// smaller and quicker than a time.Time: GetEntry returns the instant that
// was set, in the Local location and without a monotonic clock reading
// (compare with time.Time.Equal), and an Expires outside the years 1678 to
// 2262 comes back clamped to them.
//
// # Batches
//
// Map, LRU, TTL, TwoQueue and ARC implement pipeline.BatchStore: GetBatch
// and SetBatch read and write many keys in one call, with the rules of
// GetEntry and SetEntry for each key; LRU, TTL, TwoQueue and ARC take their
// lock once for the whole batch, and Map takes none (a read that runs during
// a SetBatch may see part of it). Encoded is a BatchStore when the store it
// wraps is one.
//
// # Codecs
//
// A [Codec] encodes values for a store that keeps them in another form:
// JSON text in a Map, bytes in a shared store. Data that does not decode is
// a miss, never a failure or a crash: [Encoded] reports it missing and
// deletes it, and the cache layer fetches the value again.
package stores
