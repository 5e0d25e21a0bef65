package attenuate

import (
	"errors"
	"fmt"
)

// Errors of this package. Token problems are reported with the errors of
// package token: errors.Is(err, token.ErrInvalid) for a token that cannot be
// read, errors.Is(err, token.ErrSealed) for a sealed one.
var (
	// ErrInvalidCaveat is the root of every error about a caveat: an empty
	// or malformed name, an empty list, a TTL that is not positive, an
	// expiry in the past, raw Datalog that is not a Biscuit v3 check, or a
	// block the verifier would reject.
	ErrInvalidCaveat = errors.New("invalid caveat")

	// ErrOverLimit is reported, together with ErrInvalidCaveat, when a
	// caveat or the attenuated token would exceed a limit of
	// token/limits.go, and alone when the token already has the most
	// blocks a verifier accepts.
	ErrOverLimit = errors.New("over a token limit")

	// ErrEmptyBlock is returned by Build when no caveat was added: an
	// attenuation block must hold at least one check or fact.
	ErrEmptyBlock = errors.New("attenuate: nothing to append: add at least one caveat before Build")
)

// caveatError returns an error matching ErrInvalidCaveat.
func caveatError(method, format string, args ...any) error {
	return fmt.Errorf("attenuate: %s: %w: %s", method, ErrInvalidCaveat, fmt.Sprintf(format, args...))
}

// limitError returns an error matching ErrInvalidCaveat and ErrOverLimit.
func limitError(method, format string, args ...any) error {
	return fmt.Errorf("attenuate: %s: %w (%w): %s", method, ErrInvalidCaveat, ErrOverLimit, fmt.Sprintf(format, args...))
}
