package authority

import (
	"context"
	"time"

	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/token"
)

// Store is the authority's durable state: registered clients, what it
// remembers about each token it minted, sessions, and the revocation log.
// Keys live in files (see Config.DataDir), not in the Store.
//
// The authority owns this interface; [OpenBadgerStore] (embedded, on disk,
// the default) and [NewMemoryStore] (tests, demos) implement it, and
// storetest.RunStoreTests checks both against this contract:
//
//   - Safe for concurrent use. The authority sends every write through one
//     group-commit goroutine, but a Store must not rely on it: Apply is
//     atomic and compare-and-swap safe when called concurrently (sequence
//     numbers stay unique and dense, and session ownership is decided once).
//   - Apply is all or nothing and durable: when it returns nil, every
//     accepted operation of the batch survives a crash of the process (for
//     the Badger store, of the machine: writes are synced). When it returns
//     an error, nothing of the batch was applied. Operations refused by a
//     rule (a session owned by another client, a revoked session) are
//     reported in their own Err field and the rest of the batch proceeds.
//   - Revocations are idempotent: an ID already in the log yields its
//     existing entry (Created false), never a new sequence number, also
//     when the same ID appears twice in one batch.
//   - Sequence numbers start at 1, increase by one per new entry, and are
//     never reused, even once every entry has expired (LastSeq survives).
//   - The log is hash-chained: Apply gives every new entry PrevHash, the
//     chain hash of the entry before it (ChainHead's hash when the batch
//     began, or the previous new entry of the batch), and Hash =
//     token.ChainHash(PrevHash, Seq, ID, ExpiresAt), and stores both with
//     the entry; ChainHead advances with LastSeq, atomically. Revocations
//     returns the stored hashes as they are: the Authority checks them when
//     it loads the log and refuses to serve a broken chain, so a store
//     must never recompute or repair them.
//   - Corruption detected by the store (Badger's checksums) is reported as
//     an error wrapping [ErrCorrupt], never skipped.
//   - Records carry an ExpiresAt. A store keeps each record at least until
//     ExpiresAt plus its retention grace, then may drop it at any time
//     (Badger TTL); a dropped record is never returned again. Callers
//     filter by ExpiresAt when they need exact expiry.
//   - Not-found is reported as an error wrapping [ErrNotFound]; creating a
//     client that exists as [ErrExists]; any method after Close as
//     [ErrClosed]. Close is idempotent.
//   - Returned slices and records are the caller's: the store keeps no
//     reference to them, and callers may not modify what they passed in
//     while the call runs.
type Store interface {
	// Apply commits a batch atomically and durably; see Batch.
	Apply(ctx context.Context, b *Batch) error

	// Token returns the record of the token whose authority block has
	// the revocation ID id.
	Token(ctx context.Context, id []byte) (TokenRecord, error)
	// Tokens calls fn for each stored token whose field by equals value
	// (in unspecified order) until fn returns false.
	Tokens(ctx context.Context, by TokenIndex, value string, fn func(TokenRecord) bool) error
	// Session returns a session record.
	Session(ctx context.Context, id string) (SessionRecord, error)
	// Sessions calls fn for each stored session, newest first (by
	// CreatedAt descending, then by ID ascending), starting just after
	// the session named by after (the zero cursor starts at the newest),
	// until fn returns false. It is how the console pages through
	// sessions: keep the last record's Cursor() and pass it back.
	Sessions(ctx context.Context, after SessionCursor, fn func(SessionRecord) bool) error

	// Revocations calls fn for each stored log entry with Seq > after, in
	// increasing Seq order, until fn returns false.
	Revocations(ctx context.Context, after uint64, fn func(LogEntry) bool) error
	// LastSeq returns the highest sequence number ever assigned (0 if
	// none).
	LastSeq(ctx context.Context) (uint64, error)
	// ChainHead returns LastSeq and the chain hash of that entry (0 and
	// token.GenesisHash() for an empty log), kept even once the entry
	// itself has expired.
	ChainHead(ctx context.Context) (seq uint64, hash []byte, err error)

	// CreateClient registers a client; ErrExists if its ID is taken.
	CreateClient(ctx context.Context, c ClientRecord) error
	// Clients returns every registered client, ordered by ID.
	Clients(ctx context.Context) ([]ClientRecord, error)
	// DeleteClient removes a client; ErrNotFound if there is none.
	DeleteClient(ctx context.Context, id string) error

	// Meta returns a small named value (such as the admin token hash).
	Meta(ctx context.Context, key string) ([]byte, error)
	// SetMeta durably sets a small named value.
	SetMeta(ctx context.Context, key string, value []byte) error

	// Namespace returns a namespace of durable key-value state for one of
	// the authority's rooms (people, approvals, usage, decisions, oauth):
	// see package kv for its contract. name is a short lowercase word;
	// the same name gives the same namespace, and two names never share
	// a key. It lives in the same engine as the rest of the store, with
	// the same durability and integrity checks.
	Namespace(name string) kv.KV

	// Close releases the store.
	Close() error
}

// TokenIndex names a field tokens can be looked up by.
type TokenIndex int

// The token indexes.
const (
	BySession TokenIndex = iota + 1
	ByAgent
	ByUser
)

// String names the index as the API does: session, agent or user.
func (i TokenIndex) String() string {
	switch i {
	case BySession:
		return "session"
	case ByAgent:
		return "agent"
	case ByUser:
		return "user"
	}
	return "unknown"
}

// TokenRecord is what the authority remembers about a token it minted:
// enough to revoke it by session, agent or user, and to introspect it.
// Never the token itself.
type TokenRecord struct {
	// RevocationID is the revocation ID of the token's authority block.
	// Revoking it revokes the token and every token attenuated from it.
	RevocationID []byte
	Session      string
	Agent        string
	User         string
	Org          string
	// ClientID is the client that minted the token, "" for the admin.
	ClientID  string
	KeyID     uint32
	IssuedAt  time.Time
	ExpiresAt time.Time
	// Rights are the rights the authority block grants, as minted.
	Rights []token.Right
}

// SessionRecord is a session: the tokens minted under one session ID.
type SessionRecord struct {
	ID string
	// ClientID is the session's owner: the client that minted its first
	// token, "" for the admin. Only the owner (and the admin) may mint
	// into it, read it or revoke it.
	ClientID string
	// ExpiresAt is the latest expiry of its tokens.
	ExpiresAt time.Time
	// RevokedAt is set once the session is revoked; no token can be
	// minted into a revoked session.
	RevokedAt time.Time
	// CreatedAt is when the session's first token was recorded (the
	// batch's Now), and Agent, User and Org that token's subject: what
	// the console lists sessions by. Later tokens do not change them.
	CreatedAt        time.Time
	Agent, User, Org string
}

// SessionCursor is a position in the newest-first order of
// Store.Sessions.
type SessionCursor struct {
	CreatedAt time.Time
	ID        string
}

// Cursor is the position of s in the order of Store.Sessions.
func (s SessionRecord) Cursor() SessionCursor { return SessionCursor{CreatedAt: s.CreatedAt, ID: s.ID} }

// IsZero reports whether c is the start of the order.
func (c SessionCursor) IsZero() bool { return c.CreatedAt.IsZero() && c.ID == "" }

// Before reports whether a session at c comes before one at d in the
// order of Store.Sessions (newer first, then by ID).
func (c SessionCursor) Before(d SessionCursor) bool {
	if !c.CreatedAt.Equal(d.CreatedAt) {
		return c.CreatedAt.After(d.CreatedAt)
	}
	return c.ID < d.ID
}

// LogEntry is one entry of the revocation log.
type LogEntry struct {
	Seq uint64
	// ID is the raw revocation ID (a block signature, 64 bytes).
	ID []byte
	// ExpiresAt is the latest expiry of any token the ID can match; the
	// entry is useless after it.
	ExpiresAt time.Time
	// Session is the session of the token the ID belongs to, when known.
	// It is not published in the feed.
	Session   string
	RevokedAt time.Time
	// PrevHash is the chain hash of entry Seq-1 (token.GenesisHash() for
	// the first entry), and Hash this entry's:
	// token.ChainHash(PrevHash, Seq, ID, ExpiresAt). Set by Store.Apply.
	PrevHash, Hash []byte
}

// ClientRecord is a registered client as stored.
type ClientRecord struct {
	ID string
	// SecretHash is the SHA-256 of the client's full secret.
	SecretHash []byte
	Ceiling    Ceiling
	CreatedAt  time.Time
}

// Batch is a set of writes that Store.Apply commits in one transaction.
// Operations are applied in this order: Mints, then SessionRevocations, then
// Revocations; within each list, in list order. Output fields are filled in
// by Apply.
type Batch struct {
	// Now is the instant of the batch: the RevokedAt of new entries and
	// the reference for retention (time-to-live is ExpiresAt + grace -
	// Now).
	Now                time.Time
	Mints              []MintOp
	SessionRevocations []SessionRevokeOp
	Revocations        []RevokeOp
}

// MintOp records a minted token and claims or extends its session.
type MintOp struct {
	Token TokenRecord
	// Err (output) is ErrSessionOwned when the session belongs to another
	// client (a token minted by the admin, ClientID "", may join any
	// session; a client may join only its own), or ErrSessionRevoked
	// when the session was revoked. The token is then not recorded.
	Err error
}

// SessionRevokeOp marks a session revoked (idempotent: the first RevokedAt
// is kept).
type SessionRevokeOp struct {
	Session string
	// Err (output) wraps ErrNotFound when there is no such session.
	Err error
}

// RevokeOp appends a revocation ID to the log.
type RevokeOp struct {
	ID        []byte
	ExpiresAt time.Time
	Session   string
	// Entry (output) is the new entry, or the existing one when the ID was
	// already in the log (then Created is false).
	Entry   LogEntry
	Created bool
}

type indexEntry struct {
	by    TokenIndex
	value string
}

// indexesOf lists the index entries of a token record.
func indexesOf(t *TokenRecord) [3]indexEntry {
	return [3]indexEntry{{BySession, t.Session}, {ByAgent, t.Agent}, {ByUser, t.User}}
}
