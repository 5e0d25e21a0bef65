package approvals

import "time"

// Limits of the approvals room, in one place, each with why.
const (
	// DefaultRequestTTL is how long a request waits for a person by
	// default: long enough for someone to notice it, short enough that a
	// stale request is not approved out of context.
	DefaultRequestTTL = 15 * time.Minute
	// MaxRequestTTL bounds the wait an agent may ask for.
	MaxRequestTTL = 24 * time.Hour
	// DefaultApprovalTTL is how long an issued approval stays usable: the
	// agent retries right after it receives it.
	DefaultApprovalTTL = 15 * time.Minute
	// DefaultMaxPendingPerSession bounds the pending requests of one
	// session, so that an agent cannot flood its approvers' queue (or the
	// store): it must wait for a decision, or for one to expire.
	DefaultMaxPendingPerSession = 16
	// DefaultRetain is how long a request is kept after it (and its
	// approval) expired, for the session's history.
	DefaultRetain = 24 * time.Hour
	// MaxNoteBytes bounds the agent's note and the approver's comment,
	// both shown to people.
	MaxNoteBytes = 1024
	// MaxListed bounds the requests one listing returns.
	MaxListed = 500
	// MaxWait caps a long-poll on one request.
	MaxWait = 60 * time.Second
	// MaxChainBlocks bounds the blocks recorded for a request's
	// delegation chain (a token has at most token.MaxBlocks anyway).
	MaxChainBlocks = 64
	// MaxArgs bounds the arguments of a call (the verifier's MaxArgs).
	MaxArgs = 64
	// maxCASRetries bounds the compare-and-set retries of one write: a
	// write that keeps losing is answered "busy, retry" instead of
	// spinning.
	maxCASRetries = 64
	// maxRequirements bounds the approval checks one request must satisfy
	// (the candidate search of Ask runs once per check).
	maxRequirements = 16
)
