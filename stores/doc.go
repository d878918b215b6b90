// Package stores holds in-memory stores for the cache layer of package
// pipeline (pipeline.Cache), and codecs for stores that keep values encoded.
//
// # Stores
//
//   - [Map] is an unbounded map under a mutex: for small key sets and tests.
//     Its zero value is ready to use.
//   - [LRU] holds at most a fixed number of entries and evicts the least
//     recently used one, on golang-lru/v2's simplelru under a mutex of its
//     own. A hit allocates nothing.
//   - [TTL] is an LRU whose entries also expire after a fixed time, with an
//     injectable clock, optional jitter, and a grace period that keeps expired
//     entries for stale-if-error. It starts no goroutine.
//   - [Encoded] wraps any store and keeps its values encoded by a [Codec],
//     such as [JSON].
//
// Every store here is safe for concurrent use and has a Clear method, which a
// cache layer's Clear calls; Map, LRU and TTL also have Len.
//
// Keys must be hashable, as Go map keys must. A key of an interface type
// whose value cannot be hashed (a slice, a map or a func in an any key)
// makes the call panic, as a map would, and leaves the store usable (see
// pipeline.MayHoldUnhashable); under a cache layer it never gets here, for
// the layer answers it with an error wrapping pipeline.ErrInvalidKey.
//
// # Expiry
//
// Map, LRU and TTL implement pipeline.ExpiringStore: they keep a
// pipeline.Entry, a value with its Expires, and the cache layer reads it with
// GetEntry and judges freshness with its own clock (CacheOptions.Clock). A
// store keeps entries; it does not decide for the layer. So GetEntry returns
// expired entries too: Map and LRU until they are replaced, deleted or
// evicted, TTL until Grace after they expired. Encoded is an ExpiringStore
// when the store it wraps is one.
//
// Plain Get, for use without a cache layer, reports an expired entry as
// missing, judged by time.Now (TTL: by its clock). A zero Expires means an
// unknown lifetime: Map and LRU keep such an entry until it is replaced,
// deleted or evicted, and TTL gives it its own ttl, because in a TTL store an
// unknown lifetime never means forever.
//
// LRU and TTL keep Expires in Unix nanoseconds, which is smaller and quicker
// than a time.Time: GetEntry returns the instant that was set, in the Local
// location and without a monotonic clock reading (compare with
// time.Time.Equal), and an Expires outside the years 1678 to 2262 comes back
// clamped to them.
//
// # Batches
//
// Map, LRU and TTL implement pipeline.BatchStore: GetBatch and SetBatch read
// and write many keys under one lock, with the rules of GetEntry and SetEntry
// for each key. Encoded is a BatchStore when the store it wraps is one.
//
// # Codecs
//
// A [Codec] encodes values for a store that keeps them in another form:
// JSON text in a Map, bytes in a shared store. Data that does not decode is
// a miss, never a failure or a crash: [Encoded] reports it missing and
// deletes it, and the cache layer fetches the value again.
package stores
