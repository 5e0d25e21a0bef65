package authority

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// MintRequest asks for a session token.
type MintRequest struct {
	Agent string // required
	User  string
	Org   string // required for clients (it must be in their ceiling)
	// Session joins an existing session (of the same client) or names a
	// new one; empty: a new session ID is generated. A client's sessions
	// are scoped to it (see Principal.SessionID): the token and the result
	// carry the full ID, "CLIENT/NAME".
	Session string
	Rights  []token.Right
	TTL     time.Duration
	// Limits are usage limits of the authority block (token.Limit): every
	// call of the token and of every token derived from it counts.
	Limits []token.Limit
	// RequireApproval lists calls that always need a person's approval in
	// this session: each becomes a check of the authority block
	// (token.ApprovalRequirement), which no delegate can lift.
	RequireApproval []token.ApprovalRequirement
	// Audience binds the token to one resource server (see
	// token.MintRequest.Audience); empty: any.
	Audience string
}

// MintResult is a minted token.
type MintResult struct {
	// Token is the token, URL-safe base64. It is not stored and never
	// logged: hand it to the agent.
	Token   string
	Subject token.Subject // with the session ID filled in
	Rights  []token.Right
	// RevocationIDs has one ID: the authority block's.
	RevocationIDs [][]byte
	IssuedAt      time.Time
	ExpiresAt     time.Time
	KeyID         uint32
}

// Mint signs a session token for p: the admin may mint anything, a client
// only within its ceiling and into its own sessions. The token's record
// (session, agent, user, org, client, revocation ID, expiry) is durable
// when Mint returns, so that revoking the session, agent or user later
// revokes this token too, even across a crash.
func (a *Authority) Mint(ctx context.Context, p Principal, req MintRequest) (*MintResult, error) {
	if !p.Admin && !p.isClient() {
		return nil, fmt.Errorf("%w: %s may not mint tokens: a registered client or the admin does", ErrForbidden, p)
	}
	return a.mint(ctx, p, req, nil)
}

// GrantOwnerPrefix starts the owner of tokens minted for OAuth grants
// ("oauth:" + the OAuth client ID). No registered client ID holds ':', so
// an owner never names a registered client.
const GrantOwnerPrefix = "oauth:"

// GrantPrincipal is the principal that owns the tokens and sessions minted
// for an OAuth client's grants: MintGrant mints into its sessions, and the
// OAuth room revokes them with it (RevokeSession), as a client revokes its
// own.
func GrantPrincipal(oauthClientID string) Principal {
	return Principal{ClientID: GrantOwnerPrefix + oauthClientID}
}

// MintGrant mints a token for an OAuth grant, for the authority's OAuth
// room (package authority/oauth), which has authenticated the client and,
// for a person's grant, obtained the person's consent. owner is
// GrantPrincipal(the OAuth client); the request must fit every ceiling in
// bounds (the rights the person consented to, and the registered client's
// ceiling when the OAuth client is a registered client: see
// ClientCeiling). At least one bound is required. Sessions are the
// owner's, as for a client.
func (a *Authority) MintGrant(ctx context.Context, owner Principal, bounds []Ceiling, req MintRequest) (*MintResult, error) {
	if owner.Admin || owner.Person != nil || !strings.HasPrefix(owner.ClientID, GrantOwnerPrefix) || len(owner.ClientID) == len(GrantOwnerPrefix) {
		return nil, fmt.Errorf("%w: MintGrant mints for an OAuth grant owner (GrantPrincipal), not %s", ErrForbidden, owner)
	}
	if len(bounds) == 0 {
		return nil, fmt.Errorf("%w: an OAuth grant needs a bound (the consented rights or a client ceiling)", ErrForbidden)
	}
	return a.mint(ctx, owner, req, bounds)
}

// ClientCeiling returns a registered client's ceiling (false: no such
// client).
func (a *Authority) ClientCeiling(id string) (Ceiling, bool) {
	c, ok := a.ceilingOf(id)
	return c.clone(), ok
}

// bindCeiling adds a ceiling's usage limits and approval requirements to a
// token: they bind every token minted within it.
func bindCeiling(tr *token.MintRequest, c Ceiling) {
	tr.Limits = withCeilingLimits(c.Limits, tr.Limits)
	for _, r := range c.RequireApproval {
		if !slices.ContainsFunc(tr.RequireApproval, func(x token.ApprovalRequirement) bool { return reflect.DeepEqual(x, r) }) {
			tr.RequireApproval = append(tr.RequireApproval, r)
		}
	}
}

// mint mints for p: the admin, a registered client (within its ceiling)
// or, when bounds is set, an OAuth grant owner within every bound.
func (a *Authority) mint(ctx context.Context, p Principal, req MintRequest, bounds []Ceiling) (*MintResult, error) {
	now := a.now()
	req.Session = p.SessionID(req.Session)
	if req.Session == "" && !p.Admin {
		req.Session = p.SessionID(token.NewSessionID())
	}
	tr := token.MintRequest{
		Subject:         token.Subject{Agent: req.Agent, User: req.User, Org: req.Org, Session: req.Session},
		Rights:          req.Rights,
		TTL:             req.TTL,
		Audience:        req.Audience,
		Limits:          req.Limits,
		Now:             now,
		RequireApproval: slices.Clone(req.RequireApproval),
	}
	if err := tr.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	clientID := ""
	switch {
	case bounds != nil:
		for i := range bounds {
			if err := bounds[i].Allows(req); err != nil {
				a.auditMintRefused(ctx, p, req, &bounds[i], err)
				return nil, err
			}
			bindCeiling(&tr, bounds[i])
		}
		clientID = p.ClientID
	case !p.Admin:
		ceiling, ok := a.ceilingOf(p.ClientID)
		if !ok {
			err := fmt.Errorf("%w: client %q is no longer registered", ErrUnauthenticated, p.ClientID)
			a.auditMintRefused(ctx, p, req, nil, err)
			return nil, err
		}
		if err := ceiling.Allows(req); err != nil {
			a.auditMintRefused(ctx, p, req, &ceiling, err)
			return nil, err
		}
		bindCeiling(&tr, ceiling)
		clientID = p.ClientID
	}
	if req.Session != "" {
		// A fast answer for the common refusal; the store decides
		// again, atomically, when the record is committed.
		sess, err := a.store.Session(ctx, req.Session)
		switch {
		case err == nil:
			if err := sessionAdmits(sess, clientID); err != nil {
				return nil, err
			}
		case !errors.Is(err, ErrNotFound):
			return nil, fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
		}
	}
	key := a.keys.current().active
	m, err := token.Mint(key, tr)
	if err != nil {
		if errors.Is(err, token.ErrBadRequest) {
			return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	rec := TokenRecord{
		RevocationID: m.RevocationIDs[0],
		Session:      m.Subject.Session,
		Agent:        m.Subject.Agent,
		User:         m.Subject.User,
		Org:          m.Subject.Org,
		ClientID:     clientID,
		KeyID:        m.KeyID,
		IssuedAt:     now.UTC().Truncate(time.Second),
		ExpiresAt:    m.ExpiresAt,
		Rights:       m.Rights,
	}
	op := &writeOp{mint: &MintOp{Token: rec}}
	if err := a.submit(ctx, op); err != nil {
		return nil, err
	}
	if err := op.mint.Err; err != nil {
		return nil, err
	}
	a.stats.Mints.Add(1)
	a.audit(ctx, "mint").Str("by", p.String()).Str("client_id", clientID).
		Str("session", rec.Session).Str("agent", rec.Agent).Str("user", rec.User).Str("org", rec.Org).
		Int("rights", len(m.Rights)).Uint32("key_id", m.KeyID).Str("audience", req.Audience).
		Str("revocation_id", hex.EncodeToString(rec.RevocationID)).Time("expires_at", m.ExpiresAt).
		Msg("token minted")
	return &MintResult{
		Token:         m.Token,
		Subject:       m.Subject,
		Rights:        m.Rights,
		RevocationIDs: m.RevocationIDs,
		IssuedAt:      rec.IssuedAt,
		ExpiresAt:     m.ExpiresAt,
		KeyID:         m.KeyID,
	}, nil
}
