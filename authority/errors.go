package authority

import (
	"errors"
	"fmt"
)

// The authority's errors. Handlers map them to HTTP statuses in one place
// (httperrors.go); the core never knows about status codes. Every error the
// authority returns wraps one of these, so errors.Is works on all of them.
var (
	// ErrBadRequest: the request is ill-formed or names something
	// impossible (an empty agent, a TTL over the maximum, bad hex).
	ErrBadRequest = errors.New("bad request")
	// ErrUnauthenticated: credentials are missing or do not match an
	// admin token or a registered client.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: the caller is authenticated but not entitled: a
	// client asking for an admin action, minting beyond its ceiling, or
	// acting on another client's session.
	ErrForbidden = errors.New("forbidden")
	// ErrCeiling: a mint request exceeds the client's ceiling. It wraps
	// ErrForbidden.
	ErrCeiling = fmt.Errorf("%w: beyond the client's ceiling", ErrForbidden)
	// ErrNotFound: no such client, session, or revocation ID.
	ErrNotFound = errors.New("not found")
	// ErrExists: a client with this ID is already registered.
	ErrExists = errors.New("already exists")
	// ErrSessionOwned: the session was minted by another client. It wraps
	// ErrForbidden.
	ErrSessionOwned = fmt.Errorf("%w: the session belongs to another client", ErrForbidden)
	// ErrSessionRevoked: the session was revoked; no token can be minted
	// into it any more.
	ErrSessionRevoked = errors.New("session revoked")
	// ErrInvalidToken: a token given to revoke or introspect does not
	// parse or does not verify against this authority's keys.
	ErrInvalidToken = errors.New("token does not verify against this authority's keys")
	// ErrFeedAhead: a follower asked for revocations after a sequence
	// number this authority never issued (its log was reset or belongs to
	// another authority).
	ErrFeedAhead = errors.New("sequence number ahead of the revocation log")
	// ErrUnavailable: the authority is shutting down or its storage failed;
	// retry later.
	ErrUnavailable = errors.New("unavailable")
	// ErrCorrupt: the authority's state at rest failed an integrity check
	// (a Badger checksum, the revocation log's hash chain, a key file). The
	// authority refuses to start on it: restore the data folder from a
	// backup. It wraps ErrUnavailable.
	ErrCorrupt = fmt.Errorf("%w: stored state is corrupt", ErrUnavailable)
	// ErrClosed: the authority or store was closed. It wraps
	// ErrUnavailable.
	ErrClosed = fmt.Errorf("%w: closed", ErrUnavailable)
)
