package authority

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/token"
)

// KVStore is a [Store] kept entirely in a kv.Provider: its own records in
// the namespace "store", and every room's namespace beside it. It is how
// the authority runs on a replicated engine (NATS JetStream, package
// authority/natsstore): any engine that keeps the kv contract — per-key
// revisions, conditional atomic batches, durable acknowledgement — keeps
// the Store contract too, with several authority processes writing at
// once. Every Apply is one conditional kv batch: it reads what it needs,
// writes with preconditions on every key it read (the log head, sessions,
// revocation IDs), and starts over when another writer got there first, so
// sequence numbers stay dense and unique across processes and a session is
// claimed once.
//
// Layout of the "store" namespace:
//
//	head                        {"seq","hash"}: the last sequence number and its chain hash
//	m/NAME                      meta values
//	c/CLIENT_ID                 client record (JSON)
//	t/HEX(REVOCATION_ID)        token record (JSON), expiring
//	i/K/LEN:VALUE/HEX(REV_ID)   token index by session (K=s), agent (a), user (u), expiring
//	s/SESSION                   session record (JSON), expiring
//	n/^CREATED_NS/SESSION        sessions newest first (no value), expiring
//	l/SEQ (20 digits)           revocation log entry (JSON), expiring
//	r/HEX(REVOCATION_ID)        the entry's SEQ, expiring
//
// Records expire at ExpiresAt plus the retention grace.
type KVStore struct {
	spaces kv.Provider
	ns     kv.KV
	grace  time.Duration

	// applyMu serializes Apply within this process: concurrent batches
	// of one process would only conflict with each other and retry.
	// Conflicts with other processes sharing the engine are retried with
	// a jittered backoff.
	applyMu sync.Mutex

	mu         sync.RWMutex
	closed     bool
	close      func() error
	replicated bool
}

// Replicated reports whether several authority processes share the store.
func (s *KVStore) Replicated() bool { return s.replicated }

// KVStoreOptions tune NewKVStore.
type KVStoreOptions struct {
	// Grace is how long records are kept after their expiry (default
	// RetentionGrace; a negative value means none).
	Grace time.Duration
	// Close, when set, is called once by Close (to release the engine).
	Close func() error
	// Replicated says that several authority processes share the engine
	// (NATS JetStream): each then keeps its keys in the store and follows
	// the others' writes (see Config.SyncInterval).
	Replicated bool
}

// NewKVStore returns a Store kept in p.
func NewKVStore(p kv.Provider, o KVStoreOptions) *KVStore {
	if o.Grace == 0 {
		o.Grace = RetentionGrace
	}
	if o.Grace < 0 {
		o.Grace = 0
	}
	return &KVStore{spaces: p, ns: p.Namespace("store"), grace: o.Grace, close: o.Close, replicated: o.Replicated}
}

func (s *KVStore) begin() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *KVStore) end() { s.mu.RUnlock() }

func (s *KVStore) expiry(exp time.Time) time.Time {
	if exp.IsZero() {
		return time.Time{}
	}
	return exp.Add(s.grace)
}

func kvTokenKey(id []byte) string   { return "t/" + hex.EncodeToString(id) }
func kvRevIDKey(id []byte) string   { return "r/" + hex.EncodeToString(id) }
func kvSessionKey(id string) string { return "s/" + id }
func kvClientKey(id string) string  { return "c/" + id }
func kvMetaKey(n string) string     { return "m/" + n }
func kvLogKey(seq uint64) string    { return fmt.Sprintf("l/%020d", seq) }
func kvIndexPrefix(by TokenIndex, v string) string {
	return "i/" + string(indexKind[by]) + "/" + strconv.Itoa(len(v)) + ":" + v + "/"
}

const kvHeadKey = "head"

type headJSON struct {
	Seq  uint64 `json:"seq"`
	Hash []byte `json:"hash"`
}

// storeErr maps the engine's errors onto the Store's.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kv.ErrCorrupt):
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	case errors.Is(err, kv.ErrClosed):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

// get reads and decodes key; found is false when it does not exist.
func (s *KVStore) get(ctx context.Context, key string, v any) (rev uint64, found bool, err error) {
	e, err := s.ns.Get(ctx, key)
	if errors.Is(err, kv.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, storeErr(err)
	}
	if err := json.Unmarshal(e.Value, v); err != nil {
		return 0, false, fmt.Errorf("%w: storage: %q: %v", ErrCorrupt, key, err)
	}
	return e.Rev, true, nil
}

// Apply implements Store.
func (s *KVStore) Apply(ctx context.Context, b *Batch) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	var err error
	for attempt := range 64 {
		if err = ctx.Err(); err != nil {
			return err
		}
		if attempt > 0 {
			// Another replica won the race: back off a little, at
			// random, so that two replicas do not keep colliding.
			time.Sleep(time.Duration(rand.Int64N(int64(min(attempt, 10)) * int64(time.Millisecond))))
		}
		var ops []kv.Op
		ops, err = s.plan(ctx, b)
		if err != nil {
			return err
		}
		if len(ops) == 0 {
			return nil
		}
		_, err = s.ns.Apply(ctx, ops...)
		if !errors.Is(err, kv.ErrConflict) {
			return storeErr(err)
		}
	}
	return fmt.Errorf("%w: storage: the batch kept conflicting with other writers: %w", ErrUnavailable, err)
}

// plan reads the state b depends on and returns the conditional writes
// that apply it, filling b's output fields.
func (s *KVStore) plan(ctx context.Context, b *Batch) ([]kv.Op, error) {
	var ops []kv.Op
	type sessState struct {
		rec   SessionRecord
		rev   uint64
		found bool
		dirty bool
	}
	sessions := map[string]*sessState{}
	var order []string
	session := func(id string) (*sessState, error) {
		if st, ok := sessions[id]; ok {
			return st, nil
		}
		var sj sessionJSON
		rev, found, err := s.get(ctx, kvSessionKey(id), &sj)
		if err != nil {
			return nil, err
		}
		st := &sessState{rev: rev, found: found, rec: sessionRecord(id, &sj)}
		sessions[id] = st
		order = append(order, id)
		return st, nil
	}
	for i := range b.Mints {
		op := &b.Mints[i]
		op.Err = nil
		t := op.Token
		st, err := session(t.Session)
		if err != nil {
			return nil, err
		}
		if st.found || st.dirty {
			if err := sessionAdmits(st.rec, t.ClientID); err != nil {
				op.Err = err
				continue
			}
		} else {
			st.rec = SessionRecord{ID: t.Session, ClientID: t.ClientID, CreatedAt: b.Now, Agent: t.Agent, User: t.User, Org: t.Org}
		}
		if t.ExpiresAt.After(st.rec.ExpiresAt) {
			st.rec.ExpiresAt = t.ExpiresAt
		}
		st.dirty = true
		exp := s.expiry(t.ExpiresAt)
		v, _ := json.Marshal(tokenJSON{Session: t.Session, Agent: t.Agent, User: t.User, Org: t.Org, ClientID: t.ClientID, KeyID: t.KeyID, IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt, Rights: t.Rights})
		ops = append(ops, kv.Put(kvTokenKey(t.RevocationID), v, exp))
		for _, ix := range indexesOf(&t) {
			if ix.value != "" {
				ops = append(ops, kv.Put(kvIndexPrefix(ix.by, ix.value)+hex.EncodeToString(t.RevocationID), nil, exp))
			}
		}
	}
	for i := range b.SessionRevocations {
		op := &b.SessionRevocations[i]
		op.Err = nil
		st, err := session(op.Session)
		if err != nil {
			return nil, err
		}
		if !st.found && !st.dirty {
			op.Err = fmt.Errorf("session %q: %w", op.Session, ErrNotFound)
			continue
		}
		if st.rec.RevokedAt.IsZero() {
			st.rec.RevokedAt = b.Now
			st.dirty = true
		}
	}
	for _, id := range order {
		st := sessions[id]
		if !st.dirty {
			continue
		}
		r := &st.rec
		v, _ := json.Marshal(sessionJSON{ClientID: r.ClientID, ExpiresAt: r.ExpiresAt, RevokedAt: r.RevokedAt, CreatedAt: r.CreatedAt, Agent: r.Agent, User: r.User, Org: r.Org})
		key, exp := kvSessionKey(id), s.expiry(st.rec.ExpiresAt)
		if st.found {
			ops = append(ops, kv.Update(key, v, st.rev, exp))
		} else {
			ops = append(ops, kv.Create(key, v, exp))
		}
		if !r.CreatedAt.IsZero() {
			ops = append(ops, kv.Put(kvSessionOrderKey(r.Cursor()), nil, exp))
		}
	}
	if len(b.Revocations) == 0 {
		return ops, nil
	}
	var head headJSON
	headRev, headFound, err := s.get(ctx, kvHeadKey, &head)
	if err != nil {
		return nil, err
	}
	if !headFound {
		head.Hash = token.GenesisHash()
	}
	created := map[string]LogEntry{}
	next := head
	for i := range b.Revocations {
		op := &b.Revocations[i]
		idHex := hex.EncodeToString(op.ID)
		if e, ok := created[idHex]; ok {
			op.Entry, op.Created = cloneEntry(e), false
			continue
		}
		var seq uint64
		rev, found, err := s.get(ctx, kvRevIDKey(op.ID), &seq)
		if err != nil {
			return nil, err
		}
		if found {
			e, ok, err := s.entry(ctx, seq)
			if err != nil {
				return nil, err
			}
			if ok {
				op.Entry, op.Created = e, false
				// The entry must still be there when the batch
				// commits: pin it.
				raw, _ := json.Marshal(seq)
				ops = append(ops, kv.Update(kvRevIDKey(op.ID), raw, rev, s.expiry(e.ExpiresAt)))
				continue
			}
		}
		next.Seq++
		e := LogEntry{Seq: next.Seq, ID: bytes.Clone(op.ID), ExpiresAt: op.ExpiresAt, Session: op.Session, RevokedAt: b.Now}
		e.PrevHash = next.Hash
		e.Hash = token.ChainHash(e.PrevHash, e.Seq, e.ID, e.ExpiresAt)
		next.Hash = e.Hash
		created[idHex] = e
		op.Entry, op.Created = cloneEntry(e), true
		v, _ := json.Marshal(entryJSON{ID: e.ID, ExpiresAt: e.ExpiresAt, Session: e.Session, RevokedAt: e.RevokedAt, PrevHash: e.PrevHash, Hash: e.Hash})
		raw, _ := json.Marshal(e.Seq)
		exp := s.expiry(e.ExpiresAt)
		ops = append(ops, kv.Put(kvLogKey(e.Seq), v, exp))
		if found {
			ops = append(ops, kv.Update(kvRevIDKey(op.ID), raw, rev, exp))
		} else {
			ops = append(ops, kv.Create(kvRevIDKey(op.ID), raw, exp))
		}
	}
	if next.Seq != head.Seq {
		v, _ := json.Marshal(next)
		if headFound {
			ops = append(ops, kv.Update(kvHeadKey, v, headRev, time.Time{}))
		} else {
			ops = append(ops, kv.Create(kvHeadKey, v, time.Time{}))
		}
	} else if headFound {
		// Nothing new: still make sure no other writer moved the head
		// under entries this batch reported as existing.
		v, _ := json.Marshal(head)
		ops = append(ops, kv.Update(kvHeadKey, v, headRev, time.Time{}))
	}
	return ops, nil
}

// entry reads the log entry seq.
func (s *KVStore) entry(ctx context.Context, seq uint64) (LogEntry, bool, error) {
	var ej entryJSON
	_, found, err := s.get(ctx, kvLogKey(seq), &ej)
	if err != nil || !found {
		return LogEntry{}, false, err
	}
	return LogEntry{Seq: seq, ID: ej.ID, ExpiresAt: ej.ExpiresAt, Session: ej.Session, RevokedAt: ej.RevokedAt, PrevHash: ej.PrevHash, Hash: ej.Hash}, true, nil
}

// Token implements Store.
func (s *KVStore) Token(ctx context.Context, id []byte) (TokenRecord, error) {
	if err := s.begin(); err != nil {
		return TokenRecord{}, err
	}
	defer s.end()
	var tj tokenJSON
	_, found, err := s.get(ctx, kvTokenKey(id), &tj)
	if err != nil {
		return TokenRecord{}, err
	}
	if !found {
		return TokenRecord{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	return tj.record(id), nil
}

func (tj tokenJSON) record(id []byte) TokenRecord {
	return TokenRecord{RevocationID: bytes.Clone(id), Session: tj.Session, Agent: tj.Agent, User: tj.User, Org: tj.Org,
		ClientID: tj.ClientID, KeyID: tj.KeyID, IssuedAt: tj.IssuedAt, ExpiresAt: tj.ExpiresAt, Rights: tj.Rights}
}

// Tokens implements Store.
func (s *KVStore) Tokens(ctx context.Context, by TokenIndex, value string, fn func(TokenRecord) bool) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	if _, ok := indexKind[by]; !ok {
		return fmt.Errorf("%w: unknown token index %d", ErrBadRequest, by)
	}
	prefix := kvIndexPrefix(by, value)
	var ids [][]byte
	err := s.ns.Scan(ctx, kv.ScanOptions{Prefix: prefix, KeysOnly: true}, func(e kv.Entry) bool {
		if id, err := hex.DecodeString(e.Key[len(prefix):]); err == nil {
			ids = append(ids, id)
		}
		return true
	})
	if err != nil {
		return storeErr(err)
	}
	for _, id := range ids {
		var tj tokenJSON
		_, found, err := s.get(ctx, kvTokenKey(id), &tj)
		if err != nil {
			return err
		}
		if found && !fn(tj.record(id)) {
			return nil
		}
	}
	return nil
}

// Session implements Store.
func (s *KVStore) Session(ctx context.Context, id string) (SessionRecord, error) {
	if err := s.begin(); err != nil {
		return SessionRecord{}, err
	}
	defer s.end()
	if kv.CheckKey(kvSessionKey(id)) != nil {
		return SessionRecord{}, fmt.Errorf("session %q: %w", clip(id), ErrNotFound)
	}
	var sj sessionJSON
	_, found, err := s.get(ctx, kvSessionKey(id), &sj)
	if err != nil {
		return SessionRecord{}, err
	}
	if !found {
		return SessionRecord{}, fmt.Errorf("session %q: %w", clip(id), ErrNotFound)
	}
	return sessionRecord(id, &sj), nil
}

// kvSessionOrderKey is the session's key in the newest-first index:
// "n/" + the complement of CreatedAt in Unix nanoseconds, 20 digits (newer
// sorts first) + "/" + the ID.
func kvSessionOrderKey(c SessionCursor) string {
	return fmt.Sprintf("n/%020d/", ^uint64(c.CreatedAt.UnixNano())) + c.ID
}

// Sessions implements Store.
func (s *KVStore) Sessions(ctx context.Context, after SessionCursor, fn func(SessionRecord) bool) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	o := kv.ScanOptions{Prefix: "n/", KeysOnly: true}
	if !after.IsZero() {
		o.Start = kvSessionOrderKey(after)
	}
	var inner error
	err := s.ns.Scan(ctx, o, func(e kv.Entry) bool {
		if e.Key == o.Start || len(e.Key) < 23 {
			return true
		}
		n, err := strconv.ParseUint(e.Key[2:22], 10, 64)
		if err != nil {
			return true
		}
		id := e.Key[23:]
		var sj sessionJSON
		_, found, err := s.get(ctx, kvSessionKey(id), &sj)
		if err != nil {
			inner = err
			return false
		}
		// Expired, or a stale entry of a session created again.
		if !found || !sj.CreatedAt.Equal(time.Unix(0, int64(^n))) {
			return true
		}
		return fn(sessionRecord(id, &sj))
	})
	if err == nil {
		err = inner
	}
	return err
}

// pointReads is the largest tail Revocations reads entry by entry (a
// request each on a replicated engine, but no listing of the whole log).
const pointReads = 4096

// Revocations implements Store. A short tail (a replica catching up) is
// read entry by entry from the head down; a long one is scanned.
func (s *KVStore) Revocations(ctx context.Context, after uint64, fn func(LogEntry) bool) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	var head headJSON
	if _, _, err := s.get(ctx, kvHeadKey, &head); err != nil {
		return err
	}
	if head.Seq <= after {
		return nil
	}
	if head.Seq-after <= pointReads {
		for seq := after + 1; seq <= head.Seq; seq++ {
			e, ok, err := s.entry(ctx, seq)
			if err != nil {
				return err
			}
			if ok && !fn(e) {
				return nil
			}
		}
		return nil
	}
	var bad error
	err := s.ns.Scan(ctx, kv.ScanOptions{Prefix: "l/", Start: kvLogKey(after + 1)}, func(e kv.Entry) bool {
		seq, err := strconv.ParseUint(e.Key[2:], 10, 64)
		var ej entryJSON
		if err == nil {
			err = json.Unmarshal(e.Value, &ej)
		}
		if err != nil {
			bad = fmt.Errorf("%w: storage: log entry %q: %v", ErrCorrupt, e.Key, err)
			return false
		}
		return fn(LogEntry{Seq: seq, ID: ej.ID, ExpiresAt: ej.ExpiresAt, Session: ej.Session, RevokedAt: ej.RevokedAt, PrevHash: ej.PrevHash, Hash: ej.Hash})
	})
	if err != nil {
		return storeErr(err)
	}
	return bad
}

// LastSeq implements Store.
func (s *KVStore) LastSeq(ctx context.Context) (uint64, error) {
	seq, _, err := s.ChainHead(ctx)
	return seq, err
}

// ChainHead implements Store.
func (s *KVStore) ChainHead(ctx context.Context) (uint64, []byte, error) {
	if err := s.begin(); err != nil {
		return 0, nil, err
	}
	defer s.end()
	var h headJSON
	_, found, err := s.get(ctx, kvHeadKey, &h)
	if err != nil {
		return 0, nil, err
	}
	if !found {
		return 0, token.GenesisHash(), nil
	}
	return h.Seq, h.Hash, nil
}

// CreateClient implements Store.
func (s *KVStore) CreateClient(ctx context.Context, c ClientRecord) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	v, _ := json.Marshal(clientOf(c))
	_, err := s.ns.Apply(ctx, kv.Create(kvClientKey(c.ID), v, time.Time{}))
	if errors.Is(err, kv.ErrConflict) {
		return fmt.Errorf("client %q: %w", c.ID, ErrExists)
	}
	return storeErr(err)
}

// Clients implements Store.
func (s *KVStore) Clients(ctx context.Context) ([]ClientRecord, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	defer s.end()
	var out []ClientRecord
	var bad error
	err := s.ns.Scan(ctx, kv.ScanOptions{Prefix: "c/"}, func(e kv.Entry) bool {
		var cj clientJSON
		if err := json.Unmarshal(e.Value, &cj); err != nil {
			bad = fmt.Errorf("%w: storage: client %q: %v", ErrCorrupt, e.Key, err)
			return false
		}
		c, err := cj.record(e.Key[2:])
		if err != nil {
			bad = fmt.Errorf("%w: storage: client %q: %v", ErrCorrupt, e.Key, err)
			return false
		}
		out = append(out, c)
		return true
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return out, bad
}

// DeleteClient implements Store.
func (s *KVStore) DeleteClient(ctx context.Context, id string) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	if kv.CheckKey(kvClientKey(id)) != nil {
		return fmt.Errorf("client %q: %w", clip(id), ErrNotFound)
	}
	e, err := s.ns.Get(ctx, kvClientKey(id))
	if errors.Is(err, kv.ErrNotFound) {
		return fmt.Errorf("client %q: %w", clip(id), ErrNotFound)
	}
	if err != nil {
		return storeErr(err)
	}
	_, err = s.ns.Apply(ctx, kv.Op{Key: kvClientKey(id), Delete: true, Match: kv.AtRev, Rev: e.Rev})
	if errors.Is(err, kv.ErrConflict) {
		return fmt.Errorf("client %q: %w", clip(id), ErrNotFound)
	}
	return storeErr(err)
}

// Meta implements Store.
func (s *KVStore) Meta(ctx context.Context, key string) ([]byte, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	defer s.end()
	e, err := s.ns.Get(ctx, kvMetaKey(key))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, fmt.Errorf("meta %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, storeErr(err)
	}
	return e.Value, nil
}

// SetMeta implements Store.
func (s *KVStore) SetMeta(ctx context.Context, key string, value []byte) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	_, err := s.ns.Apply(ctx, kv.Put(kvMetaKey(key), value, time.Time{}))
	return storeErr(err)
}

// Namespace implements Store.
func (s *KVStore) Namespace(name string) kv.KV {
	checkNamespace(name)
	if name == "store" {
		panic("authority: the kv namespace \"store\" is the KVStore's own")
	}
	return s.spaces.Namespace(name)
}

// Close implements Store.
func (s *KVStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.close != nil {
		return s.close()
	}
	return nil
}
