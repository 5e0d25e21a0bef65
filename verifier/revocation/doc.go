// Package revocation holds the verifier's replica of the authority's
// revocation log: the set of revoked block revocation IDs that every token
// is checked against before any Datalog runs.
//
// A Biscuit token has one revocation ID per block, the block's signature.
// Revoking a block revokes every token attenuated from it, so a verifier
// denies a token if any one of its IDs is revoked. The path through this
// package:
//
//  1. Pick a [Store]. In production that is
//     [github.com/mandate-dev/mandate/verifier/revocation/badgerstore], which
//     keeps the entries on disk and survives restarts and crashes; in tests
//     and for short-lived tools, [NewMemory].
//  2. Feed it the log. Each log record becomes an [Entry]: the raw ID bytes,
//     the log's sequence number Seq, and ExpiresAt, after which no token the
//     ID could match is valid. [Store.Add] is idempotent, so replaying a part
//     of the log is harmless; resume following the log after
//     [Store.LastSeq], which never covers an entry the store does not hold.
//  3. On every decision, pass all of the token's revocation IDs to
//     [Store.Revoked] at once. It answers from memory, without allocating,
//     in well under a microsecond with a million entries.
//  4. Drop expired entries so the set stays bounded: badgerstore does it in
//     the background; with a [Memory], call [Memory.Purge] periodically.
//
// Three things people get wrong:
//
//   - IDs are raw bytes. The authority's API and logs show them in hex;
//     decode before adding or checking, or nothing will ever match. Add
//     rejects IDs longer than [MaxIDLen] (a hex-encoded 64-byte ID is 128
//     characters, so it fits: the length check cannot catch this mistake).
//   - Revoked reports an index, not a bool: -1 means "not revoked", and 0 is
//     the first ID. Test for != -1, never for a truthy value.
//   - A closed store fails closed: Revoked reports every token revoked. Do
//     not close the store while the verifier is still serving.
//
// Every Store implementation is held to the contract written on [Store] by
// the shared conformance suite in
// [github.com/mandate-dev/mandate/verifier/revocation/revocationtest].
package revocation
