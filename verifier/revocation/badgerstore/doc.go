// Package badgerstore is the default durable [revocation.Store] of a
// verifier: its replica of the authority's revocation log, kept in an
// embedded Badger database in a directory of its own.
//
// Use it in three steps:
//
//  1. [Open] the directory at start-up. Open loads every unexpired entry
//     into memory (about a second for a million entries) and only then
//     returns, so the verifier never serves from a half-loaded set.
//  2. Feed it the revocation log with [Store.Add], resuming after
//     [Store.LastSeq]. Add returns once the entries are on disk and synced:
//     a revocation it acknowledged survives kill -9 of the process.
//  3. Check tokens with [Store.Revoked], which reads only memory, and
//     [Store.Close] the store on shutdown.
//
// Entries carry their ExpiresAt to Badger as a TTL, rounded up to the next
// second, so Badger forgets them on its own once no token they could match
// is valid; a background goroutine purges them from memory and runs
// value-log garbage collection.
//
// Memory: the in-memory set takes about 180 MB per million entries;
// Badger adds its memtables (two of 16 MiB) and an 8 MiB block cache.
//
// One directory belongs to one process: Badger locks it, and a second Open
// of the same directory fails until the first store is closed (or its
// process has exited).
package badgerstore
