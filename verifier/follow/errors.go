package follow

import (
	"errors"
	"fmt"
)

var (
	// ErrStale is the root of the errors [Follower.Fresh] returns: the
	// follower's replica of the revocation log is older than
	// [Config.MaxStaleness], so a verifier must deny (fail closed).
	// verifier.Verifier wraps it in verifier.ErrStale.
	ErrStale = errors.New("follow: revocation state is stale")

	// ErrNotSynced is returned by [Follower.Fresh] before the first
	// successful sync with the authority. It matches ErrStale.
	ErrNotSynced = fmt.Errorf("%w: not yet synced with the authority", ErrStale)

	// ErrBadResponse is the root of the errors for a response of the
	// authority that the follower refused: malformed JSON, bad hex, a key
	// of the wrong length, sequence numbers going backwards. Nothing of
	// a refused response is applied.
	ErrBadResponse = errors.New("follow: bad response from the authority")

	// ErrTooLarge: a response was over [MaxResponseBytes] or
	// [MaxKeysResponseBytes]. It matches ErrBadResponse.
	ErrTooLarge = fmt.Errorf("%w: response too large", ErrBadResponse)

	// ErrTampered: an answer of the authority failed an integrity check: a
	// feed page whose entries do not match their chain hashes, that does
	// not continue the chain the follower holds, or whose signature does
	// not verify against a trusted key; or a key set with no key endorsed
	// from the trust anchor. Nothing of it is applied or installed. It
	// matches ErrBadResponse.
	ErrTampered = fmt.Errorf("%w: integrity check failed", ErrBadResponse)

	// ErrRunning is returned by [Follower.Run] and [Follower.SyncOnce]
	// while another Run or SyncOnce of the same Follower is in progress:
	// one Follower follows the log from one goroutine at a time.
	ErrRunning = errors.New("follow: the follower is already running (one Run or SyncOnce at a time)")
)
