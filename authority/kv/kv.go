// Package kv is the small, durable key-value contract that the authority's
// newer rooms (people, approvals, usage ledgers, the decision log, OAuth
// state) keep their state in. Each room owns its records and its own
// conformance tests; it asks for a [KV] namespace and never sees the
// engine behind it: Badger on disk by default ([OpenBadger] or the
// authority store's namespace), [Memory] in tests, and a replicated engine
// (NATS JetStream key-value buckets) when several authorities run.
//
// The contract is what a replicated key-value bucket offers, so that every
// engine can keep it:
//
//   - Per-key revisions. Every write of a key gives it a new revision,
//     greater than any revision the key had before (also across a delete
//     and re-create), so compare-and-set on a revision never suffers ABA.
//     (An engine may take an unconditional write's revision from a clock
//     without reading the key, as the Badger engine does: it then grows as
//     long as that clock does not step back past it.)
//   - Atomic batches: Apply commits every operation of a batch or none,
//     and each operation may be conditional (the key must be absent, or
//     at a given revision). A failed condition is ErrConflict and nothing
//     of the batch is written.
//   - Durable acknowledgement: when Apply returns nil, the batch survives
//     a crash of the process (of the machine for Badger, whose writes are
//     synced; of a minority of replicas for a replicated engine).
//   - Time to live: an entry with an ExpiresAt is never returned after it,
//     and is eventually dropped.
//   - Ordered scans by key within a prefix, forwards or backwards.
//   - Integrity at rest: an engine that detects corruption reports an
//     error wrapping ErrCorrupt, never skips the entry.
//
// Keys are UTF-8 strings of printable characters without NUL, at most
// MaxKeyLen bytes; values at most MaxValueLen bytes.
package kv

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limits on keys and values.
const (
	MaxKeyLen   = 1024
	MaxValueLen = 1 << 20
	// MaxBatch is the most operations one Apply may carry.
	MaxBatch = 10000
)

// Errors. Engines wrap them with context; match with errors.Is.
var (
	ErrNotFound = errors.New("kv: not found")
	ErrConflict = errors.New("kv: conflict")
	ErrCorrupt  = errors.New("kv: stored data failed its integrity check")
	ErrClosed   = errors.New("kv: closed")
	ErrInvalid  = errors.New("kv: invalid operation")
)

// Entry is a stored value.
type Entry struct {
	Key   string
	Value []byte
	// Rev is the key's revision: it changes on every write.
	Rev uint64
	// ExpiresAt is when the entry stops being returned (zero: never).
	ExpiresAt time.Time
}

// Match is an operation's precondition.
type Match uint8

// Preconditions.
const (
	// Any writes whatever the key holds.
	Any Match = iota
	// Absent requires the key not to exist (create).
	Absent
	// AtRev requires the key to exist at exactly Op.Rev (compare-and-set).
	AtRev
)

// Op is one write of a batch.
type Op struct {
	Key string
	// Value is written unless Delete is set.
	Value  []byte
	Delete bool
	// Match and Rev are the precondition.
	Match Match
	Rev   uint64
	// ExpiresAt bounds the entry's life (zero: never). Ignored by Delete.
	ExpiresAt time.Time
}

// Put is an unconditional write.
func Put(key string, value []byte, expires time.Time) Op {
	return Op{Key: key, Value: value, ExpiresAt: expires}
}

// Create writes key only if it does not exist.
func Create(key string, value []byte, expires time.Time) Op {
	return Op{Key: key, Value: value, Match: Absent, ExpiresAt: expires}
}

// Update writes key only if it is at revision rev.
func Update(key string, value []byte, rev uint64, expires time.Time) Op {
	return Op{Key: key, Value: value, Match: AtRev, Rev: rev, ExpiresAt: expires}
}

// Delete removes key (a no-op if it does not exist, unless Match says
// otherwise).
func Delete(key string) Op { return Op{Key: key, Delete: true} }

// ScanOptions select a range of keys.
type ScanOptions struct {
	// Prefix restricts the scan to keys that start with it.
	Prefix string
	// Start, when set, is the first key (inclusive) to return forwards, or
	// the last key (inclusive) to return backwards.
	Start string
	// Reverse scans by decreasing key.
	Reverse bool
	// KeysOnly leaves Entry.Value nil (cheaper on some engines).
	KeysOnly bool
}

// KV is one namespace of durable state. Implementations are safe for
// concurrent use; Memory and the Badger engine pass kvtest.Run.
type KV interface {
	// Get returns the entry of key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (Entry, error)
	// Apply commits ops atomically and returns each op's new revision
	// (0 for a delete). A failed precondition is an error wrapping
	// ErrConflict that names the key; nothing is written then.
	Apply(ctx context.Context, ops ...Op) ([]uint64, error)
	// Scan calls fn for each live entry in range, in key order, until fn
	// returns false. Writes made while a scan runs may or may not be
	// seen by it.
	Scan(ctx context.Context, o ScanOptions, fn func(Entry) bool) error
}

// Provider hands out namespaces. Names are short lowercase words
// ("people", "approvals"); two namespaces never share a key.
type Provider interface {
	Namespace(name string) KV
}

// CheckOps validates a batch against the contract's limits; engines call
// it first so that every engine refuses the same batches.
func CheckOps(ops []Op) error {
	if len(ops) == 0 {
		return fmt.Errorf("%w: empty batch", ErrInvalid)
	}
	if len(ops) > MaxBatch {
		return fmt.Errorf("%w: %d operations in one batch (at most %d)", ErrInvalid, len(ops), MaxBatch)
	}
	seen := make(map[string]struct{}, len(ops))
	for i := range ops {
		op := &ops[i]
		if err := CheckKey(op.Key); err != nil {
			return err
		}
		if _, dup := seen[op.Key]; dup {
			return fmt.Errorf("%w: key %q written twice in one batch", ErrInvalid, op.Key)
		}
		seen[op.Key] = struct{}{}
		if !op.Delete && len(op.Value) > MaxValueLen {
			return fmt.Errorf("%w: value of %q is %d bytes (at most %d)", ErrInvalid, op.Key, len(op.Value), MaxValueLen)
		}
		if op.Match > AtRev {
			return fmt.Errorf("%w: unknown precondition %d", ErrInvalid, op.Match)
		}
		if op.Match == AtRev && op.Rev == 0 {
			return fmt.Errorf("%w: compare-and-set on %q without a revision", ErrInvalid, op.Key)
		}
	}
	return nil
}

// CheckKey validates one key.
func CheckKey(k string) error {
	if k == "" || len(k) > MaxKeyLen {
		return fmt.Errorf("%w: key of %d bytes (1 to %d)", ErrInvalid, len(k), MaxKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] == 0x7f {
			return fmt.Errorf("%w: key %q holds a control character", ErrInvalid, k)
		}
	}
	return nil
}

// NextRev is the revision a write gives a key whose last revision was
// prev, at wall time now: greater than prev and, for a key written again
// after a delete, greater than any revision it could have had before (the
// clock in nanoseconds), so revisions never repeat.
func NextRev(prev uint64, now time.Time) uint64 {
	r := uint64(now.UnixNano())
	if r <= prev {
		r = prev + 1
	}
	return r
}

func live(e time.Time, now time.Time) bool { return e.IsZero() || now.Before(e) }
