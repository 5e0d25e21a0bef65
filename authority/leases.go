package authority

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mandate-dev/mandate/authority/usage"
	"github.com/mandate-dev/mandate/token"
)

// LeaseRequest asks for a lease on one usage limit of a token (POST
// /v1/leases). The token is the credential: whoever holds it may spend
// the budget of its limits by calling tools anyway, and a lease hands out
// nothing more.
type LeaseRequest struct {
	Token   string
	LimitID string
	// Need, Want, Renew and RenewUnused: see usage.Request.
	Need, Want  int64
	Renew       string
	RenewUnused int64
}

// Lease grants a lease on a limit of a token: the token must verify
// against the authority's keys, be unexpired and unrevoked (every block,
// and its session), and declare the limit LimitID names in the signed block
// that the ID names; the limit's terms are read from that block, never
// from the request.
func (a *Authority) Lease(ctx context.Context, r LeaseRequest) (usage.Lease, *token.DeclaredLimit, error) {
	now := a.now()
	vt, err := a.verify(r.Token, now)
	if err != nil {
		return usage.Lease{}, nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	exp := vt.ExpiresAt()
	if !exp.IsZero() && expired(exp, now) {
		return usage.Lease{}, nil, fmt.Errorf("%w: the token expired at %s; no lease for it", ErrUnauthenticated, exp.UTC().Format(time.RFC3339))
	}
	if i := a.Revoked(vt.RevocationIDs()); i >= 0 {
		return usage.Lease{}, nil, fmt.Errorf("%w: block %d of the token was revoked; no lease for it", ErrUnauthenticated, i)
	}
	var decl *token.DeclaredLimit
	for i, l := range vt.Limits() {
		if l.ID == r.LimitID {
			decl = &vt.Limits()[i]
		}
	}
	if decl == nil {
		return usage.Lease{}, nil, fmt.Errorf("%w: the token declares no usage limit %q", ErrBadRequest, clip(r.LimitID))
	}
	session := vt.Subject().Session
	sess, err := a.store.Session(ctx, session)
	switch {
	case err == nil && !sess.RevokedAt.IsZero():
		return usage.Lease{}, nil, fmt.Errorf("%w: session %q was revoked; no lease for it", ErrSessionRevoked, clip(session))
	case err != nil && !errors.Is(err, ErrNotFound):
		return usage.Lease{}, nil, fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
	}
	l, err := a.usage.Lease(ctx, usage.Request{Limit: *decl, Session: session, Expires: exp,
		Need: r.Need, Want: r.Want, Renew: r.Renew, RenewUnused: r.RenewUnused})
	if err != nil {
		return usage.Lease{}, nil, usageError(err)
	}
	if l.Amount > 0 {
		a.audit(ctx, "lease_granted").Str("session", session).Str("limit_id", decl.ID).Int("block", decl.Block).
			Int64("amount", l.Amount).Int64("used", l.Used).Send()
	} else {
		a.audit(ctx, "limit_exhausted").Str("session", session).Str("limit_id", decl.ID).Int("block", decl.Block).
			Str("limit", decl.Limit.String()).Int64("used", l.Used).Int64("need", r.Need).Send()
	}
	return l, decl, nil
}

// ReturnLease gives back what a lease did not spend; the lease ID is the
// credential (only the verifier it was granted to knows it).
func (a *Authority) ReturnLease(ctx context.Context, id string, unused int64) error {
	if err := a.usage.Return(ctx, id, unused); err != nil {
		return usageError(err)
	}
	a.audit(ctx, "lease_returned").Int64("unused", unused).Send()
	return nil
}

// LimitUsage is the usage of the limits a token declares, in their current
// windows: possession of the token is enough to see it.
func (a *Authority) LimitUsage(ctx context.Context, tok string) ([]usage.Usage, error) {
	now := a.now()
	vt, err := a.verify(tok, now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	u, err := a.usage.Current(ctx, vt.Subject().Session, vt.Limits(), vt.ExpiresAt())
	return u, usageError(err)
}

func usageError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, usage.ErrBadRequest):
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	case errors.Is(err, usage.ErrUnavailable):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// leaseJSONIn, leaseJSONOut and returnJSONIn are the wire forms
// verifier/usage.Remote speaks (it defines them too: the authority does
// not import the verifier).
type leaseJSONIn struct {
	Token       string `json:"token"`
	LimitID     string `json:"limit_id"`
	Need        int64  `json:"need"`
	Want        int64  `json:"want"`
	Renew       string `json:"renew,omitempty"`
	RenewUnused int64  `json:"renew_unused,omitempty"`
}

type leaseJSONOut struct {
	LeaseID    string `json:"lease_id,omitempty"`
	Amount     int64  `json:"amount"`
	Window     int64  `json:"window"`
	ResetsInMS int64  `json:"resets_in_ms,omitempty"`
	ResetsAt   string `json:"resets_at,omitempty"`
	Used       int64  `json:"used"`
	Held       int64  `json:"held"`
}

type returnJSONIn struct {
	LeaseID string `json:"lease_id"`
	Unused  int64  `json:"unused"`
}

// usageJSON is one limit's usage in a window.
type usageJSON struct {
	LimitID  string `json:"limit_id"`
	Block    int    `json:"block"`
	Limit    string `json:"limit"`
	Max      int64  `json:"max"`
	Window   int64  `json:"window"`
	ResetsAt string `json:"resets_at,omitempty"`
	Used     int64  `json:"used"`
	Spent    int64  `json:"spent"`
	Held     int64  `json:"held"`
	Leases   int    `json:"leases"`
	Current  bool   `json:"current"`
}

func usageOut(us []usage.Usage) []usageJSON {
	out := make([]usageJSON, len(us))
	for i, u := range us {
		out[i] = usageJSON{LimitID: u.LimitID, Block: u.Block, Limit: u.Limit.String(), Max: u.Limit.Max, Window: u.Window,
			ResetsAt: rfc3339(u.ResetsAt), Used: u.Used, Spent: u.Spent, Held: u.Held, Leases: u.Leases, Current: u.Current}
	}
	return out
}

// POST /v1/leases: the token is the credential.
func (h *handler) lease(c *gin.Context) {
	var in leaseJSONIn
	if !h.decodeJSON(c, &in) {
		return
	}
	if in.Token == "" || in.LimitID == "" {
		h.writeError(c, fmt.Errorf("%w: token and limit_id are required", ErrBadRequest))
		return
	}
	l, _, err := h.a.Lease(c.Request.Context(), LeaseRequest{Token: in.Token, LimitID: in.LimitID, Need: in.Need, Want: in.Want, Renew: in.Renew, RenewUnused: in.RenewUnused})
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, leaseJSONOut{LeaseID: l.ID, Amount: l.Amount, Window: l.Window, ResetsInMS: l.ResetsIn.Milliseconds(),
		ResetsAt: rfc3339(l.ResetsAt), Used: l.Used, Held: l.Held})
}

// POST /v1/leases/return: the lease ID is the credential.
func (h *handler) returnLease(c *gin.Context) {
	var in returnJSONIn
	if !h.decodeJSON(c, &in) {
		return
	}
	if err := h.a.ReturnLease(c.Request.Context(), in.LeaseID, in.Unused); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// POST /v1/limits/usage: {"token"}; possession is enough.
func (h *handler) limitUsage(c *gin.Context) {
	var in struct {
		Token string `json:"token"`
	}
	if !h.decodeJSON(c, &in) {
		return
	}
	us, err := h.a.LimitUsage(c.Request.Context(), in.Token)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"limits": usageOut(us)})
}

// limitSpecs writes usage limits in the CLI's form.
func limitSpecs(ls []token.Limit) []string {
	if len(ls) == 0 {
		return nil
	}
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.String()
	}
	return out
}

// withCeilingLimits is a client's ceiling limits followed by the mint
// request's, without repeating one the ceiling already states.
func withCeilingLimits(ceiling, req []token.Limit) []token.Limit {
	out := slices.Clone(ceiling)
	for _, l := range req {
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// parseLimits reads usage limits in the CLI's form.
func parseLimits(specs []string) ([]token.Limit, error) {
	if len(specs) > token.MaxLimitsPerToken {
		return nil, fmt.Errorf("%w: %d usage limits is over the limit of %d", ErrBadRequest, len(specs), token.MaxLimitsPerToken)
	}
	var out []token.Limit
	for _, s := range specs {
		l, err := token.ParseLimit(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		out = append(out, l)
	}
	return out, nil
}
