package approvals

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/token"
)

// ErrInvalidApproval: the approval presented for redemption does not parse,
// verify, or belong to this request, session or token.
var ErrInvalidApproval = errors.New("approvals: invalid approval")

// Person is a named person who sees and decides requests, as the
// authority's people directory describes them (the authority converts its
// people.Person). The admin token alone is not a person.
type Person struct {
	Name string
	// MayApprove reports whether the person may decide requests of an
	// org; MaySee whether they may see them.
	MayApprove func(org string) bool
	MaySee     func(org string) bool
}

// Viewer is who reads requests: a person, the admin, or an agent.
type Viewer struct {
	// Admin sees every request.
	Admin bool
	// ClientID, when set, is a registered client: it sees the requests
	// of the sessions it minted.
	ClientID string
	// Person, when set, sees the requests of the orgs they may see.
	Person *Person
	// Agent, when set, is the session and revocation IDs (hex) of an
	// agent's verified token: it sees the requests of its session whose
	// lineage its token holds (its own and its delegates' ancestors').
	Agent *AgentView
}

// AgentView is what an agent's verified token tells about it.
type AgentView struct {
	Session       string
	RevocationIDs []string
}

func (v Viewer) maySee(q *Request) bool {
	switch {
	case v.Admin:
		return true
	case v.ClientID != "":
		return q.ClientID == v.ClientID
	case v.Person != nil:
		return v.Person.MaySee != nil && v.Person.MaySee(q.Org)
	case v.Agent != nil:
		return v.Agent.Session == q.Session && slices.Contains(v.Agent.RevocationIDs, q.Lineage)
	}
	return false
}

// chainRevoked reports whether a block of the asking token was revoked.
func (r *Room) chainRevoked(q *Request) bool {
	ids := make([][]byte, 0, len(q.Chain))
	for _, h := range q.Chain {
		if b, err := hex.DecodeString(h.RevocationID); err == nil {
			ids = append(ids, b)
		}
	}
	return r.cfg.Revocations.Revoked(ids) >= 0
}

// live reports whether revoking q would change it: pending, or approved
// with uses left and not expired.
func live(q *Request, now time.Time) bool {
	switch q.Status {
	case StatusPending:
		return now.Before(q.ExpiresAt)
	case StatusApproved:
		return len(q.Uses) < q.MaxUses && now.Before(q.ApprovalExpiresAt)
	}
	return false
}

// viewOf is q as readers see it: expired when past its expiry, revoked as
// soon as the revocation log holds a block of its token (even before the
// revocation reached the room's records).
func (r *Room) viewOf(q Request, now time.Time) Request {
	if live(&q, now) && r.chainRevoked(&q) {
		q.Status, q.RevokedAt, q.RevokedBecause = StatusRevoked, now.UTC().Truncate(time.Second), "a block of the asking token was revoked"
	}
	q.Slot = 0
	return q.view(now)
}

// Get returns a request if v may see it (ErrNotFound otherwise, so that
// IDs cannot be probed).
func (r *Room) Get(ctx context.Context, v Viewer, id string) (Request, error) {
	q, _, err := r.get(ctx, id)
	if err != nil {
		return Request{}, err
	}
	if !v.maySee(&q) {
		return Request{}, fmt.Errorf("%w: %q", ErrNotFound, clip(id))
	}
	return r.viewOf(q, r.now()), nil
}

// Wait is Get that, while the request is pending, waits up to wait (capped
// at MaxWait and at the request's expiry) for a decision. Waiting costs no
// CPU: every write closes a channel that waiters select on (and, on a
// replicated store, the request is re-read every Config.PollInterval).
func (r *Room) Wait(ctx context.Context, v Viewer, id string, wait time.Duration) (Request, error) {
	wait = min(wait, MaxWait)
	deadline := r.now().Add(wait)
	var timer *time.Timer
	var poll <-chan time.Time
	if r.cfg.PollInterval > 0 {
		t := time.NewTicker(r.cfg.PollInterval)
		defer t.Stop()
		poll = t.C
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		ch := r.changes()
		q, err := r.Get(ctx, v, id)
		if err != nil || q.Status != StatusPending || wait <= 0 {
			return q, err
		}
		left := min(deadline.Sub(r.now()), q.ExpiresAt.Sub(r.now()))
		if left <= 0 {
			return r.Get(ctx, v, id)
		}
		if timer == nil {
			timer = time.NewTimer(left)
		}
		select {
		case <-ch:
		case <-poll:
		case <-timer.C:
			return r.Get(ctx, v, id)
		case <-ctx.Done():
			return q, nil
		}
	}
}

// Filter selects requests to list.
type Filter struct {
	Status  Status // "" for any
	Session string // "" for any
	Limit   int    // 0 or over MaxListed: MaxListed
}

// List returns the requests v may see that match f, newest first.
func (r *Room) List(ctx context.Context, v Viewer, f Filter) ([]Request, error) {
	limit := f.Limit
	if limit <= 0 || limit > MaxListed {
		limit = MaxListed
	}
	now := r.now()
	var out []Request
	add := func(q Request) bool {
		if !v.maySee(&q) {
			return true
		}
		q = r.viewOf(q, now)
		if f.Status != "" && q.Status != f.Status {
			return true
		}
		if f.Session != "" && q.Session != f.Session {
			return true
		}
		out = append(out, q)
		return len(out) < limit
	}
	var prefix string
	switch {
	case f.Session != "":
		prefix = prefixSession(f.Session)
	case f.Status == StatusPending:
		prefix = "p/"
	}
	if prefix != "" {
		// An index names the candidates; read each.
		ids, err := r.idsUnder(ctx, prefix, 4*MaxListed)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			q, _, err := r.get(ctx, id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if !add(q) {
				break
			}
		}
	} else {
		var bad error
		err := r.cfg.KV.Scan(ctx, kv.ScanOptions{Prefix: "r/"}, func(e kv.Entry) bool {
			q, err := decode(e)
			if err != nil {
				bad = err
				return false
			}
			return add(q)
		})
		if err == nil {
			err = bad
		}
		if err != nil {
			return nil, storageErr(err)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

// Decide records a person's decision on a pending request. The person must
// be allowed to approve for the request's org (people.Person.MayApprove)
// and accepted by every approval caveat the call fails (named approvers,
// any approver of the token's org): the same rule for approving and
// denying, so that no one outside the caveat can block a call either.
// Decisions on expired, decided or revoked requests are refused. Approving
// signs the approval (Request.Approval), valid for the room's ApprovalTTL
// and never beyond the asking token's expiry.
func (r *Room) Decide(ctx context.Context, p Person, id string, approve bool, comment string) (Request, error) {
	if err := checkText("comment", comment); err != nil {
		return Request{}, err
	}
	if p.Name == "" || p.MayApprove == nil {
		return Request{}, fmt.Errorf("%w: only a named person decides approval requests; sign in with your person credential (mp_…), not the admin token", ErrForbidden)
	}
	var revoked bool
	q, err := r.update(ctx, id, func(q *Request) ([]kv.Op, error) {
		now := r.now()
		revoked = false
		switch v := q.view(now); {
		case (p.MaySee == nil || !p.MaySee(q.Org)) && !p.MayApprove(q.Org):
			return nil, fmt.Errorf("%w: %q", ErrNotFound, clip(id))
		case v.Status == StatusExpired:
			return nil, fmt.Errorf("%w: approval request %s expired at %s, undecided; the agent must ask again", ErrExpired, id, q.ExpiresAt.Format(time.RFC3339))
		case v.Status == StatusRevoked:
			return nil, fmt.Errorf("%w: approval request %s was revoked (%s)", ErrRevoked, id, q.RevokedBecause)
		case v.Status != StatusPending:
			return nil, fmt.Errorf("%w: approval request %s was %s by %s", ErrDecided, id, q.Status, q.Decision.By)
		case !p.MayApprove(q.Org):
			return nil, fmt.Errorf("%w: %s may not decide requests of org %q; the authority's admin sets whose calls a person approves", ErrForbidden, p.Name, q.Org)
		}
		for i := range q.Requirements {
			if rq := &q.Requirements[i]; !rq.accepts(p.Name, q.Org, q.Org) {
				return nil, fmt.Errorf("%w: block %d of the token accepts only %s, not %s", ErrForbidden, rq.Block, rq.whom(), p.Name)
			}
		}
		if r.chainRevoked(q) {
			revoked = true
			q.Status, q.RevokedAt, q.RevokedBecause = StatusRevoked, now.UTC().Truncate(time.Second), "a block of the asking token was revoked"
			return closePending(q), nil
		}
		q.Decision = &Decision{Approved: approve, By: p.Name, Org: q.Org, At: now.UTC().Truncate(time.Second), Comment: comment}
		q.Status = StatusDenied
		if approve {
			exp := now.Add(r.cfg.ApprovalTTL)
			if !q.TokenExpiresAt.IsZero() && q.TokenExpiresAt.Before(exp) {
				exp = q.TokenExpiresAt
			}
			if !exp.After(now.Add(time.Second)) {
				return nil, fmt.Errorf("%w: the asking token expires at %s, so an approval would be useless", ErrExpired, q.TokenExpiresAt.Format(time.RFC3339))
			}
			var digest [token.CallDigestSize]byte
			lineage, err1 := hex.DecodeString(q.Lineage)
			d, err2 := hex.DecodeString(q.CallDigest)
			if err1 != nil || err2 != nil || len(d) != len(digest) {
				return nil, fmt.Errorf("%w: request %s: %w", ErrUnavailable, id, kv.ErrCorrupt)
			}
			copy(digest[:], d)
			enc, err := r.cfg.Sign(token.Approval{
				ID: q.ID, CallDigest: digest, Session: q.Session, Lineage: lineage,
				Approver: p.Name, ApproverOrg: q.Org, Reason: q.Reason,
				IssuedAt: now, ExpiresAt: exp, MaxUses: q.MaxUses,
			})
			if err != nil {
				return nil, fmt.Errorf("%w: sign the approval: %w", ErrUnavailable, err)
			}
			q.Status, q.Approval, q.ApprovalExpiresAt = StatusApproved, enc, exp.UTC().Truncate(time.Second)
		}
		return closePending(q), nil
	})
	if err != nil {
		return Request{}, err
	}
	if revoked {
		r.audit(ctx, "approval_revoked").Str("approval_id", q.ID).Str("session", q.Session).Str("because", q.RevokedBecause).Msg("approval request revoked")
		return Request{}, fmt.Errorf("%w: approval request %s: a block of the asking token was revoked", ErrRevoked, id)
	}
	event := "approval_denied"
	if approve {
		event = "approval_approved"
	}
	r.audit(ctx, event).Str("approval_id", q.ID).Str("session", q.Session).Str("by", p.Name).Str("org", q.Org).
		Str("tool", q.Call.Tool).Str("call_digest", q.CallDigest).Int("max_uses", q.MaxUses).Msg("approval request decided")
	return r.viewOf(q, r.now()), nil
}

// Redemption is a verifier's use of an approval.
type Redemption struct {
	// Token is the bearer token of the call being decided: the credential
	// of the redemption (see Redeem).
	Token string
	// Approval is the encoded approval the call carries.
	Approval string
	// CallDigest is the digest of the call (hex), which the approval
	// must bind.
	CallDigest string
	// DecisionID is the verifier's decision ID, for the audit trail.
	DecisionID string
}

// Redeem spends one use of approval id, atomically and durably, before it
// answers: exactly MaxUses redemptions succeed, across every verifier and
// across crashes (a crash after the spend and before the answer wastes
// that use, never grants another). It returns the uses left.
//
// The credential is the token of the call (Redemption.Token): it must
// verify, be unexpired and unrevoked, be of the approval's session and
// hold the approval's lineage block; so only a holder of a token that
// could use the approval can spend it, and a revocation reaches
// redemption at once, whatever the verifier's revocation replica says.
func (r *Room) Redeem(ctx context.Context, id string, red Redemption) (int, error) {
	d, err := r.Authenticate(ctx, red.Token)
	if err != nil {
		return 0, err
	}
	u, err := token.ParseApproval(red.Approval)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidApproval, err)
	}
	a, err := u.Verify(r.cfg.Keys(), r.now())
	switch {
	case errors.Is(err, token.ErrApprovalExpired):
		return 0, fmt.Errorf("%w: %w", ErrExpired, err)
	case err != nil:
		return 0, fmt.Errorf("%w: %w", ErrInvalidApproval, err)
	case a.ID != id:
		return 0, fmt.Errorf("%w: the approval is %s, not %s", ErrInvalidApproval, a.ID, clip(id))
	case a.Session != d.Session:
		return 0, fmt.Errorf("%w: the approval is for session %q, the token's is %q", ErrInvalidApproval, a.Session, d.Session)
	case !slices.Contains(d.RevocationIDs, hex.EncodeToString(a.Lineage)):
		return 0, fmt.Errorf("%w: the token does not descend from the token the approval was asked with", ErrInvalidApproval)
	case !strings.EqualFold(red.CallDigest, hex.EncodeToString(a.CallDigest[:])):
		return 0, fmt.Errorf("%w: the approval is for call %x…, not this call", ErrInvalidApproval, a.CallDigest[:8])
	}
	decisionID := clip(red.DecisionID)
	if checkText("decision_id", decisionID) != nil {
		decisionID = ""
	}
	var revoked bool
	q, err := r.update(ctx, id, func(q *Request) ([]kv.Op, error) {
		now := r.now()
		revoked = false
		switch {
		case q.Status == StatusRevoked:
			return nil, fmt.Errorf("%w: approval %s was revoked (%s)", ErrRevoked, id, q.RevokedBecause)
		case q.Status != StatusApproved:
			return nil, fmt.Errorf("%w: request %s is %s", ErrNotApproved, id, q.view(now).Status)
		case len(q.Uses) >= q.MaxUses:
			return nil, fmt.Errorf("%w (%d of %d uses)", ErrUsedUp, len(q.Uses), q.MaxUses)
		case !now.Before(q.ApprovalExpiresAt):
			return nil, fmt.Errorf("%w: approval %s expired at %s", ErrExpired, id, q.ApprovalExpiresAt.Format(time.RFC3339))
		case r.chainRevoked(q):
			revoked = true
			q.Status, q.RevokedAt, q.RevokedBecause = StatusRevoked, now.UTC().Truncate(time.Second), "a block of the asking token was revoked"
			return nil, nil
		}
		q.Uses = append(q.Uses, Use{At: now.UTC(), DecisionID: decisionID})
		return nil, nil
	})
	if err != nil {
		r.audit(ctx, "approval_redeem_refused").Str("approval_id", clip(id)).Str("session", d.Session).Str("decision_id", decisionID).Str("reason", err.Error()).Msg("approval redemption refused")
		return 0, err
	}
	if revoked {
		r.audit(ctx, "approval_revoked").Str("approval_id", q.ID).Str("session", q.Session).Str("because", q.RevokedBecause).Msg("approval revoked")
		return 0, fmt.Errorf("%w: approval %s: a block of the asking token was revoked", ErrRevoked, id)
	}
	if r.cfg.AfterSpend != nil {
		r.cfg.AfterSpend(id)
	}
	r.audit(ctx, "approval_redeemed").Str("approval_id", q.ID).Str("session", q.Session).Str("decision_id", decisionID).
		Int("use", len(q.Uses)).Int("max_uses", q.MaxUses).Msg("approval use redeemed")
	return q.MaxUses - len(q.Uses), nil
}

// errNoChange skips the write of an update.
var errNoChange = errors.New("no change")

// RevokeSession revokes the pending requests and unused approvals of a
// session (the authority calls it when the session is revoked).
func (r *Room) RevokeSession(ctx context.Context, session, by string) (int, error) {
	ids, err := r.idsUnder(ctx, prefixSession(session), 1<<20)
	if err != nil {
		return 0, err
	}
	return r.revokeAll(ctx, ids, "session revoked by "+by)
}

// RevokeBlocks revokes the pending requests and unused approvals asked
// with a token holding any of the revoked blocks (the authority calls it
// on every revocation).
func (r *Room) RevokeBlocks(ctx context.Context, revocationIDs [][]byte, by string) (int, error) {
	var all []string
	for _, id := range revocationIDs {
		ids, err := r.idsUnder(ctx, prefixLineage(hex.EncodeToString(id)), 1<<20)
		if err != nil {
			return 0, err
		}
		all = append(all, ids...)
	}
	slices.Sort(all)
	return r.revokeAll(ctx, slices.Compact(all), "a block of the asking token was revoked by "+by)
}

func (r *Room) revokeAll(ctx context.Context, ids []string, because string) (int, error) {
	n := 0
	var errs []error
	for _, id := range ids {
		q, err := r.update(ctx, id, func(q *Request) ([]kv.Op, error) {
			now := r.now()
			if !live(q, now) {
				return nil, errNoChange
			}
			var ops []kv.Op
			if q.Status == StatusPending {
				ops = closePending(q)
			}
			q.Status, q.RevokedAt, q.RevokedBecause = StatusRevoked, now.UTC().Truncate(time.Second), because
			return ops, nil
		})
		switch {
		case errors.Is(err, errNoChange), errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			errs = append(errs, err)
			continue
		}
		n++
		r.audit(ctx, "approval_revoked").Str("approval_id", q.ID).Str("session", q.Session).Str("because", because).Msg("approval revoked")
	}
	return n, errors.Join(errs...)
}

func decode(e kv.Entry) (Request, error) {
	var q Request
	dec := json.NewDecoder(bytes.NewReader(e.Value))
	dec.UseNumber() // arguments stay exact integers
	if err := dec.Decode(&q); err != nil {
		return Request{}, fmt.Errorf("%w: %s: %w", ErrUnavailable, e.Key, kv.ErrCorrupt)
	}
	return q, nil
}
