package oauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/rs/zerolog"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/token"
)

// Defaults.
const (
	DefaultAccessTokenLifespan  = time.Hour
	DefaultRefreshTokenLifespan = 30 * 24 * time.Hour
	DefaultCodeLifespan         = time.Minute
	// MaxBodyBytes bounds the bodies of the OAuth endpoints.
	MaxBodyBytes = 64 << 10
)

var noExpiry time.Time

// Config configures a Server.
type Config struct {
	// Authority mints, authenticates and revokes. Required.
	Authority *authority.Authority
	// KV holds the room's state (default Authority.Namespace("oauth")).
	KV kv.KV
	// AccessTokenLifespan is the lifetime of access tokens (mandate
	// tokens; default DefaultAccessTokenLifespan, at most token.MaxTTL).
	AccessTokenLifespan time.Duration
	// RefreshTokenLifespan (default DefaultRefreshTokenLifespan).
	RefreshTokenLifespan time.Duration
	// CodeLifespan is the lifetime of authorization codes (default
	// DefaultCodeLifespan).
	CodeLifespan time.Duration
	// Pages, when set, serves the consent page as a page of the console's
	// web layer (package authority/web, once it is on main): it wraps
	// page, which it calls with the signed-in person and the sign-in
	// session's CSRF token (rendered into the form as "csrf"), after
	// sending a person who is not signed in to its sign-in page and
	// refusing unsafe requests without the token. With web.Web:
	//
	//	Pages: func(page oauth.PageFunc) http.Handler {
	//		return w.Page(func(rw http.ResponseWriter, r *web.Request) { page(rw, r.Request, &r.Person, r.CSRF) })
	//	}
	//
	// When nil, the consent page stands alone: it refuses cross-origin
	// posts and the person signs in on it with their credential (mp_…).
	Pages func(page PageFunc) http.Handler
	// CIMD, when set, turns on Client ID Metadata Documents: a client ID
	// that is an https URL is resolved by fetching its JSON document
	// (SSRF-safe; see CIMDConfig). Off by default.
	CIMD *CIMDConfig
	// Registration, when set, turns on Dynamic Client Registration (RFC
	// 7591), rate limited. Off by default.
	Registration *RegistrationConfig
	// Logger receives audit events (default: none).
	Logger *zerolog.Logger
}

// PageFunc is the consent page as a web layer calls it: person is the
// signed-in person, csrf the token its forms must carry.
type PageFunc func(w http.ResponseWriter, r *http.Request, person *people.Person, csrf string)

// Server is the authority's OAuth 2.1 authorization server.
type Server struct {
	cfg      Config
	a        *authority.Authority
	provider fosite.OAuth2Provider
	store    *store
	catalog  catalog
	clients  registry
	log      zerolog.Logger
	regLimit *limiter // nil: no dynamic registration
}

// New builds the OAuth server on an open authority.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Authority == nil {
		return nil, errors.New("oauth: Config.Authority is required")
	}
	if cfg.KV == nil {
		cfg.KV = cfg.Authority.Namespace("oauth")
	}
	if cfg.AccessTokenLifespan <= 0 {
		cfg.AccessTokenLifespan = DefaultAccessTokenLifespan
	}
	if cfg.AccessTokenLifespan > token.MaxTTL {
		return nil, fmt.Errorf("oauth: the access token lifespan %s is over mandate's maximum token lifetime %s", cfg.AccessTokenLifespan, token.MaxTTL)
	}
	if cfg.RefreshTokenLifespan <= 0 {
		cfg.RefreshTokenLifespan = DefaultRefreshTokenLifespan
	}
	if cfg.CodeLifespan <= 0 {
		cfg.CodeLifespan = DefaultCodeLifespan
	}
	s := &Server{cfg: cfg, a: cfg.Authority, catalog: catalog{cfg.KV}, log: zerolog.Nop()}
	if cfg.Logger != nil {
		s.log = *cfg.Logger
	}
	s.clients = registry{kv: cfg.KV, a: cfg.Authority}
	if cfg.CIMD != nil {
		s.clients.cimd = newCIMD(*cfg.CIMD)
	}
	if rc := cfg.Registration; rc != nil {
		if rc.PerMinute <= 0 {
			rc.PerMinute = 10
		}
		if rc.Burst <= 0 {
			rc.Burst = 10
		}
		s.regLimit = newLimiter(rc.PerMinute, rc.Burst)
	}
	secret, err := hmacSecret(ctx, cfg.KV)
	if err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	s.store = &store{
		kv:          cfg.KV,
		clients:     s.clients.fositeClient,
		revokeGrant: s.revokeGrant,
		now:         time.Now,
		keep:        time.Hour,
	}
	fc := &fosite.Config{
		AccessTokenLifespan:   cfg.AccessTokenLifespan,
		RefreshTokenLifespan:  cfg.RefreshTokenLifespan,
		AuthorizeCodeLifespan: cfg.CodeLifespan,
		GlobalSecret:          secret,
		// PKCE for every client, S256 only (OAuth 2.1, MCP).
		EnforcePKCE:                    true,
		EnablePKCEPlainChallengeMethod: false,
		// Every code exchange gets a refresh token, rotated on use.
		RefreshTokenScopes: []string{},
		// Scopes are checked against the catalog by this package (the
		// client's scopes are not a fixed list); fosite only checks that
		// each is a well-formed scope token.
		ScopeStrategy:              func(_ []string, needle string) bool { return validScopeToken(needle) },
		AudienceMatchingStrategy:   fosite.DefaultAudienceMatchingStrategy,
		ClientSecretsHasher:        secretChecker{cfg.Authority},
		SendDebugMessagesToClients: false,
		MinParameterEntropy:        fosite.MinParameterEntropy,
		RedirectSecureChecker:      fosite.IsRedirectURISecureStrict,
	}
	st := &strategy{HMACSHAStrategy: compose.NewOAuth2HMACStrategy(fc), mint: s.mintAccess}
	s.provider = compose.Compose(fc, s.store, st,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2PKCEFactory,
	)
	fc.TokenEndpointHandlers.Append(exchangeHandler{s})
	return s, nil
}

// hmacSecret returns the room's HMAC secret for codes and refresh tokens,
// creating it on first start.
func hmacSecret(ctx context.Context, k kv.KV) ([]byte, error) {
	e, err := k.Get(ctx, "secret")
	if err == nil {
		return e.Value, nil
	}
	if !errors.Is(err, kv.ErrNotFound) {
		return nil, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if _, err := k.Apply(ctx, kv.Create("secret", b, noExpiry)); err != nil && !errors.Is(err, kv.ErrConflict) {
		return nil, err
	}
	e, err = k.Get(ctx, "secret")
	return e.Value, err
}

// mintAccess mints a grant's access token: exactly the consented rights,
// into the grant's session, bound to its resource, within the consented
// rights and (for a registered client) its ceiling, by the authority core.
func (s *Server) mintAccess(ctx context.Context, r fosite.Requester) (string, error) {
	sess, ok := r.GetSession().(*Session)
	if !ok {
		return "", errors.New("oauth: request without a mandate session")
	}
	g := sess.Grant
	if g.User != "" {
		// A person's grant lives as long as the person: once removed,
		// refreshing stops.
		switch _, err := s.a.People().Get(ctx, g.User); {
		case errors.Is(err, people.ErrNotFound):
			return "", fmt.Errorf("%w: %s is no longer a person of this authority", authority.ErrSessionRevoked, g.User)
		case err != nil:
			return "", fmt.Errorf("%w: people: %w", authority.ErrUnavailable, err)
		}
	}
	ttl := s.cfg.AccessTokenLifespan
	if exp := sess.GetExpiresAt(fosite.AccessToken); !exp.IsZero() {
		if d := time.Until(exp).Round(time.Second); d > 0 && d < ttl {
			ttl = d
		}
	}
	bounds := []authority.Ceiling{grantCeiling(g, s.cfg.AccessTokenLifespan)}
	if g.RegisteredClient != "" {
		c, ok := s.a.ClientCeiling(g.RegisteredClient)
		if !ok {
			return "", fmt.Errorf("%w: client '%s' is no longer registered", authority.ErrUnauthenticated, clip(g.RegisteredClient))
		}
		if ttl > c.MaxTTL {
			ttl = c.MaxTTL
		}
		bounds = append(bounds, c)
	}
	res, err := s.a.MintGrant(ctx, authority.GrantPrincipal(r.GetClient().GetID()), bounds, authority.MintRequest{
		Agent:    g.Agent,
		User:     g.User,
		Org:      g.Org,
		Session:  g.Session,
		Rights:   g.Rights,
		TTL:      ttl,
		Audience: g.Audience,
	})
	if err != nil {
		return "", err
	}
	sess.SetExpiresAt(fosite.AccessToken, res.ExpiresAt)
	return res.Token, nil
}

// grantCeiling is the box around a grant's rights, its org and the access
// token lifetime: the bound MintGrant checks every mint against (the
// rights minted are exactly the grant's).
func grantCeiling(g Grant, maxTTL time.Duration) authority.Ceiling {
	c := authority.Ceiling{Orgs: []string{g.Org}, MaxTTL: maxTTL}
	add := func(list []string, v string) []string {
		if !slices.Contains(list, v) {
			list = append(list, v)
		}
		return list
	}
	for _, r := range g.Rights {
		c.Services = add(c.Services, r.Service)
		c.Tools = add(c.Tools, r.Tool)
		c.Operations = add(c.Operations, r.Operation)
		c.ResourcePrefixes = add(c.ResourcePrefixes, r.Resource)
	}
	return c
}

// revokeGrant revokes a grant's mandate session through the authority's
// revocation log (and so its feed).
func (s *Server) revokeGrant(ctx context.Context, g grantRecord) error {
	res, err := s.a.RevokeSession(ctx, authority.GrantPrincipal(g.ClientID), g.Session)
	switch {
	case errors.Is(err, authority.ErrNotFound):
		// No token was minted yet, or every one has expired: mark the
		// session so that none can be minted into it.
		s.audit(ctx, "oauth_grant_revoked").Str("client_id", g.ClientID).Str("session", g.Session).Int("tokens", 0).Msg("OAuth grant revoked")
		return nil
	case err != nil:
		return err
	}
	s.audit(ctx, "oauth_grant_revoked").Str("client_id", g.ClientID).Str("session", g.Session).Int("tokens", res.Total).Msg("OAuth grant revoked")
	return nil
}

func (s *Server) audit(ctx context.Context, event string) *zerolog.Event {
	l := zerolog.Ctx(ctx)
	if l == zerolog.DefaultContextLogger || l.GetLevel() == zerolog.Disabled {
		l = &s.log
	}
	return l.Info().Bool("audit", true).Str("event", event)
}
