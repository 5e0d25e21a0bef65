package verifier

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/mandate-dev/mandate/internal/datalog"
	"github.com/mandate-dev/mandate/token"
)

var (
	// ErrApprovalRequired: an approval caveat failed and the request
	// carried no approval (KindApprovalRequired); see Decision.CallDigest
	// and FailedCheck.
	ErrApprovalRequired = fmt.Errorf("%w: approval required", ErrDenied)
	// ErrApprovalInvalid: the request's approval does not decide this
	// call (KindApprovalInvalid). The cause also matches token.ErrApproval
	// (or a redeemer's error).
	ErrApprovalInvalid = fmt.Errorf("%w: approval refused", ErrDenied)
)

// Where an agent puts an approval when it retries a call; the adapters
// read it from there into Request.Approval (package verifier/approval
// repeats them as approval.Header and approval.MetaKey).
const (
	// ApprovalHeader is the HTTP request header that carries an approval.
	ApprovalHeader = "Mandate-Approval"
	// ApprovalMetaKey is the key of an MCP tools/call request's
	// params._meta that carries an approval.
	ApprovalMetaKey = "dev.mandate/approval"
)

// ApprovalChecker checks the approval a request carries, for a call that
// an approval caveat stops. Package verifier/approval implements it; set it
// as Config.Approvals. The verifier calls CheckApproval only when a check
// that asks for the approval fact failed and the request carries an
// approval, and RedeemApproval only when that approval, once stated as a
// fact, lets the call through: an approval presented with a call that does
// not need one is neither checked nor spent.
type ApprovalChecker interface {
	// CheckApproval checks the approval offline and binds it to the call:
	// signature by a trusted key, validity at c.Now, digest, session and
	// lineage. It returns the verified approval, whose approver and org
	// become the fact approved(approver, approver_org).
	CheckApproval(ctx context.Context, c *ApprovalCall) (*token.Approval, error)
	// RedeemApproval spends one use of a; an error denies the call.
	RedeemApproval(ctx context.Context, c *ApprovalCall, a *token.Approval) error
}

// ApprovalCall is what an ApprovalChecker sees of one decision.
type ApprovalCall struct {
	Keys     *token.KeySet   // the verifier's trusted root keys
	Token    *token.Verified // the verified, unrevoked token
	Call     token.Call      // the call as the request describes it
	Digest   [token.CallDigestSize]byte
	Approval string // the encoded approval the request carries
	// Bearer is the token of the call as presented: a redeemer that
	// redeems at the authority sends it as its credential (see
	// verifier/approval.AuthorityRedeemer). Never log it.
	Bearer     string
	DecisionID string
	Now        time.Time
}

// approve handles a decision denied by an approval caveat (out). It either
// returns a final decision (done) or, when not done, the outcome of evaluating again with
// the approval fact, for Authorize to report as usual.
func (v *Verifier) approve(ctx context.Context, d Decision, tok string, vt *token.Verified, req *Request, now time.Time, sc *scratch, out datalog.Outcome) (Decision, datalog.Outcome, bool, error) {
	if out.Block == 0 && !slices.ContainsFunc(vt.Rights(), func(r token.Right) bool {
		return r.Covers(req.Service, req.Tool, req.Operation, req.Resource)
	}) {
		// The authority block's checks run before the policy: a call no
		// right covers is not one an approval could let through.
		return deny(d, fmt.Errorf("%w: service=%q tool=%q operation=%q resource=%q", ErrNoRight, req.Service, req.Tool, req.Operation, req.Resource)), out, true, nil
	}
	d.FailedCheck = &FailedCheck{Block: out.Block, Check: out.Check, Text: out.CheckText}
	call := token.Call{Service: req.Service, Tool: req.Tool, Operation: req.Operation, Resource: req.Resource, Args: req.Args}
	digest, err := token.CallDigest(call)
	if err != nil {
		return deny(d, fmt.Errorf("%w: %w", ErrBadRequest, err)), out, true, nil
	}
	d.CallDigest = hex.EncodeToString(digest[:])
	switch {
	case req.Approval == "":
		return deny(d, fmt.Errorf("%w: block %d check %d needs a person's approval of this call (call digest %s)", ErrApprovalRequired, out.Block, out.Check, d.CallDigest)), out, true, nil
	case v.cfg.Approvals == nil:
		return deny(d, fmt.Errorf("%w: block %d check %d needs a person's approval of this call (call digest %s), and this verifier is not configured to check approvals (Config.Approvals)", ErrApprovalRequired, out.Block, out.Check, d.CallDigest)), out, true, nil
	}
	ac := &ApprovalCall{Keys: v.cfg.Keys, Token: vt, Call: call, Digest: digest, Approval: req.Approval, Bearer: tok, DecisionID: d.DecisionID, Now: now}
	a, err := v.cfg.Approvals.CheckApproval(ctx, ac)
	if err != nil {
		return deny(d, fmt.Errorf("%w: %w", ErrApprovalInvalid, err)), out, true, nil
	}
	d.ApprovalID = a.ID
	sc.facts = append(sc.facts, datalog.Predicate{Name: token.FactApproved, Terms: []datalog.Term{datalog.String(a.Approver), datalog.String(a.ApproverOrg)}})
	again, err := sc.ev.RunProgram(vt.Program(), sc.facts, func(w *datalog.World) bool { return covered(w, req) })
	switch {
	case err == nil && again.Allowed:
		if err := v.cfg.Approvals.RedeemApproval(ctx, ac, a); err != nil {
			return deny(d, fmt.Errorf("%w: approval %s: %w", ErrApprovalInvalid, a.ID, err)), again, true, nil
		}
		d.FailedCheck = nil
		d.Allowed = true
		d.Reason = "allowed with approval " + a.ID + " by " + a.Approver
		return d, again, true, nil
	case err == nil && again.Block >= 0 && token.IsApprovalCheck(&vt.Datalog()[again.Block].Checks[again.Check]):
		d.FailedCheck = &FailedCheck{Block: again.Block, Check: again.Check, Text: again.CheckText}
		return deny(d, fmt.Errorf("%w: approval %s by %q (org %q) does not satisfy block %d check %d: %s",
			ErrApprovalInvalid, a.ID, a.Approver, a.ApproverOrg, again.Block, again.Check, again.CheckText)), again, true, nil
	}
	d.FailedCheck = nil
	return d, again, false, err
}
