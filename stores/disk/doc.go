// Package disk holds a store that keeps byte values in files in a
// directory, so that a cache survives a restart: the raw-file layer of a
// service that caches files from a bucket, for example.
//
//	store, err := disk.Open("/var/cache/myservice", 10<<30, nil)
//	if err != nil { ... }
//	defer store.Close()
//	raw := pipeline.Cache("raw_files", store, nil)(bucket)
//
// A [Store] implements pipeline.BatchStore[string, []byte],
// pipeline.Notifier[string] and pipeline.Meter. Typed values go through
// stores.Encoded, other key types through middleware.MapKey.
//
// # Files
//
// Each entry is one file, named after its key so that no key (empty, very
// long, binary, invalid UTF-8, "../../etc/passwd") can name a file outside
// the directory: a key of at most 64 bytes is encoded in base32 (0-9, a-v),
// a longer one is hashed with SHA-256. The files are spread over 256
// subdirectories. A file holds a header (a format version, the entry's
// expiry, a CRC-32C checksum), the key and the value. A file that is
// truncated, damaged, of another format or of another key is a miss: it is
// removed and reported (see [Store.Notify]) with an error wrapping
// [ErrCorrupt].
//
// # Writes
//
// A write goes to a temporary file, which is fsynced if [Options].Sync is
// set, then renamed over the old file, so a reader sees the old value or the
// new one, never a part of one. Open removes the temporary files of writes
// that a crash interrupted. A write that fails (a full disk, a removed
// directory) is an error for that write and leaves its key absent; under a
// cache layer, the fetched value is still returned. A read that fails is a
// miss, and is reported.
//
// # Budget and eviction
//
// The files take at most the budget given to [Open], counted as the sum of
// their sizes, headers and keys included, temporary files not (the blocks
// they use on disk may be more). The budget holds at every moment, and so
// after every Set returns: a Set makes room before it renames its file into
// place. Room is made by removing the least recently used files.
// Recency is exact within a process, and survives a Close and an Open in
// the index file. After a crash it is approximate: Open orders the files by
// modification time, which a read updates at most once per
// [Options].TouchEvery (a minute by default) and which the file system keeps
// to a few milliseconds. Evictions are reported with Kind pipeline.Evicted.
// A file that cannot be removed is reported with Kind pipeline.Error and
// passed over (it becomes the most recently used, and still counts against
// the budget); a Set fails only if no file can be removed.
//
// Open rebuilds its index of the files from the directory: from the index
// file that Close wrote, checked against the listing of the subdirectories,
// or, after a crash, from the listing and one stat per file. It reads no
// entry's file, and evicts down to the budget if it shrank.
//
// # Expiry
//
// The store keeps the Expires of each entry in its file. GetEntry returns
// an entry as it was set, expired or not, with Expires in the Local
// location (clamped to the years 1678 to 2262); Get reports an entry whose
// non-zero Expires has passed as missing. Expired files are not removed on
// their own: they leave by eviction, Delete or Clear.
//
// # One store per directory
//
// The directory belongs to the store: give it one of its own. Open removes
// from its subdirectories 00 to ff every file that is not an entry's, and
// keeps the index of the files in memory (and in the file "index" between
// a Close and the next Open), so files changed behind its back are found
// only when read. It belongs to one open Store at a time. Open takes an
// exclusive flock(2) lock on the file "lock" in it and returns an error
// wrapping [ErrLocked] if another Store holds it, in this process or
// another. The lock works on Linux, macOS, FreeBSD, NetBSD, OpenBSD and
// DragonFly BSD on local file systems, and is released by Close or when the
// process ends, however it ends (a process the program was starting then
// holds a copy of the lock until its exec, so Open tries again for up to
// 100ms before it reports ErrLocked). On other systems (Windows among
// them) the store is not locked and two processes on one directory are not
// detected: do not share a directory there. The store is tested on Linux.
//
// Within a process a Store is safe for concurrent use by many goroutines:
// reads run in parallel; the renames and removals of writes, deletes and
// evictions take a lock of the store, so that its index always matches the
// directory.
package disk
