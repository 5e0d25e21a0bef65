package verifier

import (
	"errors"
	"fmt"

	"github.com/mandate-dev/mandate/internal/datalog"
	"github.com/mandate-dev/mandate/token"
)

// Kind says what a caller can do about a denial. It is the machine-readable
// code every adapter sends: the "error" of HTTP JSON bodies and of the
// structured content of MCP tool errors. The kinds split in three by who
// can fix the call:
//
//   - the token: [KindNoToken], [KindInvalidToken] — get a (new) token;
//   - a broader grant: [KindInsufficientScope] — ask the authority for the
//     right named by [Decision.Scope] (OAuth step-up);
//   - the caller's own call: every other kind — no new grant helps, so
//     adapters must never answer these in a way that starts an
//     authorization flow (MCP: a tool result with isError).
type Kind string

const (
	// KindNoToken: the request carries no token.
	KindNoToken Kind = "unauthorized"
	// KindInvalidToken: the token is malformed, unverifiable, expired
	// (by the authority's expiry or an attenuation block's), revoked, or
	// fails a check of its authority block.
	KindInvalidToken Kind = "invalid_token"
	// KindInsufficientScope: no right of the authority block covers the
	// call, and no attenuation caveat denies it: a token with the right
	// [Decision.Scope] names would allow it.
	KindInsufficientScope Kind = "insufficient_scope"
	// KindCaveat: a check of an attenuation block denies the call (a tool
	// outside a set, an amount over a bound, a resource outside a prefix,
	// a caveat too costly to evaluate). Attenuation only narrows: no
	// broader grant can lift it; change the call or ask the delegating
	// agent for a token without that caveat.
	KindCaveat Kind = "caveat_denied"
	// KindLimitExceeded: a usage limit a block of the token declares has
	// no room for the call (a count or a budget is spent in the current
	// window). The reason names the limit, its block, how much is used
	// and when it resets (a *LimitExceededError); wait, or ask the
	// delegating agent for a token with room.
	KindLimitExceeded Kind = "limit_exceeded"
	// KindApprovalRequired: an approval caveat stops the call and the
	// request carries no approval (or the verifier checks none): ask the
	// authority to approve [Decision.CallDigest] and retry with the
	// approval (see "Approvals" in the package doc). MCP adapters will
	// answer it with the URL-mode elicitation error of issue 9.
	KindApprovalRequired Kind = "approval_required"
	// KindApprovalInvalid: the request's approval does not decide this
	// call (forged, expired, for another call, session or lineage, by an
	// approver the caveat does not accept, or used up): ask for a new one.
	KindApprovalInvalid Kind = "approval_invalid"
	// KindBadRequest: the call cannot be authorized as sent (a missing or
	// unusable argument, an unreadable request).
	KindBadRequest Kind = "invalid_request"
	// KindUnavailable: the verifier cannot decide now (its revocation
	// state is stale, or the request was canceled): retry later.
	KindUnavailable Kind = "temporarily_unavailable"
	// KindDenied: denied for a reason no grant can fix that is none of the
	// above (a tool without a mandate policy, an internal error).
	KindDenied Kind = "access_denied"
)

// GrantCanFix reports whether a broader grant could allow the call: only
// then may an adapter invite the client to authorize again (OAuth step-up).
func (k Kind) GrantCanFix() bool { return k == KindInsufficientScope }

// TokenProblem reports whether the denial is about the token rather than
// the call: a new token, not a different call, is the fix.
func (k Kind) TokenProblem() bool { return k == KindNoToken || k == KindInvalidToken }

// Kind classifies a denied decision; it is "" for an allowed one. The order
// matters: a token problem hides everything about the call, and a failed
// attenuation caveat wins over a missing right (Authorize reports the caveat
// when both deny), because no grant lifts a caveat.
func (d *Decision) Kind() Kind {
	switch {
	case d.Allowed:
		return ""
	case d.Err == nil:
		return KindDenied // a denial without a cause: fail closed
	case errors.Is(d.Err, ErrNoToken):
		return KindNoToken
	case errors.Is(d.Err, token.ErrInvalid), errors.Is(d.Err, token.ErrExpired), errors.Is(d.Err, ErrRevoked):
		return KindInvalidToken
	case errors.Is(d.Err, ErrLimitExceeded):
		return KindLimitExceeded
	case errors.Is(d.Err, ErrLimitUnenforced):
		return KindDenied // the verifier's configuration, not the call
	case errors.Is(d.Err, ErrStale), errors.Is(d.Err, ErrCanceled), errors.Is(d.Err, ErrLimitUnavailable):
		return KindUnavailable
	case errors.Is(d.Err, ErrBadRequest):
		return KindBadRequest
	case errors.Is(d.Err, ErrApprovalRequired):
		return KindApprovalRequired // also for an authority block's approval caveat
	case errors.Is(d.Err, ErrApprovalInvalid):
		return KindApprovalInvalid
	case errors.Is(d.Err, ErrNoRight):
		return KindInsufficientScope
	case d.FailedCheck != nil && d.FailedCheck.Block == 0:
		return KindInvalidToken // the authority's own condition on the token
	case d.FailedCheck != nil && (errors.Is(d.Err, ErrCheckFailed) || errors.Is(d.Err, ErrEvaluation)):
		return KindCaveat
	}
	return KindDenied
}

// Scope returns, for a [KindInsufficientScope] denial, the OAuth scope of
// the smallest right that would cover the call (token.Right.Scope: service,
// tool, operation and the call's resource), and "" otherwise.
func (d *Decision) Scope() string {
	var e *NoRightError
	if d.Allowed || !errors.As(d.Err, &e) {
		return ""
	}
	return e.Right.Scope()
}

// NoRightError is the cause of a denial because no right of the authority
// block covers the call. It matches [ErrNoRight] and [ErrDenied].
type NoRightError struct {
	// Right is the smallest right that would cover the call: its service,
	// tool, operation and resource.
	Right token.Right
}

func (e *NoRightError) Error() string {
	r := e.Right
	return fmt.Sprintf("%v: service=%q tool=%q operation=%q resource=%q", ErrNoRight, r.Service, r.Tool, r.Operation, r.Resource)
}

// Unwrap makes errors.Is(err, ErrNoRight) hold.
func (e *NoRightError) Unwrap() error { return ErrNoRight }

// attenuationDenies runs the token's program again with a policy that allows, to learn
// whether an attenuation caveat denies the call too when no right covers
// it: such a call is a caveat denial, since a broader grant would still
// leave the caveat in the way. It only runs on that denial path.
func attenuationDenies(ev *datalog.Evaluator, vt *token.Verified, facts []datalog.Predicate) (datalog.Outcome, error, bool) {
	if vt.BlockCount() < 2 {
		return datalog.Outcome{}, nil, false
	}
	out, err := ev.RunProgram(vt.Program(), facts, func(*datalog.World) bool { return true })
	return out, err, out.Block >= 1
}
