package token

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalid is the root of every error that makes a token unusable: it
// cannot be decoded, is over a limit, uses an unsupported format, or its
// signature chain does not verify. errors.Is(err, ErrInvalid) holds for all
// of the more specific errors below.
var ErrInvalid = errors.New("invalid token")

var (
	// ErrMalformed: the bytes are not a Biscuit token (bad base64, bad
	// protobuf, missing fields, dangling symbols, ill-formed Datalog).
	ErrMalformed = fmt.Errorf("%w: malformed", ErrInvalid)
	// ErrTooLarge: the token exceeds a structural limit in limits.go.
	ErrTooLarge = fmt.Errorf("%w: over a limit", ErrInvalid)
	// ErrUnsupported: a block uses a format newer than Biscuit v3
	// (Datalog 3.0), such as "check all", "reject if", "!=", arrays or
	// third-party blocks, or a regular expression construct that Go and
	// Biscuit's Rust implementation read differently (such as \b or
	// \Q...\E; see "Regular expressions" in the package doc).
	ErrUnsupported = fmt.Errorf("%w: unsupported format", ErrInvalid)
	// ErrSignature: the signature chain does not verify.
	ErrSignature = fmt.Errorf("%w: bad signature", ErrInvalid)
	// ErrUnknownKey: no trusted root key verifies the token.
	ErrUnknownKey = fmt.Errorf("%w: unknown root key", ErrInvalid)
	// ErrSymbolOverlap: a block's symbol table repeats a default symbol, a
	// symbol of an earlier block or one of its own, which the Biscuit
	// specification forbids (readers would disagree on what the block
	// says). It also matches ErrMalformed.
	ErrSymbolOverlap = fmt.Errorf("%w: symbol table overlap", ErrMalformed)
)

// ErrSealed is returned when appending to a sealed token.
var ErrSealed = errors.New("token is sealed: no block can be appended")

// ExpiredError reports a token whose authority expiry has passed.
type ExpiredError struct {
	ExpiresAt time.Time
	Now       time.Time
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("token expired at %s (now %s)", e.ExpiresAt.UTC().Format(time.RFC3339), e.Now.UTC().Format(time.RFC3339))
}

// ErrExpired matches every *ExpiredError.
var ErrExpired = errors.New("token expired")

// Is makes errors.Is(err, ErrExpired) hold.
func (e *ExpiredError) Is(target error) bool { return target == ErrExpired }
