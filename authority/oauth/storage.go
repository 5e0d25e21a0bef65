package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/mandate-dev/mandate/authority/kv"
)

// Keys of the "oauth" kv namespace:
//
//	secret                    the HMAC secret of codes and refresh tokens
//	code/SIG                  an authorization code's request (until it expires)
//	pkce/SIG                  its PKCE challenge
//	refresh/SIG               a refresh token's request and whether it is rotated
//	grant/REQUEST_ID          a grant: its mandate session and whether it is revoked
//	client/ID                 a registered OAuth client
//	service/NAME              a service of the scope catalog
//
// SIG is fosite's signature of the token (an HMAC); the tokens themselves
// are never stored. Access tokens are mandate tokens: the authority keeps
// their records, so nothing is stored for them here.

// storedRequest is a fosite request as stored: the client by ID, the
// session as JSON.
type storedRequest struct {
	ID                string          `json:"id"`
	RequestedAt       time.Time       `json:"requested_at"`
	ClientID          string          `json:"client_id"`
	RequestedScope    []string        `json:"scopes,omitempty"`
	GrantedScope      []string        `json:"granted_scopes,omitempty"`
	Form              url.Values      `json:"form,omitempty"`
	RequestedAudience []string        `json:"requested_audience,omitempty"`
	GrantedAudience   []string        `json:"granted_audience,omitempty"`
	Session           json.RawMessage `json:"session"`
	// Active is false once a code is redeemed or a refresh token rotated.
	Active bool `json:"active"`
}

// grantRecord ties a grant (fosite's request ID, shared by every token of
// one authorization) to the mandate session its tokens are minted into.
type grantRecord struct {
	ClientID string    `json:"client_id"`
	Session  string    `json:"session"`
	Revoked  bool      `json:"revoked,omitempty"`
	Expires  time.Time `json:"expires"`
}

// store implements fosite's storage interfaces on a kv namespace.
type store struct {
	kv      kv.KV
	clients func(ctx context.Context, id string) (fosite.Client, error)
	// revokeGrant revokes a grant's mandate session (refresh token reuse,
	// a replayed code).
	revokeGrant func(ctx context.Context, g grantRecord) error
	now         func() time.Time
	// keep is how long grant records outlive their last refresh token.
	keep time.Duration
}

// tx collects the writes of one fosite transaction; Commit applies them
// in one atomic kv batch, with the revisions read as preconditions.
type tx struct {
	mu  sync.Mutex
	ops []kv.Op
}

type txKey struct{}

func txOf(ctx context.Context) *tx {
	t, _ := ctx.Value(txKey{}).(*tx)
	return t
}

// BeginTX implements fosite's storage.Transactional.
func (s *store) BeginTX(ctx context.Context) (context.Context, error) {
	return context.WithValue(ctx, txKey{}, &tx{}), nil
}

// Commit applies the transaction's writes at once. A concurrent change of
// a key read in it (the same code redeemed or refresh token rotated twice)
// fails it with fosite.ErrSerializationFailure, and nothing is written.
func (s *store) Commit(ctx context.Context) error {
	t := txOf(ctx)
	if t == nil {
		return nil
	}
	t.mu.Lock()
	ops := t.ops
	t.ops = nil
	t.mu.Unlock()
	if len(ops) == 0 {
		return nil
	}
	if _, err := s.kv.Apply(ctx, ops...); err != nil {
		if errors.Is(err, kv.ErrConflict) {
			return fosite.ErrSerializationFailure.WithWrap(err)
		}
		return err
	}
	return nil
}

// Rollback drops the transaction's writes.
func (s *store) Rollback(ctx context.Context) error {
	if t := txOf(ctx); t != nil {
		t.mu.Lock()
		t.ops = nil
		t.mu.Unlock()
	}
	return nil
}

// write applies ops now, or adds them to the context's transaction.
func (s *store) write(ctx context.Context, ops ...kv.Op) error {
	if t := txOf(ctx); t != nil {
		t.mu.Lock()
		t.ops = append(t.ops, ops...)
		t.mu.Unlock()
		return nil
	}
	_, err := s.kv.Apply(ctx, ops...)
	return err
}

func (s *store) encode(r fosite.Requester, active bool) ([]byte, error) {
	sess, err := json.Marshal(r.GetSession())
	if err != nil {
		return nil, err
	}
	return json.Marshal(storedRequest{
		ID:                r.GetID(),
		RequestedAt:       r.GetRequestedAt(),
		ClientID:          r.GetClient().GetID(),
		RequestedScope:    r.GetRequestedScopes(),
		GrantedScope:      r.GetGrantedScopes(),
		Form:              r.GetRequestForm(),
		RequestedAudience: r.GetRequestedAudience(),
		GrantedAudience:   r.GetGrantedAudience(),
		Session:           sess,
		Active:            active,
	})
}

// load reads a stored request into a fosite request, filling session.
func (s *store) load(ctx context.Context, key string, session fosite.Session) (*fosite.Request, storedRequest, kv.Entry, error) {
	var sr storedRequest
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, sr, e, fosite.ErrNotFound
	}
	if err != nil {
		return nil, sr, e, err
	}
	if err := json.Unmarshal(e.Value, &sr); err != nil {
		return nil, sr, e, fmt.Errorf("oauth: stored request %s: %w", key, err)
	}
	if session != nil {
		if err := json.Unmarshal(sr.Session, session); err != nil {
			return nil, sr, e, fmt.Errorf("oauth: stored session %s: %w", key, err)
		}
	}
	c, err := s.clients(ctx, sr.ClientID)
	if err != nil {
		return nil, sr, e, err
	}
	return &fosite.Request{
		ID:                sr.ID,
		RequestedAt:       sr.RequestedAt,
		Client:            c,
		RequestedScope:    sr.RequestedScope,
		GrantedScope:      sr.GrantedScope,
		Form:              sr.Form,
		Session:           session,
		RequestedAudience: sr.RequestedAudience,
		GrantedAudience:   sr.GrantedAudience,
	}, sr, e, nil
}

// expiry is when a request's token of type tt expires (fosite sets it in
// the session), with a fallback.
func expiry(r fosite.Requester, tt fosite.TokenType, fallback time.Time) time.Time {
	if exp := r.GetSession().GetExpiresAt(tt); !exp.IsZero() {
		return exp
	}
	return fallback
}

// GetClient implements fosite.ClientManager.
func (s *store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	return s.clients(ctx, id)
}

// ClientAssertionJWTValid implements fosite.ClientManager: mandate takes no
// JWT client assertions (private_key_jwt is not offered).
func (s *store) ClientAssertionJWTValid(context.Context, string) error {
	return fosite.ErrJTIKnown
}

// SetClientAssertionJWT implements fosite.ClientManager.
func (s *store) SetClientAssertionJWT(context.Context, string, time.Time) error {
	return fosite.ErrJTIKnown
}

// CreateAuthorizeCodeSession stores an authorization code's request, until
// it expires, and its grant record (so that a replayed code can revoke
// what the code gave).
func (s *store) CreateAuthorizeCodeSession(ctx context.Context, sig string, r fosite.Requester) error {
	v, err := s.encode(r, true)
	if err != nil {
		return err
	}
	exp := expiry(r, fosite.AuthorizeCode, s.now().Add(10*time.Minute))
	ops, err := s.grantOps(ctx, r, exp.Add(s.keep))
	if err != nil {
		return err
	}
	return s.write(ctx, append(ops, kv.Create("code/"+sig, v, exp))...)
}

// grantOps writes a request's grant record (request ID → mandate session),
// to live until expires, unless the grant was revoked (the condition is
// checked in the same batch).
func (s *store) grantOps(ctx context.Context, r fosite.Requester, expires time.Time) ([]kv.Op, error) {
	sess, ok := r.GetSession().(*Session)
	if !ok || sess.Grant.Session == "" {
		return nil, errors.New("oauth: a grant without a mandate session")
	}
	g, err := json.Marshal(grantRecord{ClientID: r.GetClient().GetID(), Session: sess.Grant.Session, Expires: expires})
	if err != nil {
		return nil, err
	}
	gkey := "grant/" + r.GetID()
	old, e, err := s.grant(ctx, r.GetID())
	switch {
	case errors.Is(err, fosite.ErrNotFound):
		return []kv.Op{kv.Create(gkey, g, expires)}, nil
	case err != nil:
		return nil, err
	case old.Revoked:
		return nil, fosite.ErrInactiveToken
	}
	return []kv.Op{kv.Update(gkey, g, e.Rev, expires)}, nil
}

// GetAuthorizeCodeSession returns a code's request, and
// fosite.ErrInvalidatedAuthorizeCode with it once the code was redeemed
// (fosite then revokes what the code gave).
func (s *store) GetAuthorizeCodeSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	r, sr, _, err := s.load(ctx, "code/"+sig, session)
	if err != nil {
		return nil, err
	}
	if !sr.Active {
		return r, fosite.ErrInvalidatedAuthorizeCode
	}
	return r, nil
}

// InvalidateAuthorizeCodeSession marks a code redeemed, on condition that
// nobody redeemed it meanwhile.
func (s *store) InvalidateAuthorizeCodeSession(ctx context.Context, sig string) error {
	return s.deactivate(ctx, "code/"+sig)
}

// deactivate marks a stored request used (a code redeemed, a refresh token
// rotated) in the context's transaction, on condition that it is still at
// the revision read: of two concurrent uses, one fails.
func (s *store) deactivate(ctx context.Context, key string) error {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, kv.ErrNotFound) {
		return fosite.ErrNotFound
	}
	if err != nil {
		return err
	}
	var sr storedRequest
	if err := json.Unmarshal(e.Value, &sr); err != nil {
		return err
	}
	if !sr.Active {
		return fosite.ErrSerializationFailure
	}
	sr.Active = false
	v, err := json.Marshal(sr)
	if err != nil {
		return err
	}
	return s.write(ctx, kv.Update(key, v, e.Rev, e.ExpiresAt))
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage.
func (s *store) CreatePKCERequestSession(ctx context.Context, sig string, r fosite.Requester) error {
	v, err := s.encode(r, true)
	if err != nil {
		return err
	}
	return s.write(ctx, kv.Create("pkce/"+sig, v, expiry(r, fosite.AuthorizeCode, s.now().Add(10*time.Minute))))
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (s *store) GetPKCERequestSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	r, _, _, err := s.load(ctx, "pkce/"+sig, session)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage.
func (s *store) DeletePKCERequestSession(ctx context.Context, sig string) error {
	return s.write(ctx, kv.Delete("pkce/"+sig))
}

// CreateAccessTokenSession records nothing: the access token is a mandate
// token whose record the authority keeps (session, expiry, revocation).
func (s *store) CreateAccessTokenSession(context.Context, string, fosite.Requester) error {
	return nil
}

// GetAccessTokenSession is not used: introspection and revocation of
// access tokens are the authority's own endpoints.
func (s *store) GetAccessTokenSession(context.Context, string, fosite.Session) (fosite.Requester, error) {
	return nil, fosite.ErrNotFound
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *store) DeleteAccessTokenSession(context.Context, string) error { return nil }

// CreateRefreshTokenSession stores a refresh token's request and records
// its grant (request ID → mandate session), both until the refresh token
// expires (plus keep).
func (s *store) CreateRefreshTokenSession(ctx context.Context, sig string, _ string, r fosite.Requester) error {
	v, err := s.encode(r, true)
	if err != nil {
		return err
	}
	exp := expiry(r, fosite.RefreshToken, s.now().Add(DefaultRefreshTokenLifespan)).Add(s.keep)
	ops, err := s.grantOps(ctx, r, exp)
	if err != nil {
		return err
	}
	return s.write(ctx, append(ops, kv.Create("refresh/"+sig, v, exp))...)
}

// GetRefreshTokenSession returns a refresh token's request, and
// fosite.ErrInactiveToken with it when the token was rotated already: a
// reuse, upon which fosite revokes the grant (RevokeRefreshToken and
// RevokeAccessToken). A revoked grant's tokens are not found.
func (s *store) GetRefreshTokenSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	r, sr, _, err := s.load(ctx, "refresh/"+sig, session)
	if err != nil {
		return nil, err
	}
	g, _, err := s.grant(ctx, sr.ID)
	if err != nil {
		return nil, err
	}
	if g.Revoked {
		return nil, fosite.ErrNotFound.WithHint("The grant of this refresh token was revoked.")
	}
	if !sr.Active {
		return r, fosite.ErrInactiveToken
	}
	return r, nil
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *store) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	return s.write(ctx, kv.Delete("refresh/"+sig))
}

// RotateRefreshToken marks the presented refresh token rotated, on
// condition that it was not rotated meanwhile: two refreshes with one
// token never both succeed.
func (s *store) RotateRefreshToken(ctx context.Context, _ string, sig string) error {
	return s.deactivate(ctx, "refresh/"+sig)
}

func (s *store) grant(ctx context.Context, requestID string) (grantRecord, kv.Entry, error) {
	var g grantRecord
	e, err := s.kv.Get(ctx, "grant/"+requestID)
	if errors.Is(err, kv.ErrNotFound) {
		return g, e, fosite.ErrNotFound
	}
	if err != nil {
		return g, e, err
	}
	if err := json.Unmarshal(e.Value, &g); err != nil {
		return g, e, err
	}
	return g, e, nil
}

// RevokeRefreshToken revokes a whole grant: its refresh tokens stop
// working (the grant record says revoked) and its mandate session is
// revoked through the authority's revocation log, so that every access
// token of the grant, and everything attenuated from them, is refused by
// every verifier that follows the feed. It is applied at once, not in the
// caller's transaction: a detected reuse must stay revoked even if the
// request fails afterwards.
func (s *store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	for range 8 {
		g, e, err := s.grant(ctx, requestID)
		if err != nil {
			return err
		}
		if !g.Revoked {
			g.Revoked = true
			v, err := json.Marshal(g)
			if err != nil {
				return err
			}
			if _, err := s.kv.Apply(ctx, kv.Update(e.Key, v, e.Rev, e.ExpiresAt)); errors.Is(err, kv.ErrConflict) {
				continue
			} else if err != nil {
				return err
			}
		}
		return s.revokeGrant(ctx, g)
	}
	return fosite.ErrSerializationFailure
}

// RevokeAccessToken revokes the grant's mandate session (fosite calls it
// with RevokeRefreshToken on reuse; for a replayed code, whose grant may
// have no refresh token yet, the session is found through the grant
// record if there is one).
func (s *store) RevokeAccessToken(ctx context.Context, requestID string) error {
	g, _, err := s.grant(ctx, requestID)
	if err != nil {
		return err
	}
	return s.revokeGrant(ctx, g)
}

// RevokeRefreshTokenMaybeGracePeriod implements oauth2.TokenRevocationStorage.
func (s *store) RevokeRefreshTokenMaybeGracePeriod(ctx context.Context, requestID string, _ string) error {
	return s.RevokeRefreshToken(ctx, requestID)
}
