// Package approval checks, at a tool server, the approvals agents present
// for calls that an approval caveat stops (token.ApprovalRequirement). A
// tool server that uses approvals imports it and sets a [Checker] as
// verifier.Config.Approvals; one that does not never pulls it in.
//
// # What a verifier does with an approval
//
//  1. A call fails an approval caveat. Without an approval the decision is
//     a deny of kind approval_required (verifier.KindApprovalRequired) and the call's digest
//     (token.CallDigest); the agent asks the authority to approve that
//     call and retries with the approval it receives (verifier.Request's
//     Approval).
//  2. [Checker.CheckApproval] checks the approval offline: its signature by
//     a root key the verifier trusts (token.UnverifiedApproval.Verify), its
//     expiry, that its call digest is this call's, its session the token's,
//     and its lineage one of the token's block revocation IDs (so it holds
//     for the token it was asked with and any token attenuated from it,
//     never for a sibling's).
//  3. The verifier adds approved(approver, approver_org) and evaluates
//     again. If the call is now allowed, [Checker.RedeemApproval] spends one
//     use at the [Redeemer] (the authority, across every verifier); only
//     then is the call allowed.
//
// # Where people go wrong
//
//   - Without a Redeemer an approval for one use could be replayed until it
//     expires, at every verifier: [New] refuses a Config without one unless
//     InsecureNoRedemption is set, and a zero Checker denies.
//   - One approval per call. It states one approved(approver, org) fact, so
//     two approval caveats that accept disjoint approvers (block 1: alice
//     only, block 2: bob only) cannot both pass; the second one's failure is
//     reported as approval_invalid, naming its block and check.
//   - The approval binds every argument. Pass the same arguments to the
//     verifier that the handler will use, all of them: an argument left out
//     of the request changes the digest, so the approval does not match.
package approval

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// Where an agent puts the approval when it retries a call. Adapters read
// it from there into verifier.Request.Approval.
const (
	// Header is the HTTP request header that carries an approval.
	Header = verifier.ApprovalHeader
	// MetaKey is the key of an MCP tools/call request's params._meta that
	// carries an approval (a reverse-DNS prefix, as MCP asks of _meta
	// keys).
	MetaKey = verifier.ApprovalMetaKey
)

// Errors of binding an approval to a call; each also matches
// token.ErrApproval.
var (
	// ErrOtherCall: the approval's call digest is not this call's.
	ErrOtherCall = fmt.Errorf("%w: approves another call", token.ErrApproval)
	// ErrOtherSession: the approval is for another session.
	ErrOtherSession = fmt.Errorf("%w: approves a call of another session", token.ErrApproval)
	// ErrOtherLineage: the token does not descend from the token the
	// approval was asked with (a sibling's token, or an ancestor's).
	ErrOtherLineage = fmt.Errorf("%w: approves a call of another delegation", token.ErrApproval)
	// ErrUsedUp: every use of the approval was redeemed.
	ErrUsedUp = fmt.Errorf("%w: already used", token.ErrApproval)
	// ErrNoRedeemer: no Redeemer is configured and redemption was not
	// explicitly switched off.
	ErrNoRedeemer = errors.New("approval: no redeemer is configured, so uses cannot be counted")
)

// Redemption is one use of an approval, as a Redeemer receives it.
type Redemption struct {
	// Approval is verified and bound to the call being decided.
	Approval *token.Approval
	// Encoded is the approval as presented, for a redeemer that forwards it
	// (the authority verifies it again).
	Encoded string
	// CallDigest is the digest of the call (equal to Approval.CallDigest).
	CallDigest [token.CallDigestSize]byte
	// DecisionID identifies the decision, for the audit trail.
	DecisionID string
	// Token is the bearer token of the call being decided: the credential
	// AuthorityRedeemer presents (the authority checks that it is live and
	// of the approval's session and lineage). Never log it.
	Token string
}

// Redeemer counts the uses of approvals. Redeem spends one use of
// r.Approval atomically: it returns nil if a use was left (and is now
// spent), an error matching ErrUsedUp if none is, and any other error when
// it cannot tell (the authority is unreachable, the context is done); the
// verifier denies the call on any error.
//
// Contract, for every implementation (approvaltest.RunRedeemerTests checks
// it):
//   - Uses are counted per approval ID (and signing key ID): at most
//     Approval.MaxUses calls of Redeem return nil for one approval, across
//     every goroutine and every verifier that shares the redeemer, and
//     across crashes of the redeemer. A crash may waste a use, never grant
//     an extra one: spend first, durably, then answer.
//   - It is safe for concurrent use.
//   - It honours ctx: when ctx is done it returns an error (a use may or
//     may not have been spent).
//
// The authority's implementation is one atomic step at POST
// /v1/approvals/{id}/redeem; only approval-gated calls pay that round trip.
// Memory is for tests and a single process.
type Redeemer interface {
	Redeem(ctx context.Context, r Redemption) error
}

// RedeemerFunc adapts a function to Redeemer.
type RedeemerFunc func(ctx context.Context, r Redemption) error

// Redeem calls f.
func (f RedeemerFunc) Redeem(ctx context.Context, r Redemption) error { return f(ctx, r) }

// Config configures a Checker.
type Config struct {
	// Redeemer counts uses; required unless InsecureNoRedemption.
	Redeemer Redeemer
	// InsecureNoRedemption lets approvals decide without counting uses:
	// an approval for one call can then be replayed, at this verifier and
	// every other, until it expires. Use it only in tests and offline
	// tools that decide one call and exit (mandate verify --approval).
	InsecureNoRedemption bool
}

// Checker implements verifier.ApprovalChecker. Its zero value denies every
// approval-gated call (no redeemer).
type Checker struct {
	cfg Config
}

var _ verifier.ApprovalChecker = (*Checker)(nil)

// New returns a Checker.
func New(cfg Config) (*Checker, error) {
	if cfg.Redeemer == nil && !cfg.InsecureNoRedemption {
		return nil, fmt.Errorf("%w: set Config.Redeemer (the authority's, or NewMemory() in tests)", ErrNoRedeemer)
	}
	return &Checker{cfg: cfg}, nil
}

// CheckApproval verifies the approval offline and binds it to the call,
// the token's session and the token's lineage.
func (c *Checker) CheckApproval(_ context.Context, call *verifier.ApprovalCall) (*token.Approval, error) {
	u, err := token.ParseApproval(call.Approval)
	if err != nil {
		return nil, err
	}
	a, err := u.Verify(call.Keys, call.Now)
	if err != nil {
		return nil, err
	}
	if a.CallDigest != call.Digest {
		return nil, fmt.Errorf("approval %s: %w (its call digest is %x, this call's %x)", a.ID, ErrOtherCall, a.CallDigest[:8], call.Digest[:8])
	}
	if s := call.Token.Subject().Session; a.Session != s {
		return nil, fmt.Errorf("approval %s: %w (session %q, the token's is %q)", a.ID, ErrOtherSession, a.Session, s)
	}
	if !slices.ContainsFunc(call.Token.RevocationIDs(), func(id []byte) bool { return bytes.Equal(id, a.Lineage) }) {
		return nil, fmt.Errorf("approval %s: %w (lineage %x… is none of the token's blocks)", a.ID, ErrOtherLineage, a.Lineage[:8])
	}
	return a, nil
}

// RedeemApproval spends one use of a at the Redeemer.
func (c *Checker) RedeemApproval(ctx context.Context, call *verifier.ApprovalCall, a *token.Approval) error {
	switch {
	case c.cfg.Redeemer != nil:
		return c.cfg.Redeemer.Redeem(ctx, Redemption{Approval: a, Encoded: call.Approval, CallDigest: call.Digest, DecisionID: call.DecisionID, Token: call.Bearer})
	case c.cfg.InsecureNoRedemption:
		return nil
	}
	return ErrNoRedeemer
}
