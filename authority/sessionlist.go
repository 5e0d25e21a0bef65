package authority

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// What the console reads and does through the Authority: sessions listed
// and filtered by what a principal may see, recent revocations, and a hop
// revoked by its revocation ID within a session.

// Limits of ListSessions.
const (
	DefaultSessionPage = 50
	MaxSessionPage     = 500
)

// SessionFilter selects sessions for ListSessions.
type SessionFilter struct {
	// Query, when set, keeps sessions whose ID, agent, user, org or
	// client contains it (case-insensitively).
	Query string
	// Status, when set, keeps sessions in that status (SessionActive,
	// SessionRevoked, SessionExpired).
	Status string
	// Org, when set, keeps sessions of that org.
	Org string
	// After continues a listing (SessionPage.Next of the previous page).
	After SessionCursor
	// Limit is the page size (default DefaultSessionPage, at most
	// MaxSessionPage).
	Limit int
}

// SessionSummary is one session of a listing.
type SessionSummary struct {
	SessionRecord
	Status string
}

// SessionPage is a page of sessions, newest first; Next is the cursor of
// the following page, zero when there is none.
type SessionPage struct {
	Sessions []SessionSummary
	Next     SessionCursor
}

// maySee reports whether p may read sess: the admin always, a client its
// own sessions, a person those of the orgs it sees (people.Person.MaySee).
func (p Principal) maySee(sess SessionRecord) bool {
	switch {
	case p.Admin:
		return true
	case p.Person != nil:
		return p.Person.MaySee(sess.Org)
	}
	return p.isClient() && sess.ClientID == p.ClientID
}

// ListSessions lists the sessions p may see, newest first, filtered.
func (a *Authority) ListSessions(ctx context.Context, p Principal, f SessionFilter) (*SessionPage, error) {
	if !p.Admin && p.Person == nil && !p.isClient() {
		return nil, fmt.Errorf("%w: sign in to list sessions", ErrForbidden)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultSessionPage
	}
	limit = min(limit, MaxSessionPage)
	q := strings.ToLower(f.Query)
	now := a.now()
	page := &SessionPage{}
	var storeErr error
	err := a.store.Sessions(ctx, f.After, func(s SessionRecord) bool {
		if !p.maySee(s) || (f.Org != "" && s.Org != f.Org) {
			return true
		}
		if q != "" && !strings.Contains(strings.ToLower(s.ID+"\x00"+s.Agent+"\x00"+s.User+"\x00"+s.Org+"\x00"+s.ClientID), q) {
			return true
		}
		if len(page.Sessions) == limit {
			page.Next = page.Sessions[limit-1].Cursor()
			return false
		}
		status, err := a.sessionStatus(ctx, s, nil, now)
		if err != nil {
			storeErr = err
			return false
		}
		if f.Status != "" && status != f.Status {
			return true
		}
		page.Sessions = append(page.Sessions, SessionSummary{SessionRecord: s, Status: status})
		return true
	})
	if err == nil {
		err = storeErr
	}
	if err != nil {
		return nil, fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
	}
	return page, nil
}

// sessionStatus is the status of sess: revoked as a whole or every live
// token revoked, expired when no token lives, else active. recs are the
// session's tokens when the caller has them (nil: read them).
func (a *Authority) sessionStatus(ctx context.Context, sess SessionRecord, recs []TokenRecord, now time.Time) (string, error) {
	if !sess.RevokedAt.IsZero() {
		return SessionRevoked, nil
	}
	if expired(sess.ExpiresAt, now) {
		return SessionExpired, nil
	}
	if recs == nil {
		err := a.store.Tokens(ctx, BySession, sess.ID, func(t TokenRecord) bool {
			recs = append(recs, t)
			return true
		})
		if err != nil {
			return "", err
		}
	}
	live, liveRevoked := 0, 0
	a.logMu.RLock()
	for _, t := range recs {
		if !expired(t.ExpiresAt, now) {
			live++
			if _, revoked := a.byID[string(t.RevocationID)]; revoked {
				liveRevoked++
			}
		}
	}
	a.logMu.RUnlock()
	switch {
	case live > 0 && live == liveRevoked:
		return SessionRevoked, nil
	case live == 0:
		return SessionExpired, nil
	}
	return SessionActive, nil
}

// RecentRevocations returns up to limit revocation log entries, newest
// first, that p may see: the admin every entry, a person those of the
// sessions of its orgs (entries about no known session only to the
// admin).
func (a *Authority) RecentRevocations(ctx context.Context, p Principal, limit int) ([]LogEntry, error) {
	if !p.Admin && p.Person == nil {
		return nil, fmt.Errorf("%w: only the admin and people read the revocation log here", ErrForbidden)
	}
	limit = min(max(limit, 1), MaxListed)
	a.logMu.RLock()
	var cand []LogEntry
	for i := len(a.entries) - 1; i >= 0 && len(cand) < limit*4; i-- {
		c := *a.entries[i]
		c.ID = bytes.Clone(c.ID)
		cand = append(cand, c)
	}
	a.logMu.RUnlock()
	out := cand[:0]
	seen := map[string]bool{}
	for _, e := range cand {
		if len(out) == limit {
			break
		}
		if !p.Admin {
			ok, known := seen[e.Session]
			if !known {
				if e.Session != "" {
					if s, err := a.store.Session(ctx, e.Session); err == nil {
						ok = p.maySee(s)
					}
				}
				seen[e.Session] = ok
			}
			if !ok {
				continue
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// RevokeHop revokes one block of a session's delegation tree by its
// revocation ID (admin only): an authority block of the session's tokens
// as RevokeID does, or an attenuation block (a hop), which the authority
// did not mint and learned of from the verifiers' decisions. A hop's entry
// names the session (for the session's page; the feed never publishes it)
// and is kept for UnknownIDTTL, the longest any token lives: nothing the
// hop's block says may shorten it.
func (a *Authority) RevokeHop(ctx context.Context, p Principal, session string, id []byte) (*RevokeResult, error) {
	if err := requireAdmin(p, "revoke a hop"); err != nil {
		return nil, err
	}
	if len(id) == 0 || len(id) > MaxRevocationIDBytes {
		return nil, fmt.Errorf("%w: a revocation ID is 1 to %d bytes", ErrBadRequest, MaxRevocationIDBytes)
	}
	if _, err := a.store.Token(ctx, id); err == nil {
		return a.RevokeID(ctx, p, id)
	}
	if e, ok := a.lookup(id); ok {
		return &RevokeResult{Entries: []LogEntry{e}, Total: 1}, nil
	}
	if _, err := a.store.Session(ctx, session); err != nil {
		return nil, fmt.Errorf("session %q: %w", clip(session), ErrNotFound)
	}
	now := a.now()
	op := &writeOp{revs: []RevokeOp{{ID: id, Session: session, ExpiresAt: now.Add(UnknownIDTTL).UTC().Truncate(time.Second)}}}
	if err := a.submit(ctx, op); err != nil {
		return nil, err
	}
	res := result(op.revs)
	a.auditRevocation(ctx, p.String(), "hop", hex.EncodeToString(id), res)
	return res, nil
}

// LookupRevocation returns the log entry of a revocation ID, if it is in
// the log. Revocation IDs are public: anyone may ask.
func (a *Authority) LookupRevocation(id []byte) (LogEntry, bool) { return a.lookup(id) }
