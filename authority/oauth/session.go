package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/ory/fosite"
	foauth2 "github.com/ory/fosite/handler/oauth2"

	"github.com/mandate-dev/mandate/token"
)

// Session is the fosite session of a grant: fosite's expiry bookkeeping
// and what the access tokens of the grant are minted with.
type Session struct {
	fosite.DefaultSession
	Grant Grant `json:"grant"`
	// exchange is a token exchange in progress (never stored).
	exchange *exchangeRequest
}

// Grant is what a person consented to (or a confidential client asked for
// within its ceiling): every access token of the grant, first and
// refreshed, is a mandate token minted with exactly these rights, for this
// subject, into this mandate session, bound to this resource.
type Grant struct {
	// Session is the mandate session of the grant, owned by
	// authority.GrantPrincipal(client): revoking it revokes every access
	// token of the grant.
	Session string        `json:"session"`
	Agent   string        `json:"agent"`
	User    string        `json:"user,omitempty"`
	Org     string        `json:"org"`
	Rights  []token.Right `json:"rights"`
	// Audience is the resource (RFC 8707) the tokens are bound to.
	Audience string `json:"audience"`
	// Service is the catalog service of Audience.
	Service string `json:"service"`
	// RegisteredClient is set when the OAuth client is a registered
	// mandate client: its ceiling bounds every mint too.
	RegisteredClient string `json:"registered_client,omitempty"`
}

func newSession() *Session {
	return &Session{DefaultSession: fosite.DefaultSession{ExpiresAt: map[fosite.TokenType]time.Time{}}}
}

// Clone implements fosite.Session.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	c.DefaultSession.ExpiresAt = make(map[fosite.TokenType]time.Time, len(s.ExpiresAt))
	for k, v := range s.ExpiresAt {
		c.DefaultSession.ExpiresAt[k] = v
	}
	c.DefaultSession.Extra = nil
	c.Grant.Rights = slices.Clone(s.Grant.Rights)
	return &c
}

// strategy issues mandate tokens as access tokens and fosite's HMAC tokens
// as authorization codes and refresh tokens.
type strategy struct {
	*foauth2.HMACSHAStrategy
	mint func(ctx context.Context, r fosite.Requester) (string, error)
}

// AccessTokenSignature is the hex SHA-256 of the token (fosite's handle
// for it; mandate records tokens by revocation ID).
func (s *strategy) AccessTokenSignature(_ context.Context, tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// GenerateAccessToken mints the grant's mandate token.
func (s *strategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	tok, err := s.mint(ctx, r)
	if err != nil {
		return "", "", err
	}
	return tok, s.AccessTokenSignature(ctx, tok), nil
}

// ValidateAccessToken is not used by the flows served here (verifiers
// check mandate tokens; the authority introspects them).
func (s *strategy) ValidateAccessToken(context.Context, fosite.Requester, string) error {
	return fosite.ErrInvalidTokenFormat
}
