package attenuate

import (
	"strings"

	"github.com/mandate-dev/mandate/token"
)

// ApprovalOption refines RequireApproval.
type ApprovalOption func(*token.ApprovalRequirement)

// Above limits the requirement to calls whose integer argument arg is above
// n. A call without the argument needs approval; one whose argument is not
// an integer is denied.
func Above(arg string, n int64) ApprovalOption {
	return func(r *token.ApprovalRequirement) { r.Arg, r.Above = arg, n }
}

// ApprovedBy names the only approvers whose approval counts (their approver
// names as the authority knows them, such as "alice@acme.test").
func ApprovedBy(approvers ...string) ApprovalOption {
	return func(r *token.ApprovalRequirement) { r.Approvers = append(r.Approvers, approvers...) }
}

// ApprovedByOrg lets any approver of the token's org approve (with
// ApprovedBy too, either kind counts). A token minted without an org can
// then never be approved.
func ApprovedByOrg() ApprovalOption {
	return func(r *token.ApprovalRequirement) { r.OrgApprovers = true }
}

// InService limits the requirement to calls of tool in one service.
func InService(service string) ApprovalOption {
	return func(r *token.ApprovalRequirement) { r.Service = service }
}

// RequireApproval makes calls of tool need a person's approval, bound to
// that one call, that the verifier checks before it lets the call through:
//
//	b.RequireApproval("refund")                                   every refund
//	b.RequireApproval("refund", attenuate.Above("amount", 100))   refunds above 100
//	b.RequireApproval("refund", attenuate.ApprovedBy("alice@acme.test"))
//
// It appends one check (token.ApprovalRequirement documents it) that only
// the verifier's approved($approver, $approver_org) fact can satisfy, so
// the requirement fails closed in a verifier that does not know approvals,
// and nothing a delegate appends later can lift it. Calls of other tools are
// not constrained.
func (b *Builder) RequireApproval(tool string, opts ...ApprovalOption) *Builder {
	return b.RequireApprovalFor(approvalRequirement(tool, opts))
}

func approvalRequirement(tool string, opts []ApprovalOption) token.ApprovalRequirement {
	r := token.ApprovalRequirement{Tool: tool}
	for _, o := range opts {
		if o != nil {
			o(&r)
		}
	}
	return r
}

// RequireApprovalFor is RequireApproval with the requirement spelled out,
// as the CLI and mint requests carry it.
func (b *Builder) RequireApprovalFor(r token.ApprovalRequirement) *Builder {
	const method = "RequireApproval"
	if b.err != nil {
		return b
	}
	if err := checkName(method, "tool name", r.Tool); err != nil {
		return b.fail(err)
	}
	c, err := r.Check()
	if err != nil {
		return b.fail(caveatError(method, "%s", strings.TrimPrefix(err.Error(), token.ErrBadRequest.Error()+": ")))
	}
	return b.addCheck(method, c)
}
