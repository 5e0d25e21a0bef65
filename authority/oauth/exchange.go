package oauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/token"
)

// RFC 8693 names.
const (
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"
)

// exchangeHandler is fosite's handler of the token exchange grant (RFC
// 8693), which fosite does not provide: a mandate token (subject_token)
// comes back attenuated, server-side, for agents whose language has no
// Biscuit library. The new token is the subject token with one more block:
// the requested scope as a Rights caveat (never wider: every right must be
// covered by one of the subject token's), the resource as an Audience
// caveat, the actor as delegated_to, and an expiry. Revoking the subject
// token revokes it too. No refresh token is issued.
type exchangeHandler struct{ s *Server }

func (h exchangeHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

func (h exchangeHandler) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne(GrantTypeTokenExchange)
}

// exchangeRequest is what HandleTokenEndpointRequest established.
type exchangeRequest struct {
	subject  string
	rights   []token.Right
	audience string
	actor    string
	expires  time.Time
}

func (h exchangeHandler) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	if !r.GetClient().GetGrantTypes().Has(GrantTypeTokenExchange) {
		return fosite.ErrUnauthorizedClient.WithHint("The client may not use the token exchange grant.")
	}
	sess, ok := r.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError
	}
	form := r.GetRequestForm()
	if t := form.Get("requested_token_type"); t != "" && t != TokenTypeAccessToken {
		return fosite.ErrInvalidRequest.WithHint("Only requested_token_type " + TokenTypeAccessToken + " is issued.")
	}
	subject := form.Get("subject_token")
	if subject == "" || form.Get("subject_token_type") != TokenTypeAccessToken {
		return fosite.ErrInvalidRequest.WithHint("Send a mandate token as subject_token with subject_token_type " + TokenTypeAccessToken + ".")
	}
	admin := authority.Principal{Admin: true}
	in, err := h.s.a.Introspect(ctx, admin, subject)
	if err != nil {
		return fosite.ErrTemporarilyUnavailable.WithWrap(err)
	}
	if !in.Active {
		return fosite.ErrInvalidRequest.WithHint("The subject_token is not an active mandate token of this authority (invalid, expired or revoked).")
	}
	x := exchangeRequest{subject: subject, expires: in.ExpiresAt}
	if exp := time.Now().Add(h.s.cfg.AccessTokenLifespan); exp.Before(x.expires) {
		x.expires = exp
	}
	if a := form.Get("actor_token"); a != "" {
		if form.Get("actor_token_type") != TokenTypeAccessToken {
			return fosite.ErrInvalidRequest.WithHint("Send the actor's mandate token with actor_token_type " + TokenTypeAccessToken + ".")
		}
		ain, err := h.s.a.Introspect(ctx, admin, a)
		if err != nil {
			return fosite.ErrTemporarilyUnavailable.WithWrap(err)
		}
		if !ain.Active {
			return fosite.ErrInvalidRequest.WithHint("The actor_token is not an active mandate token of this authority.")
		}
		x.actor = ain.Subject.Agent
	}
	resource, err := resourceParam(form)
	if err != nil {
		return err
	}
	scopes := r.GetRequestedScopes()
	if len(scopes) > 0 || resource != "" {
		svc, err := h.s.serviceFor(ctx, resource, scopes, in.Subject.Org)
		if err != nil {
			return err
		}
		x.audience = svc.Resource
		if len(scopes) > 0 {
			if x.rights, err = svc.resolve(scopes, in.Subject.Org); err != nil {
				return invalidScope(err.Error())
			}
		}
	}
	for _, want := range x.rights {
		if !coveredBy(want, in.Rights) {
			return invalidScope(fmt.Sprintf("The subject token does not hold %s: an exchange only narrows.", want.Scope()))
		}
	}
	for _, sc := range scopes {
		r.GrantScope(sc)
	}
	sess.exchange = &x
	return nil
}

// coveredBy reports whether one of have grants everything r grants.
func coveredBy(r token.Right, have []token.Right) bool {
	for _, h := range have {
		if h.Service == r.Service &&
			(h.Tool == token.Wildcard || h.Tool == r.Tool) &&
			(h.Operation == token.Wildcard || h.Operation == r.Operation) &&
			strings.HasPrefix(r.Resource, h.Resource) {
			return true
		}
	}
	return false
}

func (h exchangeHandler) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	sess, ok := r.GetSession().(*Session)
	if !ok || sess.exchange == nil {
		return fosite.ErrServerError
	}
	x := sess.exchange
	b, err := attenuate.New(x.subject)
	if err != nil {
		return fosite.ErrInvalidRequest.WithHint(oauthText(err.Error()))
	}
	if len(x.rights) > 0 {
		b.Rights(x.rights...)
	}
	if x.audience != "" {
		b.Audience(x.audience)
	}
	if x.actor != "" {
		b.DelegatedTo(x.actor)
	}
	tok, err := b.ExpiresAt(x.expires).Build()
	if err != nil {
		if errors.Is(err, attenuate.ErrInvalidCaveat) {
			return invalidScope(err.Error())
		}
		return fosite.ErrServerError.WithWrap(err)
	}
	resp.SetAccessToken(tok)
	resp.SetTokenType("Bearer")
	resp.SetExpiresIn(time.Until(x.expires).Round(time.Second))
	resp.SetExtra("issued_token_type", TokenTypeAccessToken)
	if sc := r.GetGrantedScopes(); len(sc) > 0 {
		resp.SetScopes(sc)
	}
	h.s.audit(ctx, "oauth_token_exchange").Str("client_id", r.GetClient().GetID()).Str("audience", x.audience).
		Int("rights", len(x.rights)).Str("delegated_to", x.actor).Time("expires_at", x.expires).Msg("token exchanged (attenuated)")
	return nil
}
