package verifier

import (
	"errors"
	"fmt"
)

// ErrDenied is the root of every denial: errors.Is(decision.Err, ErrDenied)
// holds for every decision that did not allow the request. Token problems
// also match the errors of package token (token.ErrInvalid and below).
var ErrDenied = errors.New("denied")

var (
	// ErrRevoked: a block of the token was revoked.
	ErrRevoked = fmt.Errorf("%w: revoked", ErrDenied)
	// ErrStale: the revocation replica is older than the configured bound.
	ErrStale = fmt.Errorf("%w: revocation state is stale", ErrDenied)
	// ErrNoRight: no right of the authority block covers the request.
	ErrNoRight = fmt.Errorf("%w: no right covers the request", ErrDenied)
	// ErrCheckFailed: a check failed; see Decision.FailedCheck.
	ErrCheckFailed = fmt.Errorf("%w: a check failed", ErrDenied)
	// ErrEvaluation: evaluation failed (budget exhausted, expression error).
	ErrEvaluation = fmt.Errorf("%w: evaluation failed", ErrDenied)
	// ErrBadRequest: the request itself cannot be authorized (missing
	// service, unsupported argument type, ...).
	ErrBadRequest = fmt.Errorf("%w: bad request", ErrDenied)
	// ErrCanceled: the context was done before the decision.
	ErrCanceled = fmt.Errorf("%w: canceled", ErrDenied)
)
