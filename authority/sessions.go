package authority

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mandate-dev/mandate/authority/usage"
	"github.com/mandate-dev/mandate/token"
)

// Session statuses.
const (
	SessionActive  = "active"  // at least one live, unrevoked token
	SessionRevoked = "revoked" // revoked as a whole, or every live token revoked
	SessionExpired = "expired" // every token expired
)

// SessionView describes a session for its owner or the admin.
type SessionView struct {
	ID        string
	ClientID  string // "" when the admin minted it
	Status    string
	ExpiresAt time.Time
	RevokedAt time.Time // set when the session was revoked as a whole
	// CreatedAt, Agent, User and Org are the session's first token's
	// (zero for a session stored before they were recorded).
	CreatedAt        time.Time
	Agent, User, Org string
	// Tokens are the session's tokens (at most MaxListed), oldest first.
	Tokens      []TokenView
	TokenCount  int
	Revocations []LogEntry // log entries about the session's tokens, by Seq
	// Limits is the usage of the session's usage limits, per limit and
	// window (authority/usage).
	Limits []usage.Usage
}

// TokenView describes one token of a session: never the token itself.
type TokenView struct {
	TokenRecord
	Revoked bool
}

// Session returns a session's tokens, status and revocations. The admin or
// the session's client only (a client names its own sessions, see
// Principal.SessionID); ErrNotFound once every token has expired and
// storage has forgotten it.
func (a *Authority) Session(ctx context.Context, p Principal, id string) (*SessionView, error) {
	return a.session(ctx, p, id, func(s SessionRecord) bool { return p.owns(s.ClientID) })
}

// ViewSession is Session for the console: also a person who sees the
// session's org (people.Person.MaySee) may read it. The API's GET
// /v1/sessions keeps to Session: a person owns no session there.
func (a *Authority) ViewSession(ctx context.Context, p Principal, id string) (*SessionView, error) {
	return a.session(ctx, p, id, p.maySee)
}

func (a *Authority) session(ctx context.Context, p Principal, id string, allowed func(SessionRecord) bool) (*SessionView, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: name a session: GET /v1/sessions/{id}", ErrBadRequest)
	}
	id = p.SessionID(id)
	sess, err := a.store.Session(ctx, id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("session %q: %w", clip(id), ErrNotFound)
		}
		return nil, fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
	}
	if !allowed(sess) {
		return nil, fmt.Errorf("%w: session %q belongs to another client (or, for a person, to an org it does not see)", ErrForbidden, clip(id))
	}
	v := &SessionView{ID: sess.ID, ClientID: sess.ClientID, ExpiresAt: sess.ExpiresAt, RevokedAt: sess.RevokedAt,
		CreatedAt: sess.CreatedAt, Agent: sess.Agent, User: sess.User, Org: sess.Org}
	var recs []TokenRecord
	err = a.store.Tokens(ctx, BySession, id, func(t TokenRecord) bool {
		recs = append(recs, t)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
	}
	slices.SortFunc(recs, func(x, y TokenRecord) int {
		if c := x.IssuedAt.Compare(y.IssuedAt); c != 0 {
			return c
		}
		return bytes.Compare(x.RevocationID, y.RevocationID)
	})
	now := a.now()
	live, liveRevoked := 0, 0
	a.logMu.RLock()
	for _, t := range recs {
		_, revoked := a.byID[string(t.RevocationID)]
		if !expired(t.ExpiresAt, now) {
			live++
			if revoked {
				liveRevoked++
			}
		}
		if len(v.Tokens) < MaxListed {
			v.Tokens = append(v.Tokens, TokenView{TokenRecord: t, Revoked: revoked})
		}
	}
	for _, e := range a.entries {
		if e.Session == id {
			c := *e
			c.ID = bytes.Clone(e.ID)
			v.Revocations = append(v.Revocations, c)
		}
	}
	a.logMu.RUnlock()
	v.TokenCount = len(recs)
	if v.Limits, err = a.usage.Session(ctx, id); err != nil {
		return nil, usageError(err)
	}
	switch {
	case !sess.RevokedAt.IsZero() || (live > 0 && live == liveRevoked):
		v.Status = SessionRevoked
	case live == 0:
		v.Status = SessionExpired
	default:
		v.Status = SessionActive
	}
	return v, nil
}

// Introspection is the RFC 7662 view of a token.
type Introspection struct {
	Active bool
	// The fields below are set only when Active.
	Subject       token.Subject
	Rights        []token.Right
	ClientID      string // the minting client; "" for the admin or unknown
	IssuedAt      time.Time
	ExpiresAt     time.Time // the authority block's expiry (attenuation blocks are not trusted for it)
	KeyID         uint32
	RevocationIDs [][]byte
	Blocks        int
}

// Introspect reports whether tok is active: it verifies against the
// authority's keys, has not expired, and none of its blocks is revoked. A
// client sees only tokens it minted (others are reported inactive); the
// admin sees every token. Anything else is {Active: false}, without a
// reason, as RFC 7662 prescribes.
func (a *Authority) Introspect(ctx context.Context, p Principal, tok string) (*Introspection, error) {
	now := a.now()
	vt, err := a.verify(tok, now)
	if err != nil {
		return &Introspection{}, nil
	}
	// Only the authority's own word on expiry counts: an attenuation
	// block may state an expiry it satisfies itself (see trustedExpiry).
	exp, rec, err := a.trustedExpiry(ctx, vt)
	if err != nil {
		return nil, err
	}
	if exp.IsZero() || expired(exp, now) {
		return &Introspection{}, nil
	}
	ids := vt.RevocationIDs()
	if a.Revoked(ids) >= 0 {
		return &Introspection{}, nil
	}
	in := &Introspection{
		Active:        true,
		Subject:       vt.Subject(),
		Rights:        vt.Rights(),
		ExpiresAt:     exp,
		KeyID:         vt.KeyID(),
		RevocationIDs: ids,
		Blocks:        vt.BlockCount(),
	}
	if rec != nil {
		in.ClientID, in.IssuedAt = rec.ClientID, rec.IssuedAt
	}
	if !p.Admin && (rec == nil || !p.owns(rec.ClientID)) {
		return &Introspection{}, nil
	}
	return in, nil
}
