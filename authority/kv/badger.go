package kv

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mandate-dev/mandate/internal/badgerfs"
)

// Badger is a KV namespace inside a Badger database that someone else
// opened (the authority's store: see authority.BadgerStore.Namespace). It
// inherits that database's durability (synchronous writes) and integrity
// checks (block and value checksums).
//
// An unconditional write (Match Any) does not read the key: its revision
// is the clock's (NextRev), greater than the key's earlier revisions as long
// as the clock does not step back past them; conditional writes read the
// key and are exact.
//
// Each value is stored as revision (8 bytes, big-endian), expiry (8 bytes,
// Unix nanoseconds, 0 for none), then the value; an expiring entry also
// gets Badger's own time to live, a second after its expiry, so that it is
// eventually dropped without a sweep.
type Badger struct {
	db     *badger.DB
	prefix string

	mu   sync.Mutex // serializes Apply: conflicts would only retry
	last uint64
	now  func() time.Time
}

// NewBadger returns the namespace of db whose keys all start with prefix
// (such as "k/people/"). Two namespaces must not have prefixes that are
// prefixes of one another. now is the clock (nil: time.Now).
func NewBadger(db *badger.DB, prefix string, now func() time.Time) *Badger {
	if now == nil {
		now = time.Now
	}
	return &Badger{db: db, prefix: prefix, now: now}
}

const headerLen = 16

func (b *Badger) key(k string) []byte { return []byte(b.prefix + k) }

func decode(key string, raw []byte) (Entry, error) {
	if len(raw) < headerLen {
		return Entry{}, fmt.Errorf("%w: entry %q is %d bytes, shorter than its header", ErrCorrupt, key, len(raw))
	}
	e := Entry{Key: key, Rev: binary.BigEndian.Uint64(raw), Value: raw[headerLen:]}
	if n := int64(binary.BigEndian.Uint64(raw[8:])); n != 0 {
		e.ExpiresAt = time.Unix(0, n)
	}
	return e, nil
}

func engineErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badger.ErrDBClosed):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	case badgerfs.IsCorruption(err):
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	case errors.Is(err, badger.ErrTxnTooBig):
		return fmt.Errorf("%w: batch too large for one transaction: %w", ErrInvalid, err)
	}
	return err
}

func (b *Badger) read(txn *badger.Txn, key string) (Entry, bool, error) {
	it, err := txn.Get(b.key(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, engineErr(err)
	}
	raw, err := it.ValueCopy(nil)
	if err != nil {
		return Entry{}, false, engineErr(err)
	}
	e, err := decode(key, raw)
	if err != nil {
		return Entry{}, false, err
	}
	return e, true, nil
}

// Get implements KV.
func (b *Badger) Get(ctx context.Context, key string) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	if err := CheckKey(key); err != nil {
		return Entry{}, err
	}
	var e Entry
	var ok bool
	err := b.db.View(func(txn *badger.Txn) error {
		var err error
		e, ok, err = b.read(txn, key)
		return err
	})
	if err != nil {
		return Entry{}, engineErr(err)
	}
	if !ok || !live(e.ExpiresAt, b.now()) {
		return Entry{}, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return e, nil
}

// Apply implements KV.
func (b *Badger) Apply(ctx context.Context, ops ...Op) ([]uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckOps(ops); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for attempt := 0; ; attempt++ {
		revs, err := b.apply(ops)
		if errors.Is(err, badger.ErrConflict) && attempt < 16 {
			continue // another writer of the same database: read again
		}
		return revs, engineErr(err)
	}
}

func (b *Badger) apply(ops []Op) ([]uint64, error) {
	now := b.now()
	txn := b.db.NewTransaction(true)
	defer txn.Discard()
	revs := make([]uint64, len(ops))
	last := b.last
	for i := range ops {
		op := &ops[i]
		var cur Entry
		if op.Match != Any {
			// Only a condition needs the key's state; an
			// unconditional write takes its revision from the
			// clock (NextRev), which is past every earlier one.
			c, ok, err := b.read(txn, op.Key)
			if err != nil {
				return nil, err
			}
			if err := matches(op, ok && live(c.ExpiresAt, now), c.Rev); err != nil {
				return nil, err
			}
			cur = c
		}
		if op.Delete {
			if err := txn.Delete(b.key(op.Key)); err != nil {
				return nil, err
			}
			continue
		}
		r := NextRev(max(cur.Rev, last), now)
		last = r
		buf := make([]byte, headerLen+len(op.Value))
		binary.BigEndian.PutUint64(buf, r)
		if !op.ExpiresAt.IsZero() {
			binary.BigEndian.PutUint64(buf[8:], uint64(op.ExpiresAt.UnixNano()))
		}
		copy(buf[headerLen:], op.Value)
		ent := badger.NewEntry(b.key(op.Key), buf)
		if !op.ExpiresAt.IsZero() {
			ttl := op.ExpiresAt.Sub(now) + time.Second
			if ttl < time.Second {
				ttl = time.Second
			}
			ent = ent.WithTTL(ttl)
		}
		if err := txn.SetEntry(ent); err != nil {
			return nil, err
		}
		revs[i] = r
	}
	if err := txn.Commit(); err != nil {
		return nil, err
	}
	b.last = last
	return revs, nil
}

// Scan implements KV.
func (b *Badger) Scan(ctx context.Context, o ScanOptions, fn func(Entry) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := b.now()
	prefix := []byte(b.prefix + o.Prefix)
	err := b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: o.Reverse, PrefetchValues: !o.KeysOnly, PrefetchSize: 64})
		defer it.Close()
		seek := prefix
		if o.Reverse {
			// Past the last key with the prefix: a reverse Seek finds the
			// largest key <= seek.
			seek = append(append([]byte{}, prefix...), 0xff, 0xff, 0xff, 0xff)
		}
		if o.Start != "" {
			switch {
			case strings.HasPrefix(o.Start, o.Prefix):
				seek = []byte(b.prefix + o.Start) // inclusive either way
			case (o.Start > o.Prefix) != o.Reverse:
				return nil // every key of the prefix is out of range
			}
		}
		for it.Seek(seek); it.ValidForPrefix(prefix); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			key := string(item.Key()[len(b.prefix):])
			raw, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			e, err := decode(key, raw)
			if err != nil {
				return err
			}
			if !live(e.ExpiresAt, now) {
				continue
			}
			if o.KeysOnly {
				e.Value = nil
			}
			if !fn(e) {
				return nil
			}
		}
		return nil
	})
	return engineErr(err)
}
