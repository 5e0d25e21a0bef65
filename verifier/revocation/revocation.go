package revocation

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Entry is one revoked block revocation ID.
type Entry struct {
	// ID is the raw revocation ID: the bytes of the block's signature
	// (64 bytes for Ed25519 blocks), not its hex form. 1 to [MaxIDLen]
	// bytes.
	ID []byte
	// Seq is the authority's revocation log sequence number of this entry,
	// or 0 if the entry was added locally and does not come from the log.
	Seq uint64
	// ExpiresAt is the instant after which no token this ID could match is
	// valid any more, so the entry can be forgotten. The zero Time means the
	// entry never expires.
	ExpiresAt time.Time
	// Hash is the entry's chain hash in the authority's log
	// (token.ChainHash), or nil for an entry that does not come from a
	// chained log. The Store keeps the Hash of the entry whose Seq is
	// LastSeq, so that a follower resumes checking the chain from it.
	Hash []byte
}

// Validate reports whether e can be stored: its ID must be 1 to [MaxIDLen]
// bytes. The error wraps [ErrInvalidEntry].
func (e Entry) Validate() error {
	if n := len(e.ID); n == 0 || n > MaxIDLen {
		return fmt.Errorf("%w: ID is %d bytes, want 1 to %d (pass the raw revocation ID bytes, not their hex form)",
			ErrInvalidEntry, n, MaxIDLen)
	}
	return nil
}

// Expired reports whether e has expired at now: now is after a non-zero
// ExpiresAt.
func (e Entry) Expired(now time.Time) bool {
	return !e.ExpiresAt.IsZero() && now.After(e.ExpiresAt)
}

var (
	// ErrClosed is returned by a [Store]'s Add once the store was closed.
	ErrClosed = errors.New("revocation: store closed")
	// ErrInvalidEntry is wrapped by the error of an Add given an entry that
	// cannot be stored (see [Entry.Validate]). Such an Add stores nothing.
	ErrInvalidEntry = errors.New("revocation: invalid entry")
)

// Store is the verifier's replica of the authority's revocation log: the set
// of revoked block revocation IDs that the verifier checks every token
// against.
//
// Every implementation honours this contract, which
// [github.com/mandate-dev/mandate/verifier/revocation/revocationtest.RunStoreTests]
// checks:
//
//   - Safe for concurrent use by multiple goroutines.
//   - Add validates the whole batch before storing anything: if any entry is
//     invalid it returns an error wrapping [ErrInvalidEntry] and stores
//     none of them.
//   - An Add whose ctx is already done stores nothing and returns an error
//     wrapping ctx.Err().
//   - Add is idempotent and never un-revokes: adding an ID that is already
//     present keeps it revoked, with the later ExpiresAt of the two (the
//     zero ExpiresAt, "never", being the latest).
//   - A durable store returns from Add only once the entries are durable:
//     an acknowledged revocation survives a crash of the process. If Add
//     fails part way (disk error, canceled context), a prefix of the batch in
//     Seq order may have been stored; calling Add again with the same batch is
//     safe and is the way to recover.
//   - Revoked reports the index in ids of the first revoked ID, or -1 if
//     none is revoked. It is the hot path: no disk I/O and no allocation.
//     An entry past its ExpiresAt may still be reported revoked until the
//     store purges it; that only ever denies tokens that have expired anyway.
//     An entry already expired when it is added may not be stored at all.
//   - LastSeq is the highest Seq ever added, stored atomically with the
//     entries: even after a crash in the middle of an Add, every entry added
//     with a Seq up to LastSeq is held, so a follower that resumes the log
//     after LastSeq misses nothing. It never decreases.
//   - LastHash is the Hash of the entry added with the Seq that is
//     LastSeq (nil if that entry had none), stored atomically with LastSeq
//     and never from an entry with a lower Seq: a follower compares the
//     authority's chain with it before applying anything more.
//   - Len is the number of IDs held, expired or not.
//   - Close releases the store. It is idempotent: a second Close returns nil.
//     After Close, Add returns [ErrClosed], Revoked reports every non-empty
//     list as revoked (it returns 0: a closed store fails closed), and
//     LastSeq and Len return 0.
type Store interface {
	// Add stores entries; see the Store contract for idempotence,
	// validation and durability.
	Add(ctx context.Context, entries ...Entry) error
	// Revoked reports the index of the first id in ids that is revoked, or
	// -1 if none is (or ids is empty). It does no disk I/O and does not
	// allocate.
	Revoked(ids [][]byte) int
	// LastSeq returns the highest Seq ever added (0 if none).
	LastSeq() uint64
	// LastHash returns the chain hash of the entry at LastSeq (nil if
	// none is known). The caller must not modify it.
	LastHash() []byte
	// Len returns the number of IDs held.
	Len() int
	// Close releases the store; later Adds fail with ErrClosed.
	Close() error
}

// ValidateEntries validates a batch as every Store's Add does before it
// stores anything: the error names the first invalid entry and wraps
// [ErrInvalidEntry]. Store implementations call it first so that an invalid
// entry anywhere in a batch stores nothing.
func ValidateEntries(entries []Entry) error {
	for i, e := range entries {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("entry %d of %d: %w; nothing in this batch was stored", i, len(entries), err)
		}
	}
	return nil
}
