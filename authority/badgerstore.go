package authority

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	badgeroptions "github.com/dgraph-io/badger/v4/options"
	"github.com/rs/zerolog"

	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/internal/badgerfs"
	"github.com/mandate-dev/mandate/token"
)

// BadgerStore is the embedded, on-disk [Store]: Badger with synchronous
// writes (a commit returns once it is on disk) and a time-to-live on every
// expiring record, so that the log, tokens and sessions stay bounded without
// any sweep. Create one with [OpenBadgerStore].
//
// Layout (every key is prefixed by one letter and '/'):
//
//	m/NAME                      meta values (admin token hash, last sequence number and chain hash)
//	c/CLIENT_ID                 client record (JSON)
//	t/REVOCATION_ID             token record (JSON), TTL
//	i/K/LEN(VALUE)VALUE/REV_ID  token index by session (K=s), agent (a), user (u), TTL
//	s/SESSION                   session record (JSON), TTL
//	n/^CREATED_NS(8 bytes)SESSION  sessions newest first (empty value), TTL
//	l/SEQ (8 bytes, big-endian) revocation log entry (JSON), TTL
//	r/REVOCATION_ID             revocation ID → SEQ, TTL
//	k/NAMESPACE/KEY             a kv namespace's entries (see Namespace)
//
// Time-to-live is ExpiresAt + grace - Batch.Now, at least one second.
//
// Integrity at rest: Badger verifies the checksum of every table when it
// opens it and of every block it reads, and of every value it reads from
// the value log; a mismatch is an error wrapping [ErrCorrupt], so the
// authority refuses to start (or to answer) rather than serve altered
// state. The folder is kept at mode 0700 and Badger's files at 0600.
type BadgerStore struct {
	db    *badger.DB
	grace time.Duration
	dir   string

	// applyMu serializes Apply within this process: concurrent batches
	// all read and advance the last sequence number, so they would only
	// conflict and retry. Badger's conflict detection (with retries)
	// still guards every transaction.
	applyMu sync.Mutex

	mu     sync.RWMutex
	closed bool
}

// BadgerOptions tune OpenBadgerStore.
type BadgerOptions struct {
	// Grace is how long records are kept after their expiry (default
	// RetentionGrace; a negative value means none).
	Grace time.Duration
	// Logger receives Badger's warnings and errors (default: none).
	Logger *zerolog.Logger
}

// OpenBadgerStore opens or creates a Badger store in dir. Badger locks
// the folder: one process at a time.
func OpenBadgerStore(dir string, o BadgerOptions) (*BadgerStore, error) {
	if o.Grace == 0 {
		o.Grace = RetentionGrace
	}
	if o.Grace < 0 {
		o.Grace = 0
	}
	if err := ensurePrivateDir(dir); err != nil {
		return nil, err
	}
	dropped, err := badgerfs.DropEmptyMemtables(dir)
	if err != nil {
		return nil, fmt.Errorf("open storage in %s: %w", dir, err)
	}
	if len(dropped) > 0 && o.Logger != nil {
		o.Logger.Warn().Strs("files", dropped).Msg("removed empty memtable files left by a crash (they hold nothing)")
	}
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithChecksumVerificationMode(badgeroptions.OnTableAndBlockRead).
		WithVerifyValueChecksum(true).
		WithLogger(badgerLogger{o.Logger}).
		WithMemTableSize(16 << 20).
		WithValueLogFileSize(64 << 20).
		WithBlockCacheSize(16 << 20).
		WithNumCompactors(2).
		WithMetricsEnabled(false)
	db, err := badger.Open(opts)
	if err != nil {
		if badgerfs.IsCorruption(err) {
			return nil, fmt.Errorf("%w: storage in %s failed its checksum check (%v); restore the folder from a backup, or move it away to start with an empty state (every revocation in it is then lost)", ErrCorrupt, dir, err)
		}
		return nil, fmt.Errorf("open storage in %s: %w (is another authority running on this data folder?)", dir, err)
	}
	badgerfs.RestrictFiles(dir)
	s := &BadgerStore{db: db, grace: o.Grace, dir: dir}
	if err := s.migrateChain(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("storage in %s: %w", dir, corruption(err))
	}
	return s, nil
}

// corruption wraps a Badger integrity failure in ErrCorrupt with what to do
// next; other errors pass unchanged.
func corruption(err error) error {
	if !badgerfs.IsCorruption(err) || errors.Is(err, ErrCorrupt) {
		return err
	}
	return fmt.Errorf("%w: %w; restore the data folder from a backup", ErrCorrupt, err)
}

type badgerLogger struct{ l *zerolog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	if b.l != nil {
		b.l.Error().Str("component", "badger").Msg(strings.TrimSpace(fmt.Sprintf(f, a...)))
	}
}

func (b badgerLogger) Warningf(f string, a ...any) {
	if b.l != nil {
		b.l.Warn().Str("component", "badger").Msg(strings.TrimSpace(fmt.Sprintf(f, a...)))
	}
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

var (
	keyLastSeq  = []byte("m/last_seq")
	keyLastHash = []byte("m/last_hash")
	indexKind   = map[TokenIndex]byte{BySession: 's', ByAgent: 'a', ByUser: 'u'}
)

func metaKey(name string) []byte  { return append([]byte("m/"), name...) }
func clientKey(id string) []byte  { return append([]byte("c/"), id...) }
func tokenKey(id []byte) []byte   { return append([]byte("t/"), id...) }
func sessionKey(id string) []byte { return append([]byte("s/"), id...) }
func revIDKey(id []byte) []byte   { return append([]byte("r/"), id...) }
func logKey(seq uint64) []byte    { return binary.BigEndian.AppendUint64([]byte("l/"), seq) }
func indexPrefix(by TokenIndex, v string) []byte {
	k := []byte{'i', '/', indexKind[by], '/'}
	k = binary.BigEndian.AppendUint16(k, uint16(len(v)))
	return append(k, v...)
}

// The stored forms of records.
type (
	tokenJSON struct {
		Session   string        `json:"session"`
		Agent     string        `json:"agent"`
		User      string        `json:"user,omitempty"`
		Org       string        `json:"org,omitempty"`
		ClientID  string        `json:"client_id,omitempty"`
		KeyID     uint32        `json:"key_id"`
		IssuedAt  time.Time     `json:"issued_at"`
		ExpiresAt time.Time     `json:"expires_at"`
		Rights    []token.Right `json:"rights,omitempty"`
	}
	sessionJSON struct {
		ClientID  string    `json:"client_id,omitempty"`
		ExpiresAt time.Time `json:"expires_at"`
		RevokedAt time.Time `json:"revoked_at,omitzero"`
		CreatedAt time.Time `json:"created_at,omitzero"`
		Agent     string    `json:"agent,omitempty"`
		User      string    `json:"user,omitempty"`
		Org       string    `json:"org,omitempty"`
	}
	entryJSON struct {
		ID        []byte    `json:"id"`
		ExpiresAt time.Time `json:"expires_at,omitzero"`
		Session   string    `json:"session,omitempty"`
		RevokedAt time.Time `json:"revoked_at"`
		PrevHash  []byte    `json:"prev_hash,omitempty"`
		Hash      []byte    `json:"hash,omitempty"`
	}
	clientJSON struct {
		SecretHash       []byte    `json:"secret_sha256"`
		Services         []string  `json:"services"`
		Tools            []string  `json:"tools"`
		Operations       []string  `json:"operations"`
		ResourcePrefixes []string  `json:"resource_prefixes"`
		Orgs             []string  `json:"orgs"`
		MaxTTL           int64     `json:"max_ttl_seconds"`
		CreatedAt        time.Time `json:"created_at"`
		Limits           []string  `json:"limits,omitempty"` // token.Limit in the CLI's form
		// RequireApproval is absent from records written before it: none.
		RequireApproval []token.ApprovalRequirement `json:"require_approval,omitempty"`
	}
)

// clientOf is the stored form of a client.
func clientOf(c ClientRecord) clientJSON {
	return clientJSON{SecretHash: c.SecretHash, Services: c.Ceiling.Services, Tools: c.Ceiling.Tools,
		Operations: c.Ceiling.Operations, ResourcePrefixes: c.Ceiling.ResourcePrefixes, Orgs: c.Ceiling.Orgs,
		MaxTTL: int64(c.Ceiling.MaxTTL / time.Second), CreatedAt: c.CreatedAt, Limits: limitSpecs(c.Ceiling.Limits),
		RequireApproval: c.Ceiling.RequireApproval}
}

// record reads a stored client back.
func (cj *clientJSON) record(id string) (ClientRecord, error) {
	limits, err := parseLimits(cj.Limits)
	if err != nil {
		return ClientRecord{}, err
	}
	return ClientRecord{ID: id, SecretHash: cj.SecretHash, CreatedAt: cj.CreatedAt, Ceiling: Ceiling{
		Services: cj.Services, Tools: cj.Tools, Operations: cj.Operations, ResourcePrefixes: cj.ResourcePrefixes,
		Orgs: cj.Orgs, MaxTTL: time.Duration(cj.MaxTTL) * time.Second, Limits: limits, RequireApproval: cj.RequireApproval}}, nil
}

func (s *BadgerStore) ttl(exp, now time.Time) time.Duration {
	return max(exp.Add(s.grace).Sub(now), time.Second)
}

func (s *BadgerStore) begin() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *BadgerStore) end() { s.mu.RUnlock() }

// Apply implements Store: one Badger transaction, retried on conflict.
func (s *BadgerStore) Apply(ctx context.Context, b *Batch) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	var err error
	for range 16 {
		if err = ctx.Err(); err != nil {
			return err
		}
		err = s.db.Update(func(txn *badger.Txn) error { return s.apply(txn, b) })
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("storage: transaction kept conflicting: %w", err)
}

func (s *BadgerStore) apply(txn *badger.Txn, b *Batch) error {
	for i := range b.Mints {
		op := &b.Mints[i]
		op.Err = nil
		t := op.Token
		sess, err := s.getSession(txn, t.Session)
		switch {
		case err == nil:
			if err := sessionAdmits(sess, t.ClientID); err != nil {
				op.Err = err
				continue
			}
		case errors.Is(err, ErrNotFound):
			sess = SessionRecord{ID: t.Session, ClientID: t.ClientID, CreatedAt: b.Now, Agent: t.Agent, User: t.User, Org: t.Org}
		default:
			return err
		}
		if t.ExpiresAt.After(sess.ExpiresAt) {
			sess.ExpiresAt = t.ExpiresAt
		}
		if err := s.putSession(txn, sess, b.Now); err != nil {
			return err
		}
		ttl := s.ttl(t.ExpiresAt, b.Now)
		v, _ := json.Marshal(tokenJSON{Session: t.Session, Agent: t.Agent, User: t.User, Org: t.Org, ClientID: t.ClientID, KeyID: t.KeyID, IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt, Rights: t.Rights})
		if err := txn.SetEntry(badger.NewEntry(tokenKey(t.RevocationID), v).WithTTL(ttl)); err != nil {
			return err
		}
		for _, ix := range indexesOf(&t) {
			by, val := ix.by, ix.value
			if val == "" {
				continue
			}
			k := append(indexPrefix(by, val), t.RevocationID...)
			if err := txn.SetEntry(badger.NewEntry(k, nil).WithTTL(ttl)); err != nil {
				return err
			}
		}
	}
	for i := range b.SessionRevocations {
		op := &b.SessionRevocations[i]
		op.Err = nil
		sess, err := s.getSession(txn, op.Session)
		switch {
		case errors.Is(err, ErrNotFound):
			op.Err = err
			continue
		case err != nil:
			return err
		}
		if sess.RevokedAt.IsZero() {
			sess.RevokedAt = b.Now
			if err := s.putSession(txn, sess, b.Now); err != nil {
				return err
			}
		}
	}
	if len(b.Revocations) == 0 {
		return nil
	}
	last, err := lastSeq(txn)
	if err != nil {
		return err
	}
	head, err := lastHash(txn)
	if err != nil {
		return err
	}
	next := last
	for i := range b.Revocations {
		op := &b.Revocations[i]
		op.Created = false
		e, err := s.entryByID(txn, op.ID)
		switch {
		case err == nil:
			op.Entry = e
			continue
		case !errors.Is(err, ErrNotFound):
			return err
		}
		next++
		e = LogEntry{Seq: next, ID: op.ID, ExpiresAt: op.ExpiresAt, Session: op.Session, RevokedAt: b.Now, PrevHash: head}
		e.Hash = token.ChainHash(e.PrevHash, e.Seq, e.ID, e.ExpiresAt)
		head = e.Hash
		ttl := s.ttl(e.ExpiresAt, b.Now)
		v, _ := json.Marshal(entryJSON{ID: e.ID, ExpiresAt: e.ExpiresAt, Session: e.Session, RevokedAt: e.RevokedAt, PrevHash: e.PrevHash, Hash: e.Hash})
		if err := txn.SetEntry(badger.NewEntry(logKey(next), v).WithTTL(ttl)); err != nil {
			return err
		}
		if err := txn.SetEntry(badger.NewEntry(revIDKey(op.ID), binary.BigEndian.AppendUint64(nil, next)).WithTTL(ttl)); err != nil {
			return err
		}
		op.Entry, op.Created = cloneEntry(e), true
	}
	if next != last {
		if err := txn.Set(keyLastHash, head); err != nil {
			return err
		}
		return txn.Set(keyLastSeq, binary.BigEndian.AppendUint64(nil, next))
	}
	return nil
}

// lastHash returns the chain hash of the last entry (GenesisHash for an
// empty log).
func lastHash(txn *badger.Txn) ([]byte, error) {
	it, err := txn.Get(keyLastHash)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return token.GenesisHash(), nil
	}
	if err != nil {
		return nil, err
	}
	h, err := it.ValueCopy(nil)
	if err == nil && len(h) != token.ChainHashSize {
		err = fmt.Errorf("%w: the revocation log's chain head is %d bytes, want %d", ErrCorrupt, len(h), token.ChainHashSize)
	}
	return h, err
}

// migrateChain chains a log written before entries were hash-chained: once,
// at open, when there is a last sequence number but no chain head. The
// entries still held are chained in sequence order from GenesisHash, each
// to the previous one held, and rewritten with their TTL.
func (s *BadgerStore) migrateChain() error {
	return s.db.Update(func(txn *badger.Txn) error {
		if _, err := txn.Get(keyLastHash); err == nil || !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		last, err := lastSeq(txn)
		if err != nil || last == 0 {
			return err
		}
		type kv struct {
			key []byte
			e   entryJSON
			exp uint64
		}
		var all []kv
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("l/"), PrefetchValues: true})
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			var ej entryJSON
			if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &ej) }); err != nil {
				it.Close()
				return fmt.Errorf("log entry %x: %w", item.Key(), err)
			}
			all = append(all, kv{item.KeyCopy(nil), ej, item.ExpiresAt()})
		}
		it.Close()
		head := token.GenesisHash()
		for _, r := range all {
			if len(r.key) != 10 {
				continue
			}
			seq := binary.BigEndian.Uint64(r.key[2:])
			r.e.PrevHash = head
			r.e.Hash = token.ChainHash(head, seq, r.e.ID, r.e.ExpiresAt)
			head = r.e.Hash
			v, _ := json.Marshal(r.e)
			be := badger.NewEntry(r.key, v)
			be.ExpiresAt = r.exp
			if err := txn.SetEntry(be); err != nil {
				return err
			}
		}
		return txn.Set(keyLastHash, head)
	})
}

func lastSeq(txn *badger.Txn) (uint64, error) {
	it, err := txn.Get(keyLastSeq)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var last uint64
	err = it.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("storage: corrupt last sequence number (%d bytes)", len(v))
		}
		last = binary.BigEndian.Uint64(v)
		return nil
	})
	return last, err
}

// entryByID finds the log entry of a revocation ID within txn (which sees
// the transaction's own writes, so duplicates within a batch are found).
func (s *BadgerStore) entryByID(txn *badger.Txn, id []byte) (LogEntry, error) {
	it, err := txn.Get(revIDKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return LogEntry{}, ErrNotFound
	}
	if err != nil {
		return LogEntry{}, err
	}
	var seq uint64
	if err := it.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("storage: corrupt revocation index (%d bytes)", len(v))
		}
		seq = binary.BigEndian.Uint64(v)
		return nil
	}); err != nil {
		return LogEntry{}, err
	}
	return getEntry(txn, seq)
}

func getEntry(txn *badger.Txn, seq uint64) (LogEntry, error) {
	it, err := txn.Get(logKey(seq))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return LogEntry{}, ErrNotFound
	}
	if err != nil {
		return LogEntry{}, err
	}
	var ej entryJSON
	if err := it.Value(func(v []byte) error { return json.Unmarshal(v, &ej) }); err != nil {
		return LogEntry{}, fmt.Errorf("storage: log entry %d: %w", seq, err)
	}
	return LogEntry{Seq: seq, ID: ej.ID, ExpiresAt: ej.ExpiresAt, Session: ej.Session, RevokedAt: ej.RevokedAt, PrevHash: ej.PrevHash, Hash: ej.Hash}, nil
}

func (s *BadgerStore) getSession(txn *badger.Txn, id string) (SessionRecord, error) {
	it, err := txn.Get(sessionKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return SessionRecord{}, fmt.Errorf("session %q: %w", clip(id), ErrNotFound)
	}
	if err != nil {
		return SessionRecord{}, err
	}
	var sj sessionJSON
	if err := it.Value(func(v []byte) error { return json.Unmarshal(v, &sj) }); err != nil {
		return SessionRecord{}, fmt.Errorf("storage: session %q: %w", clip(id), err)
	}
	return sessionRecord(id, &sj), nil
}

func sessionRecord(id string, sj *sessionJSON) SessionRecord {
	return SessionRecord{ID: id, ClientID: sj.ClientID, ExpiresAt: sj.ExpiresAt, RevokedAt: sj.RevokedAt,
		CreatedAt: sj.CreatedAt, Agent: sj.Agent, User: sj.User, Org: sj.Org}
}

// sessionOrderKey is the session's key in the newest-first index:
// "n/" + the bitwise complement of CreatedAt in Unix nanoseconds (so that
// newer sorts first) + the ID. Sessions stored before the index existed
// (no CreatedAt) are not in it.
func sessionOrderKey(c SessionCursor) []byte {
	k := binary.BigEndian.AppendUint64([]byte("n/"), ^uint64(c.CreatedAt.UnixNano()))
	return append(k, c.ID...)
}

func (s *BadgerStore) putSession(txn *badger.Txn, sess SessionRecord, now time.Time) error {
	v, _ := json.Marshal(sessionJSON{ClientID: sess.ClientID, ExpiresAt: sess.ExpiresAt, RevokedAt: sess.RevokedAt,
		CreatedAt: sess.CreatedAt, Agent: sess.Agent, User: sess.User, Org: sess.Org})
	ttl := s.ttl(sess.ExpiresAt, now)
	if err := txn.SetEntry(badger.NewEntry(sessionKey(sess.ID), v).WithTTL(ttl)); err != nil {
		return err
	}
	if sess.CreatedAt.IsZero() {
		return nil
	}
	return txn.SetEntry(badger.NewEntry(sessionOrderKey(sess.Cursor()), nil).WithTTL(ttl))
}

func getToken(txn *badger.Txn, id []byte) (TokenRecord, error) {
	it, err := txn.Get(tokenKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return TokenRecord{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return TokenRecord{}, err
	}
	var tj tokenJSON
	if err := it.Value(func(v []byte) error { return json.Unmarshal(v, &tj) }); err != nil {
		return TokenRecord{}, fmt.Errorf("storage: token record: %w", err)
	}
	return TokenRecord{RevocationID: append([]byte(nil), id...), Session: tj.Session, Agent: tj.Agent, User: tj.User, Org: tj.Org,
		ClientID: tj.ClientID, KeyID: tj.KeyID, IssuedAt: tj.IssuedAt, ExpiresAt: tj.ExpiresAt, Rights: tj.Rights}, nil
}

// Token implements Store.
func (s *BadgerStore) Token(ctx context.Context, id []byte) (TokenRecord, error) {
	if err := s.begin(); err != nil {
		return TokenRecord{}, err
	}
	defer s.end()
	var t TokenRecord
	err := s.db.View(func(txn *badger.Txn) (err error) {
		t, err = getToken(txn, id)
		return err
	})
	return t, err
}

// Tokens implements Store.
func (s *BadgerStore) Tokens(ctx context.Context, by TokenIndex, value string, fn func(TokenRecord) bool) error {
	if _, ok := indexKind[by]; !ok {
		return fmt.Errorf("%w: unknown token index %d", ErrBadRequest, by)
	}
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	prefix := indexPrefix(by, value)
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			id := it.Item().KeyCopy(nil)[len(prefix):]
			t, err := getToken(txn, id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if !fn(t) {
				return nil
			}
		}
		return nil
	})
}

// Session implements Store.
func (s *BadgerStore) Session(ctx context.Context, id string) (SessionRecord, error) {
	if err := s.begin(); err != nil {
		return SessionRecord{}, err
	}
	defer s.end()
	var sess SessionRecord
	err := s.db.View(func(txn *badger.Txn) (err error) {
		sess, err = s.getSession(txn, id)
		return err
	})
	return sess, err
}

// Sessions implements Store.
func (s *BadgerStore) Sessions(ctx context.Context, after SessionCursor, fn func(SessionRecord) bool) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("n/"), PrefetchValues: false})
		defer it.Close()
		start := []byte("n/")
		if !after.IsZero() {
			start = sessionOrderKey(after)
		}
		for it.Seek(start); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Item().Key()
			if len(k) < 10 || (!after.IsZero() && bytes.Equal(k, start)) {
				continue
			}
			id := string(k[10:])
			sess, err := s.getSession(txn, id)
			if errors.Is(err, ErrNotFound) {
				continue // expired between the index entry and the record
			}
			if err != nil {
				return err
			}
			if !sess.Cursor().CreatedAt.Equal(time.Unix(0, int64(^binary.BigEndian.Uint64(k[2:10])))) {
				continue // a stale index entry of a session created again
			}
			if !fn(sess) {
				return nil
			}
		}
		return nil
	})
	return corruption(err)
}

// Revocations implements Store.
func (s *BadgerStore) Revocations(ctx context.Context, after uint64, fn func(LogEntry) bool) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	if after == ^uint64(0) {
		return nil
	}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("l/"), PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Seek(logKey(after + 1)); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			k := item.Key()
			if len(k) != 10 {
				continue
			}
			seq := binary.BigEndian.Uint64(k[2:])
			var ej entryJSON
			if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &ej) }); err != nil {
				return fmt.Errorf("storage: log entry %d: %w", seq, err)
			}
			if !fn(LogEntry{Seq: seq, ID: ej.ID, ExpiresAt: ej.ExpiresAt, Session: ej.Session, RevokedAt: ej.RevokedAt, PrevHash: ej.PrevHash, Hash: ej.Hash}) {
				return nil
			}
		}
		return nil
	})
	return corruption(err)
}

// ChainHead implements Store.
func (s *BadgerStore) ChainHead(ctx context.Context) (uint64, []byte, error) {
	if err := s.begin(); err != nil {
		return 0, nil, err
	}
	defer s.end()
	var last uint64
	var head []byte
	err := s.db.View(func(txn *badger.Txn) (err error) {
		if last, err = lastSeq(txn); err != nil {
			return err
		}
		head, err = lastHash(txn)
		return err
	})
	return last, head, corruption(err)
}

// LastSeq implements Store.
func (s *BadgerStore) LastSeq(ctx context.Context) (uint64, error) {
	if err := s.begin(); err != nil {
		return 0, err
	}
	defer s.end()
	var last uint64
	err := s.db.View(func(txn *badger.Txn) (err error) {
		last, err = lastSeq(txn)
		return err
	})
	return last, corruption(err)
}

// CreateClient implements Store.
func (s *BadgerStore) CreateClient(ctx context.Context, c ClientRecord) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	v, _ := json.Marshal(clientOf(c))
	return s.update(ctx, func(txn *badger.Txn) error {
		_, err := txn.Get(clientKey(c.ID))
		switch {
		case err == nil:
			return fmt.Errorf("client %q: %w", c.ID, ErrExists)
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		return txn.Set(clientKey(c.ID), v)
	})
}

// update runs fn in a transaction, retried on conflict.
func (s *BadgerStore) update(ctx context.Context, fn func(*badger.Txn) error) error {
	var err error
	for range 16 {
		if err = ctx.Err(); err != nil {
			return err
		}
		if err = s.db.Update(fn); !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return err
}

// Clients implements Store.
func (s *BadgerStore) Clients(ctx context.Context) ([]ClientRecord, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	defer s.end()
	var out []ClientRecord
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("c/"), PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			id := string(item.Key()[2:])
			var cj clientJSON
			if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &cj) }); err != nil {
				return fmt.Errorf("storage: client %q: %w", id, err)
			}
			c, err := cj.record(id)
			if err != nil {
				return fmt.Errorf("storage: client %q: %w", id, err)
			}
			out = append(out, c)
		}
		return nil
	})
	return out, corruption(err)
}

// DeleteClient implements Store.
func (s *BadgerStore) DeleteClient(ctx context.Context, id string) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	return s.update(ctx, func(txn *badger.Txn) error {
		_, err := txn.Get(clientKey(id))
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			return fmt.Errorf("client %q: %w", clip(id), ErrNotFound)
		case err != nil:
			return err
		}
		return txn.Delete(clientKey(id))
	})
}

// Meta implements Store.
func (s *BadgerStore) Meta(ctx context.Context, key string) ([]byte, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	defer s.end()
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(metaKey(key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("meta %q: %w", key, ErrNotFound)
		}
		if err != nil {
			return err
		}
		v, err = it.ValueCopy(nil)
		return err
	})
	return v, corruption(err)
}

// SetMeta implements Store.
func (s *BadgerStore) SetMeta(ctx context.Context, key string, value []byte) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	return s.update(ctx, func(txn *badger.Txn) error { return txn.Set(metaKey(key), value) })
}

// Close implements Store.
func (s *BadgerStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.db.Close()
	badgerfs.RestrictFiles(s.dir)
	return err
}

// Namespace implements Store: the namespace's keys live under
// "k/NAME/" in the same database (see kv.Badger for the value layout).
func (s *BadgerStore) Namespace(name string) kv.KV {
	checkNamespace(name)
	return kv.NewBadger(s.db, "k/"+name+"/", nil)
}

// checkNamespace panics on a namespace name that could overlap another:
// names are fixed strings in the authority's code, so a bad one is a bug.
func checkNamespace(name string) {
	if name == "" || len(name) > 32 {
		panic("authority: bad kv namespace name " + strconv.Quote(name))
	}
	for _, r := range name {
		if r < 'a' || r > 'z' {
			panic("authority: bad kv namespace name " + strconv.Quote(name))
		}
	}
}
