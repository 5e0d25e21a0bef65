package approvals

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/token"
)

// Errors of the room. The authority's handlers map them to HTTP statuses;
// match with errors.Is.
var (
	// ErrBadRequest: the request is ill-formed (a field over its limit, an
	// argument the call digest cannot encode).
	ErrBadRequest = errors.New("approvals: bad request")
	// ErrUnauthenticated: the agent's token does not verify, expired or
	// was revoked.
	ErrUnauthenticated = errors.New("approvals: the token is not valid")
	// ErrForbidden: the caller may not see or decide this request (not an
	// approver of its org, not named by the caveat, another session).
	ErrForbidden = errors.New("approvals: forbidden")
	// ErrNotFound: no such request (or it was forgotten after DefaultRetain).
	ErrNotFound = errors.New("approvals: no such approval request")
	// ErrNotApprovable: the call could never be made with the token, even
	// with an approval (no right covers it, another caveat denies it, no
	// one person can satisfy its approval caveats), or it needs no approval.
	ErrNotApprovable = errors.New("approvals: this call cannot be approved")
	// ErrTooMany: the session has DefaultMaxPendingPerSession pending
	// requests already.
	ErrTooMany = errors.New("approvals: too many pending requests")
	// ErrExpired: the request (or its approval) expired.
	ErrExpired = errors.New("approvals: expired")
	// ErrDecided: the request was decided already.
	ErrDecided = errors.New("approvals: already decided")
	// ErrRevoked: the session or a block of the token was revoked.
	ErrRevoked = errors.New("approvals: revoked")
	// ErrNotApproved: the request was not approved (pending or denied), so
	// there is nothing to redeem.
	ErrNotApproved = errors.New("approvals: not approved")
	// ErrUsedUp: every use of the approval was redeemed.
	ErrUsedUp = errors.New("approvals: every use of this approval was redeemed")
	// ErrUnavailable: storage failed or stayed contended; retry.
	ErrUnavailable = errors.New("approvals: unavailable")
)

// Status is where a request stands.
type Status string

// Statuses. Expired is never stored: a pending request past its expiry
// reads as expired.
const (
	StatusPending  Status = "pending"
	StatusApproved Status = "approved"
	StatusDenied   Status = "denied"
	StatusExpired  Status = "expired"
	StatusRevoked  Status = "revoked"
)

// ParseStatus reads a status filter ("" is every status).
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case "", StatusPending, StatusApproved, StatusDenied, StatusExpired, StatusRevoked:
		return st, nil
	}
	return "", fmt.Errorf("%w: status %q; want pending, approved, denied, expired or revoked", ErrBadRequest, clip(s))
}

// Call is the call a request asks to approve, as the verifier will see it.
type Call struct {
	Service   string         `json:"service"`
	Tool      string         `json:"tool"`
	Operation string         `json:"operation"`
	Resource  string         `json:"resource"`
	Args      map[string]any `json:"args,omitempty"`
}

// Hop is one block of the asking token: who it was delegated to (its
// delegated_to facts, as the delegator wrote them: information, not
// proof) and its revocation ID.
type Hop struct {
	Block        int      `json:"block"`
	RevocationID string   `json:"revocation_id"`
	DelegatedTo  []string `json:"delegated_to,omitempty"`
}

// Requirement is one approval caveat the call fails without an approval,
// and whom it accepts.
type Requirement struct {
	Block int    `json:"block"`
	Check int    `json:"check"`
	Text  string `json:"text"`
	// Approvers are the people it names; OrgApprovers accepts any approver
	// of the token's org, AnyApprover anyone the authority lets decide.
	Approvers    []string `json:"approvers,omitempty"`
	OrgApprovers bool     `json:"org_approvers,omitempty"`
	AnyApprover  bool     `json:"any_approver,omitempty"`
	// Custom: a hand-written check the authority cannot read; any approver
	// of the org may decide, and the verifier has the last word.
	Custom bool `json:"custom,omitempty"`
}

// accepts reports whether an approval by name for org satisfies r.
func (r *Requirement) accepts(name, org, tokenOrg string) bool {
	switch {
	case r.AnyApprover, r.Custom:
		return true
	case r.OrgApprovers && tokenOrg != "" && org == tokenOrg:
		return true
	}
	for _, a := range r.Approvers {
		if a == name {
			return true
		}
	}
	return false
}

// Decision is a person's answer.
type Decision struct {
	Approved bool      `json:"approved"`
	By       string    `json:"by"`
	Org      string    `json:"org,omitempty"`
	At       time.Time `json:"at"`
	Comment  string    `json:"comment,omitempty"`
}

// Use is one redeemed use of an approval.
type Use struct {
	At         time.Time `json:"at"`
	DecisionID string    `json:"decision_id,omitempty"`
}

// Request is an approval request and, once approved, its approval and
// uses. Its ID is the approval's ID.
type Request struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	// Who asks.
	Session  string `json:"session"`
	Agent    string `json:"agent"`
	User     string `json:"user,omitempty"`
	Org      string `json:"org,omitempty"`
	Chain    []Hop  `json:"chain"`
	Lineage  string `json:"lineage"` // revocation ID of the asking token's last block, hex
	ClientID string `json:"client_id,omitempty"`
	// The call.
	Call       Call   `json:"call"`
	CallDigest string `json:"call_digest"`
	// Why it needs a person: the caveats' text, and the agent's note.
	Reason       string        `json:"reason"`
	Requirements []Requirement `json:"requirements"`
	Note         string        `json:"note,omitempty"`
	MaxUses      int           `json:"max_uses"`
	CreatedAt    time.Time     `json:"created_at"`
	ExpiresAt    time.Time     `json:"expires_at"`
	// TokenExpiresAt bounds the approval's expiry: no approval outlives
	// the token it was asked with.
	TokenExpiresAt time.Time `json:"token_expires_at"`
	Decision       *Decision `json:"decision,omitempty"`
	// Approval is the encoded, signed approval once approved.
	Approval          string    `json:"approval,omitempty"`
	ApprovalExpiresAt time.Time `json:"approval_expires_at,omitzero"`
	Uses              []Use     `json:"uses,omitempty"`
	RevokedAt         time.Time `json:"revoked_at,omitzero"`
	RevokedBecause    string    `json:"revoked_because,omitempty"`

	// slot is the pending slot the request holds (see store.go).
	Slot int `json:"slot,omitempty"`
}

// view is r as a reader sees it at now: pending past its expiry reads as
// expired.
func (r Request) view(now time.Time) Request {
	if r.Status == StatusPending && !now.Before(r.ExpiresAt) {
		r.Status = StatusExpired
	}
	return r
}

// RevocationChecker reports revoked revocation IDs: Revoked returns the
// index of the first revoked ID in ids, or -1 (the authority implements
// it).
type RevocationChecker interface {
	Revoked(ids [][]byte) int
}

// Config configures a Room: the authority wires it (authority.Open).
type Config struct {
	// KV is the room's namespace. Required.
	KV kv.KV
	// Keys returns the authority's trusted root keys. Required.
	Keys func() *token.KeySet
	// Revocations is the authority's revocation set. Required.
	Revocations RevocationChecker
	// Sign signs an approval with the authority's active root key.
	// Required.
	Sign func(token.Approval) (string, error)
	// Audit starts an audit event (the authority's audit logger). Nil: no
	// audit events.
	Audit func(ctx context.Context, event string) *zerolog.Event
	// Now is the clock (default time.Now).
	Now func() time.Time
	// RequestTTL, ApprovalTTL, MaxPendingPerSession, Retain: zero means
	// the Default… limit.
	RequestTTL           time.Duration
	ApprovalTTL          time.Duration
	MaxPendingPerSession int
	Retain               time.Duration
	// PollInterval, when set, makes a long-poll also re-read its request
	// this often, to learn of a decision made by another authority
	// replica sharing the store (the in-process broadcast only sees this
	// replica's writes). The authority sets it on replicated stores.
	PollInterval time.Duration
	// AfterSpend, when set, runs after a use was durably spent and before
	// Redeem answers. For crash tests only: never set it in production.
	AfterSpend func(id string)
}

// Room keeps approval requests, approvals and their uses. It is safe for
// concurrent use.
type Room struct {
	cfg Config
	now func() time.Time

	// changed is closed (and replaced) on every write, for long-polls.
	cmu     sync.Mutex
	changed chan struct{}
}

// New returns a Room.
func New(cfg Config) (*Room, error) {
	switch {
	case cfg.KV == nil:
		return nil, errors.New("approvals: Config.KV is required")
	case cfg.Keys == nil || cfg.Revocations == nil || cfg.Sign == nil:
		return nil, errors.New("approvals: Config.Keys, Revocations and Sign are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RequestTTL <= 0 {
		cfg.RequestTTL = DefaultRequestTTL
	}
	cfg.RequestTTL = min(cfg.RequestTTL, MaxRequestTTL)
	if cfg.ApprovalTTL <= 0 {
		cfg.ApprovalTTL = DefaultApprovalTTL
	}
	cfg.ApprovalTTL = min(cfg.ApprovalTTL, token.MaxApprovalTTL)
	if cfg.MaxPendingPerSession <= 0 {
		cfg.MaxPendingPerSession = DefaultMaxPendingPerSession
	}
	if cfg.Retain <= 0 {
		cfg.Retain = DefaultRetain
	}
	return &Room{cfg: cfg, now: cfg.Now, changed: make(chan struct{})}, nil
}

func (r *Room) audit(ctx context.Context, event string) *zerolog.Event {
	if r.cfg.Audit == nil {
		return nil // a nil *zerolog.Event discards everything
	}
	return r.cfg.Audit(ctx, event)
}

// notify wakes every long-poll.
func (r *Room) notify() {
	r.cmu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.cmu.Unlock()
}

func (r *Room) changes() <-chan struct{} {
	r.cmu.Lock()
	defer r.cmu.Unlock()
	return r.changed
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
