package verifier

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// Authenticate checks tok without authorizing any call: its signature chain
// against the trusted keys, the freshness of the revocation state, the
// revocation of every block and the earliest expiry any block states. It is
// for requests that perform no tool call but must still carry a valid token,
// such as the MCP handshake (initialize, tools/list). Decision.Allowed means
// "the token is valid here", never "this call is allowed": use Authorize for
// tool calls. Every denial about the token itself has InvalidToken() true
// (HTTP adapters answer 401 invalid_token); the others are ErrCanceled (ctx
// done) and ErrEvaluation (an internal error).
func (v *Verifier) Authenticate(ctx context.Context, tok string) (d Decision) {
	start := time.Now()
	d.DecisionID = v.prefix + strconv.FormatUint(v.seq.Add(1), 36)
	defer func() {
		if r := recover(); r != nil {
			d.Allowed = false
			d.Err = fmt.Errorf("%w: internal error", ErrEvaluation)
			d.Reason = "internal error while checking the token; denied"
		}
		d.Duration = time.Since(start)
		v.audit(&d, &Request{})
	}()
	if err := ctx.Err(); err != nil {
		return deny(d, fmt.Errorf("%w: %w", ErrCanceled, err))
	}
	now := v.now()
	vt, err := v.verified(tok, now)
	if err != nil {
		return deny(d, fmt.Errorf("%w: %w", ErrDenied, err))
	}
	ids := vt.RevocationIDs()
	d.RevocationIDs = make([]string, len(ids))
	for i, id := range ids {
		d.RevocationIDs[i] = hex.EncodeToString(id)
	}
	s := vt.Subject()
	d.Session, d.Agent, d.User, d.Org = s.Session, s.Agent, s.User, s.Org
	d.Blocks = vt.BlockCount()
	if v.cfg.Fresh != nil {
		if err := v.cfg.Fresh(); err != nil {
			return deny(d, fmt.Errorf("%w: %w", ErrStale, err))
		}
	}
	if v.cfg.Revocations != nil {
		if i := v.cfg.Revocations.Revoked(ids); i >= 0 {
			return deny(d, fmt.Errorf("%w: block %d (revocation ID %.16s…) was revoked", ErrRevoked, i, d.RevocationIDs[i]))
		}
	}
	if exp := vt.EffectiveExpiry(); !exp.IsZero() && now.After(exp) {
		return deny(d, fmt.Errorf("%w: %w", ErrDenied, &token.ExpiredError{ExpiresAt: exp, Now: now}))
	}
	d.Allowed = true
	d.Reason = "token is valid (no call authorized)"
	return d
}
