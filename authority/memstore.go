package authority

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/token"
)

// MemoryStore is an in-memory [Store] for tests and demos. It forgets
// everything when the process exits. Create one with [NewMemoryStore].
type MemoryStore struct {
	now   func() time.Time
	grace time.Duration

	mu        sync.RWMutex
	closed    bool
	tokens    map[string]TokenRecord // by string(revocation ID)
	index     map[TokenIndex]map[string]map[string]struct{}
	sessions  map[string]SessionRecord
	log       []LogEntry        // by increasing Seq
	byID      map[string]uint64 // revocation ID → Seq
	lastSeq   uint64
	lastHash  []byte // chain hash of lastSeq
	clients   map[string]ClientRecord
	meta      map[string][]byte
	lastPrune time.Time
	spaces    *kv.MemoryProvider
}

// MemoryOption configures a MemoryStore.
type MemoryOption func(*MemoryStore)

// WithMemoryClock sets the clock the store uses to forget expired records
// (default time.Now).
func WithMemoryClock(now func() time.Time) MemoryOption {
	return func(s *MemoryStore) { s.now = now }
}

// WithMemoryGrace sets how long records are kept after their expiry
// (default RetentionGrace).
func WithMemoryGrace(d time.Duration) MemoryOption {
	return func(s *MemoryStore) { s.grace = d }
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore(opts ...MemoryOption) *MemoryStore {
	s := &MemoryStore{
		now:      time.Now,
		grace:    RetentionGrace,
		tokens:   map[string]TokenRecord{},
		index:    map[TokenIndex]map[string]map[string]struct{}{BySession: {}, ByAgent: {}, ByUser: {}},
		sessions: map[string]SessionRecord{},
		byID:     map[string]uint64{},
		clients:  map[string]ClientRecord{},
		meta:     map[string][]byte{},
	}
	for _, o := range opts {
		o(s)
	}
	now := s.now
	s.spaces = kv.NewMemoryProvider(func() time.Time { return now() })
	return s
}

// gone reports whether a record expiring at exp may no longer be returned.
func (s *MemoryStore) gone(exp, now time.Time) bool {
	return !exp.IsZero() && !now.Before(exp.Add(s.grace))
}

// Apply implements Store.
func (s *MemoryStore) Apply(ctx context.Context, b *Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.pruneLocked(s.now())
	for i := range b.Mints {
		op := &b.Mints[i]
		op.Err = nil
		t := cloneToken(op.Token)
		sess, ok := s.sessions[t.Session]
		if ok && !s.gone(sess.ExpiresAt, s.now()) {
			if err := sessionAdmits(sess, t.ClientID); err != nil {
				op.Err = err
				continue
			}
		} else {
			sess = SessionRecord{ID: t.Session, ClientID: t.ClientID, CreatedAt: b.Now, Agent: t.Agent, User: t.User, Org: t.Org}
		}
		if t.ExpiresAt.After(sess.ExpiresAt) {
			sess.ExpiresAt = t.ExpiresAt
		}
		s.sessions[t.Session] = sess
		key := string(t.RevocationID)
		s.tokens[key] = t
		for _, ix := range indexesOf(&t) {
			by, v := ix.by, ix.value
			if v == "" {
				continue
			}
			m := s.index[by][v]
			if m == nil {
				m = map[string]struct{}{}
				s.index[by][v] = m
			}
			m[key] = struct{}{}
		}
	}
	for i := range b.SessionRevocations {
		op := &b.SessionRevocations[i]
		op.Err = nil
		sess, ok := s.sessions[op.Session]
		if !ok {
			op.Err = fmt.Errorf("session %q: %w", op.Session, ErrNotFound)
			continue
		}
		if sess.RevokedAt.IsZero() {
			sess.RevokedAt = b.Now
			s.sessions[op.Session] = sess
		}
	}
	for i := range b.Revocations {
		op := &b.Revocations[i]
		if seq, ok := s.byID[string(op.ID)]; ok {
			if e, ok := s.entryLocked(seq); ok {
				op.Entry, op.Created = cloneEntry(e), false
				continue
			}
		}
		s.lastSeq++
		e := LogEntry{Seq: s.lastSeq, ID: bytes.Clone(op.ID), ExpiresAt: op.ExpiresAt, Session: op.Session, RevokedAt: b.Now}
		e.PrevHash = s.headLocked()
		e.Hash = token.ChainHash(e.PrevHash, e.Seq, e.ID, e.ExpiresAt)
		s.lastHash = e.Hash
		s.log = append(s.log, e)
		s.byID[string(e.ID)] = e.Seq
		op.Entry, op.Created = cloneEntry(e), true
	}
	return nil
}

// sessionAdmits decides whether a token minted by clientID ("" for the
// admin) may join an existing session.
func sessionAdmits(sess SessionRecord, clientID string) error {
	if !sess.RevokedAt.IsZero() {
		return fmt.Errorf("session %q: %w", sess.ID, ErrSessionRevoked)
	}
	if clientID != "" && sess.ClientID != clientID {
		return fmt.Errorf("session %q: %w", sess.ID, ErrSessionOwned)
	}
	return nil
}

func (s *MemoryStore) entryLocked(seq uint64) (LogEntry, bool) {
	i, ok := slices.BinarySearchFunc(s.log, seq, func(e LogEntry, seq uint64) int {
		switch {
		case e.Seq < seq:
			return -1
		case e.Seq > seq:
			return 1
		}
		return 0
	})
	if !ok {
		return LogEntry{}, false
	}
	return s.log[i], true
}

// pruneLocked drops records past their retention, at most once a second.
func (s *MemoryStore) pruneLocked(now time.Time) {
	if now.Sub(s.lastPrune) < time.Second && !s.lastPrune.IsZero() {
		return
	}
	s.lastPrune = now
	for k, t := range s.tokens {
		if s.gone(t.ExpiresAt, now) {
			delete(s.tokens, k)
			for _, ix := range indexesOf(&t) {
				by, v := ix.by, ix.value
				if m := s.index[by][v]; m != nil {
					delete(m, k)
					if len(m) == 0 {
						delete(s.index[by], v)
					}
				}
			}
		}
	}
	for k, sess := range s.sessions {
		if s.gone(sess.ExpiresAt, now) {
			delete(s.sessions, k)
		}
	}
	kept := s.log[:0]
	for _, e := range s.log {
		if s.gone(e.ExpiresAt, now) {
			delete(s.byID, string(e.ID))
			continue
		}
		kept = append(kept, e)
	}
	clear(s.log[len(kept):])
	s.log = kept
}

// Token implements Store.
func (s *MemoryStore) Token(ctx context.Context, id []byte) (TokenRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return TokenRecord{}, ErrClosed
	}
	t, ok := s.tokens[string(id)]
	if !ok || s.gone(t.ExpiresAt, s.now()) {
		return TokenRecord{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	return cloneToken(t), nil
}

// Tokens implements Store.
func (s *MemoryStore) Tokens(ctx context.Context, by TokenIndex, value string, fn func(TokenRecord) bool) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	idx, ok := s.index[by]
	if !ok {
		s.mu.RUnlock()
		return fmt.Errorf("%w: unknown token index %d", ErrBadRequest, by)
	}
	now := s.now()
	var out []TokenRecord
	for k := range idx[value] {
		if t, ok := s.tokens[k]; ok && !s.gone(t.ExpiresAt, now) {
			out = append(out, cloneToken(t))
		}
	}
	s.mu.RUnlock()
	for _, t := range out {
		if !fn(t) {
			break
		}
	}
	return nil
}

// Session implements Store.
func (s *MemoryStore) Session(ctx context.Context, id string) (SessionRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return SessionRecord{}, ErrClosed
	}
	sess, ok := s.sessions[id]
	if !ok || s.gone(sess.ExpiresAt, s.now()) {
		return SessionRecord{}, fmt.Errorf("session %q: %w", id, ErrNotFound)
	}
	return sess, nil
}

// Sessions implements Store.
func (s *MemoryStore) Sessions(ctx context.Context, after SessionCursor, fn func(SessionRecord) bool) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	now := s.now()
	list := make([]SessionRecord, 0, len(s.sessions))
	for _, sess := range s.sessions {
		if !s.gone(sess.ExpiresAt, now) && (after.IsZero() || after.Before(sess.Cursor())) {
			list = append(list, sess)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(list, func(x, y SessionRecord) int {
		if x.Cursor().Before(y.Cursor()) {
			return -1
		}
		return 1
	})
	for _, sess := range list {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !fn(sess) {
			return nil
		}
	}
	return nil
}

// Revocations implements Store.
func (s *MemoryStore) Revocations(ctx context.Context, after uint64, fn func(LogEntry) bool) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	now := s.now()
	i, _ := slices.BinarySearchFunc(s.log, after+1, func(e LogEntry, seq uint64) int {
		switch {
		case e.Seq < seq:
			return -1
		case e.Seq > seq:
			return 1
		}
		return 0
	})
	var out []LogEntry
	for _, e := range s.log[i:] {
		if !s.gone(e.ExpiresAt, now) {
			out = append(out, cloneEntry(e))
		}
	}
	s.mu.RUnlock()
	for _, e := range out {
		if !fn(e) {
			break
		}
	}
	return nil
}

func (s *MemoryStore) headLocked() []byte {
	if s.lastHash == nil {
		return token.GenesisHash()
	}
	return s.lastHash
}

// ChainHead implements Store.
func (s *MemoryStore) ChainHead(ctx context.Context) (uint64, []byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, nil, ErrClosed
	}
	return s.lastSeq, bytes.Clone(s.headLocked()), nil
}

// LastSeq implements Store.
func (s *MemoryStore) LastSeq(ctx context.Context) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	return s.lastSeq, nil
}

// CreateClient implements Store.
func (s *MemoryStore) CreateClient(ctx context.Context, c ClientRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if _, ok := s.clients[c.ID]; ok {
		return fmt.Errorf("client %q: %w", c.ID, ErrExists)
	}
	s.clients[c.ID] = cloneClient(c)
	return nil
}

// Clients implements Store.
func (s *MemoryStore) Clients(ctx context.Context) ([]ClientRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	out := make([]ClientRecord, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, cloneClient(c))
	}
	slices.SortFunc(out, func(a, b ClientRecord) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteClient implements Store.
func (s *MemoryStore) DeleteClient(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if _, ok := s.clients[id]; !ok {
		return fmt.Errorf("client %q: %w", id, ErrNotFound)
	}
	delete(s.clients, id)
	return nil
}

// Meta implements Store.
func (s *MemoryStore) Meta(ctx context.Context, key string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	v, ok := s.meta[key]
	if !ok {
		return nil, fmt.Errorf("meta %q: %w", key, ErrNotFound)
	}
	return bytes.Clone(v), nil
}

// SetMeta implements Store.
func (s *MemoryStore) SetMeta(ctx context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.meta[key] = bytes.Clone(value)
	return nil
}

// Close implements Store.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func cloneToken(t TokenRecord) TokenRecord {
	t.RevocationID = bytes.Clone(t.RevocationID)
	t.Rights = slices.Clone(t.Rights)
	return t
}

func cloneEntry(e LogEntry) LogEntry {
	e.ID = bytes.Clone(e.ID)
	e.PrevHash, e.Hash = bytes.Clone(e.PrevHash), bytes.Clone(e.Hash)
	return e
}

func cloneClient(c ClientRecord) ClientRecord {
	c.SecretHash = bytes.Clone(c.SecretHash)
	c.Ceiling = c.Ceiling.clone()
	return c
}

// Namespace implements Store with an in-memory kv namespace (it outlives
// Close, like the rest of a MemoryStore's state, until the store is
// dropped).
func (s *MemoryStore) Namespace(name string) kv.KV {
	checkNamespace(name)
	return s.spaces.Namespace(name)
}
