package authority

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Audit events of refusals. Each names the client when it is known and why
// the request was refused, as a fixed code or the core's own message; none
// ever holds the credential that was presented, or any part of it.

// Reasons of an "auth_failed" audit event.
const (
	authNoCredentials = "no_credentials"      // no Authorization header
	authManyHeaders   = "several_headers"     // more than one Authorization header
	authBadScheme     = "unsupported_scheme"  // neither Bearer (nor Basic where allowed)
	authMalformed     = "malformed_basic"     // Basic credentials that do not decode
	authTooLong       = "credential_too_long" // over MaxCredentialBytes
	authWrongAdmin    = "wrong_admin_token"   // shaped like a generated admin token, not the admin's
	authUnknown       = "unknown_credential"  // not the admin token, names no registered client
	authWrongSecret   = "wrong_client_secret" // names a registered client, wrong secret
)

// auditWarn starts an audit event at warn level, as audit does at info.
func (a *Authority) auditWarn(ctx context.Context, event string) *zerolog.Event {
	l := zerolog.Ctx(ctx)
	if l == zerolog.DefaultContextLogger || l.GetLevel() == zerolog.Disabled {
		l = &a.log
	}
	return l.Warn().Bool("audit", true).Str("event", event)
}

// registered reports whether id is a registered client.
func (a *Authority) registered(id string) bool {
	a.clientsMu.RLock()
	defer a.clientsMu.RUnlock()
	_, ok := a.clients[id]
	return ok
}

// authFailure classifies a refused Authorization header value: the
// registered client it names, if any, and the reason code. The client ID of
// a credential is logged only when it is registered, so that a credential
// of another kind pasted by mistake (whose text before a '.' may be secret)
// never reaches the log.
func (a *Authority) authFailure(header string, allowBasic bool) (clientID, reason string) {
	scheme, cred, _ := strings.Cut(strings.TrimSpace(header), " ")
	cred = strings.TrimSpace(cred)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		if len(cred) > MaxCredentialBytes {
			return "", authTooLong
		}
		if i := strings.LastIndexByte(cred, '.'); i > 0 && a.registered(cred[:i]) {
			return cred[:i], authWrongSecret
		}
		if strings.HasPrefix(cred, adminTokenPrefix) {
			return "", authWrongAdmin
		}
		return "", authUnknown
	case allowBasic && strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return "", authMalformed
		}
		id, _, ok := strings.Cut(string(raw), ":")
		if !ok {
			return "", authMalformed
		}
		if v, err := url.QueryUnescape(id); err == nil {
			id = v
		}
		if !a.registered(id) {
			return "", authUnknown
		}
		return id, authWrongSecret
	}
	return "", authBadScheme
}

// auditAuthFailed records a refused credential: an "auth_failed" audit
// event with the client (when the credential names a registered one), the
// reason code, and the route. headers are the request's Authorization
// header values.
func (a *Authority) auditAuthFailed(ctx context.Context, headers []string, allowBasic bool, method, route, remote string) {
	var clientID, reason string
	switch len(headers) {
	case 0:
		reason = authNoCredentials
	case 1:
		clientID, reason = a.authFailure(headers[0], allowBasic)
	default:
		reason = authManyHeaders
	}
	a.auditWarn(ctx, "auth_failed").Str("client_id", clientID).Str("reason", reason).
		Str("method", method).Str("route", route).Str("remote", remote).
		Msg("authentication failed")
}

// auditMintRefused records a mint refused by the client's ceiling: a
// "mint_refused" audit event with the client, the reason and what was
// asked for (never a token).
func (a *Authority) auditMintRefused(ctx context.Context, p Principal, req MintRequest, ceiling *Ceiling, err error) {
	reason := err.Error()
	if errors.Is(err, ErrCeiling) {
		reason = strings.TrimPrefix(reason, ErrCeiling.Error()+": ")
	}
	ev := a.auditWarn(ctx, "mint_refused").Str("by", p.String()).Str("client_id", p.ClientID).
		Str("reason", reason).Str("agent", req.Agent).Str("user", req.User).Str("org", req.Org).
		Str("session", req.Session).Int("rights", len(req.Rights)).Int64("ttl_s", int64(req.TTL/time.Second))
	if ceiling != nil {
		ev = ev.Int64("max_ttl_s", int64(ceiling.MaxTTL/time.Second))
	}
	ev.Msg("mint refused")
}

// durationMS is d in milliseconds, with microsecond precision: log fields
// carry their unit in their name (duration_ms, ttl_s), whatever zerolog's
// global DurationFieldUnit says.
func durationMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
