package verifier

import (
	"context"
	"fmt"

	"github.com/mandate-dev/mandate/token"
)

// Authenticate checks tok without authorizing any call: its signature chain
// against the trusted keys, the freshness of the revocation state, the
// revocation of every block and the earliest expiry any block states. It is
// for requests that perform no tool call but must still carry a valid token,
// such as the MCP handshake (initialize, tools/list). Decision.Allowed means
// "the token is valid here", never "this call is allowed": use Authorize for
// tool calls. Every denial about the token itself has InvalidToken() true
// (HTTP adapters answer 401 invalid_token); the others are ErrStale (the
// revocation replica is behind) and ErrCanceled (ctx done), both of
// KindUnavailable, and ErrEvaluation (an internal error).
func (v *Verifier) Authenticate(ctx context.Context, tok string) (d Decision) {
	var vt *token.Verified
	defer v.begin(&d)(&Request{}, &vt)
	vt, now, err := v.check(ctx, tok, &d)
	if err != nil {
		return deny(d, err)
	}
	if exp := vt.EffectiveExpiry(); !exp.IsZero() && now.After(exp) {
		return deny(d, fmt.Errorf("%w: %w", ErrDenied, &token.ExpiredError{ExpiresAt: exp, Now: now}))
	}
	d.Allowed = true
	d.Reason = "token is valid (no call authorized)"
	return d
}
