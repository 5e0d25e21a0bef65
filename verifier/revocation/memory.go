package revocation

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Memory is an in-memory [Store]: a map from revocation ID to its expiry,
// guarded by a sync.RWMutex. 64-byte IDs (Ed25519 signatures) are kept as
// fixed-size keys: adding one allocates nothing but map space, and the map
// holds no pointers for the garbage collector to scan. A million entries
// take about 180 MB. It is what a durable store such as
// badgerstore serves Revoked from, and a Store for tests. It forgets
// everything when the process exits.
//
// Memory never purges on its own: call [Memory.Purge] periodically to drop
// expired entries. The zero value is not usable; create one with
// [NewMemory].
type Memory struct {
	now func() time.Time

	mu       sync.RWMutex
	set      idSet
	lastSeq  uint64
	lastHash []byte
	closed   bool
}

// memEntry is what Memory keeps per ID besides the ID itself. The Seq is
// not kept: only LastSeq matters once an entry is stored.
type memEntry struct {
	exp int64 // expiry in Unix nanoseconds, clamped; neverExpires for "never"
}

// neverExpires is the exp of an entry whose ExpiresAt is the zero Time. It
// is larger than every finite expiry, so merging two entries is a max.
const neverExpires = math.MaxInt64

var (
	minNanoTime = time.Unix(0, math.MinInt64+1)
	maxNanoTime = time.Unix(0, math.MaxInt64-1)
)

// expiryNanos converts an ExpiresAt to Unix nanoseconds: the zero Time
// becomes neverExpires, and instants outside the range of UnixNano (before
// 1678, after 2262) are clamped rather than overflowed, an instant after
// 2262 counting as never.
func expiryNanos(t time.Time) int64 {
	if t.IsZero() {
		return neverExpires
	}
	return unixNanos(t)
}

// unixNanos is t.UnixNano clamped to [math.MinInt64+1, math.MaxInt64].
func unixNanos(t time.Time) int64 {
	switch {
	case t.After(maxNanoTime):
		return math.MaxInt64
	case t.Before(minNanoTime):
		return math.MinInt64 + 1
	default:
		return t.UnixNano()
	}
}

// timeFromNanos is the inverse of expiryNanos.
func timeFromNanos(n int64) time.Time {
	if n == neverExpires {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Option configures a [Memory].
type Option func(*Memory)

// WithNow sets the clock Memory uses to skip entries that are already
// expired when they are added. The default is time.Now. Tests inject a fake
// clock; a verifier passes the same clock it decides with.
func WithNow(now func() time.Time) Option {
	return func(m *Memory) {
		if now != nil {
			m.now = now
		}
	}
}

// NewMemory returns an empty in-memory store.
func NewMemory(opts ...Option) *Memory {
	m := &Memory{now: time.Now}
	for _, o := range opts {
		o(m)
	}
	m.set = newIDSet()
	return m
}

var _ Store = (*Memory)(nil)

// Add stores entries; see the [Store] contract. An entry that is already
// expired by Memory's clock is not stored (it could only deny expired
// tokens), but its Seq still counts for LastSeq.
func (m *Memory) Add(ctx context.Context, entries ...Entry) error {
	if err := ValidateEntries(entries); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("revocation: add canceled before storing anything: %w", err)
	}
	now := unixNanos(m.now())
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, e := range entries {
		if e.Seq > m.lastSeq || (e.Seq == m.lastSeq && e.Hash != nil) {
			m.lastSeq, m.lastHash = e.Seq, bytes.Clone(e.Hash)
		}
		exp := expiryNanos(e.ExpiresAt)
		if exp < now {
			continue
		}
		if old, ok := m.set.get(e.ID); ok && old.exp >= exp {
			continue
		}
		m.set.put(e.ID, memEntry{exp: exp})
	}
	return nil
}

// Revoked reports the index of the first id in ids that is revoked, or -1.
// It does not allocate.
func (m *Memory) Revoked(ids [][]byte) int {
	if len(ids) == 0 {
		return -1
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0 // fail closed
	}
	for i, id := range ids {
		if m.set.has(id) {
			return i
		}
	}
	return -1
}

// ExpiresAt returns the expiry held for id: the latest ExpiresAt it was
// added with (the zero Time for never). ok is false if id is not held or the
// store is closed. It is for inspection and tests, not the hot path.
func (m *Memory) ExpiresAt(id []byte) (expiresAt time.Time, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return time.Time{}, false
	}
	me, ok := m.set.get(id)
	if !ok {
		return time.Time{}, false
	}
	return timeFromNanos(me.exp), true
}

// LastSeq returns the highest Seq ever added, or 0 once closed.
func (m *Memory) LastSeq() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0
	}
	return m.lastSeq
}

// LastHash returns the chain hash of the entry at LastSeq, or nil (also
// once closed).
func (m *Memory) LastHash() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil
	}
	return m.lastHash
}

// Len returns the number of IDs held, or 0 once closed.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0
	}
	return m.set.len()
}

// purgeBatch bounds how long Purge holds the write lock: readers wait for
// at most one batch of deletes, not for a scan of the whole set.
const purgeBatch = 1024

// Purge removes the entries that are expired at now (now is after their
// ExpiresAt) and returns how many it removed. It scans under the read lock
// and deletes in small batches under the write lock, so Revoked is never
// blocked for long even with millions of entries.
func (m *Memory) Purge(now time.Time) int {
	n := unixNanos(now)
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return 0
	}
	expired := m.set.expired(n)
	m.mu.RUnlock()

	removed := 0
	for len(expired) > 0 {
		batch := expired[:min(purgeBatch, len(expired))]
		expired = expired[len(batch):]
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			break
		}
		for _, k := range batch {
			// An Add since the scan may have extended the entry.
			if e, ok := m.set.get(k); ok && e.exp < n {
				m.set.del(k)
				removed++
			}
		}
		m.mu.Unlock()
	}
	return removed
}

// Close releases the set. A second Close returns nil.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.set = idSet{}
	return nil
}
