package token

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/biscuit-auth/biscuit-go/v2"

	"github.com/mandate-dev/mandate/internal/datalog"
)

// FactApproved is the approval fact: approved($approver, $approver_org).
// Only a verifier adds it, for one decision, after checking an approval
// artifact bound to that very call ([Approval]); it is never taken from a
// token. A verifier that does not know approvals never adds it, so an
// approval caveat fails closed there.
const FactApproved = "approved"

// ApprovalRequirement says that calls of a tool need a person's approval:
// always, or only when an integer argument is above a threshold; from any
// approver the authority accepts, from named approvers, or from any approver
// of the token's org. It is written as one check (Check) that passes for
// every other call and, for the calls it names, only with an approval fact
// that the verifier adds:
//
//	check if tool($t), !($t == "refund")
//	      or arg("amount", $a), $a <= 100                          (Arg, Above)
//	      or approved($p, $o), ["alice@acme.test"].contains($p)    (Approvers)
//	      or approved($p, $o), org($o)                             (OrgApprovers)
//
// With neither Approvers nor OrgApprovers the last query is approved($p, $o):
// any approver the authority let decide. With Service set, a first query
// `service($s), !($s == SERVICE)` lets calls of other services through.
//
// Biscuit scoping makes this sound: a check sees the request facts the
// verifier adds, the authority block's facts and its own block's facts,
// never a later block's. So the delegator's check cannot be satisfied by
// anything its delegate appends; mandate's authority never states
// approved facts (Mint has no way to), and the verifier refuses a token whose
// authority block does. org($o) is the authority's fact.
//
// A call whose Arg is missing or not an integer needs approval (a non-integer
// is an evaluation error, which denies).
type ApprovalRequirement struct {
	Service string `json:"service,omitempty"` // empty: any service
	Tool    string `json:"tool"`
	// Arg, when set, limits the requirement to calls whose integer argument
	// Arg is above Above (or missing).
	Arg   string `json:"arg,omitempty"`
	Above int64  `json:"above,omitempty"`
	// Approvers, when set, are the only approvers whose approval counts.
	Approvers []string `json:"approvers,omitempty"`
	// OrgApprovers lets any approver of the token's org approve (the
	// approval's approver_org equals the token's org). Together with
	// Approvers, either kind counts.
	OrgApprovers bool `json:"org_approvers,omitempty"`
}

// Validate checks the requirement's names and counts. Errors wrap
// ErrBadRequest.
func (r *ApprovalRequirement) Validate() error {
	for _, f := range [...]struct{ what, v string }{{"service", r.Service}, {"tool", r.Tool}, {"argument", r.Arg}} {
		if err := checkName("approval requirement: "+f.what, f.v, MaxStringBytes); err != nil {
			return err
		}
	}
	switch {
	case r.Tool == "":
		return fmt.Errorf("%w: approval requirement: tool is required", ErrBadRequest)
	case r.Tool == Wildcard || r.Service == Wildcard:
		return fmt.Errorf("%w: approval requirement: %q is not a wildcard here; name the tool", ErrBadRequest, Wildcard)
	case r.Arg == "" && r.Above != 0:
		return fmt.Errorf("%w: approval requirement: a threshold needs an argument name", ErrBadRequest)
	case len(r.Approvers) > MaxApproversPerCaveat:
		return fmt.Errorf("%w: approval requirement: %d approvers is over the limit of %d", ErrBadRequest, len(r.Approvers), MaxApproversPerCaveat)
	}
	for i, a := range r.Approvers {
		if a == "" {
			return fmt.Errorf("%w: approval requirement: approver %d is empty", ErrBadRequest, i+1)
		}
		if err := checkName(fmt.Sprintf("approval requirement: approver %d", i+1), a, MaxSubjectBytes); err != nil {
			return err
		}
	}
	return nil
}

// String is the requirement in the CLI's form, TOOL or TOOL:ARG>N, with
// the service and approvers appended for people.
func (r ApprovalRequirement) String() string {
	var b strings.Builder
	if r.Service != "" {
		b.WriteString(r.Service + " ")
	}
	b.WriteString(r.Tool)
	if r.Arg != "" {
		b.WriteString(":" + r.Arg + ">" + strconv.FormatInt(r.Above, 10))
	}
	if len(r.Approvers) > 0 {
		b.WriteString(" by " + strings.Join(r.Approvers, ", "))
	}
	if r.OrgApprovers {
		if len(r.Approvers) > 0 {
			b.WriteString(" or")
		}
		b.WriteString(" by any approver of the token's org")
	}
	return b.String()
}

// ParseApprovalRequirement reads the CLI's form: TOOL (every call of TOOL)
// or TOOL:ARG>N (calls whose integer ARG is above N, or missing).
func ParseApprovalRequirement(spec string) (ApprovalRequirement, error) {
	tool, cond, hasCond := strings.Cut(spec, ":")
	r := ApprovalRequirement{Tool: tool}
	if hasCond {
		arg, n, ok := strings.Cut(cond, ">")
		if !ok || arg == "" {
			return r, fmt.Errorf("%w: approval requirement %q: want TOOL or TOOL:ARG>N", ErrBadRequest, spec)
		}
		v, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		if err != nil {
			return r, fmt.Errorf("%w: approval requirement %q: %q is not an integer", ErrBadRequest, spec, n)
		}
		r.Arg, r.Above = arg, v
	}
	return r, r.Validate()
}

// Check returns the requirement's check (see ApprovalRequirement).
func (r ApprovalRequirement) Check() (biscuit.Check, error) {
	if err := r.Validate(); err != nil {
		return biscuit.Check{}, err
	}
	q := func(body []biscuit.Predicate, exprs ...biscuit.Expression) biscuit.Rule {
		return biscuit.Rule{Head: biscuit.Predicate{Name: "query"}, Body: body, Expressions: exprs}
	}
	p := func(name string, terms ...biscuit.Term) biscuit.Predicate {
		return biscuit.Predicate{Name: name, IDs: terms}
	}
	v := func(t biscuit.Term) biscuit.Value { return biscuit.Value{Term: t} }
	notEqual := func(x biscuit.Variable, s string) biscuit.Expression {
		return biscuit.Expression{v(x), v(biscuit.String(s)), biscuit.BinaryEqual, biscuit.UnaryParens, biscuit.UnaryNegate}
	}
	var c biscuit.Check
	if r.Service != "" {
		s := biscuit.Variable("s")
		c.Queries = append(c.Queries, q([]biscuit.Predicate{p(FactService, s)}, notEqual(s, r.Service)))
	}
	t := biscuit.Variable("t")
	c.Queries = append(c.Queries, q([]biscuit.Predicate{p(FactTool, t)}, notEqual(t, r.Tool)))
	if r.Arg != "" {
		a := biscuit.Variable("a")
		c.Queries = append(c.Queries, q([]biscuit.Predicate{p(FactArg, biscuit.String(r.Arg), a)},
			biscuit.Expression{v(a), v(biscuit.Integer(r.Above)), biscuit.BinaryLessOrEqual}))
	}
	person, org := biscuit.Variable("p"), biscuit.Variable("o")
	approved := p(FactApproved, person, org)
	if len(r.Approvers) > 0 {
		names := slices.Clone(r.Approvers)
		slices.Sort(names)
		names = slices.Compact(names)
		set := make(biscuit.Set, len(names))
		for i, n := range names {
			set[i] = biscuit.String(n)
		}
		c.Queries = append(c.Queries, q([]biscuit.Predicate{approved}, biscuit.Expression{v(set), v(person), biscuit.BinaryContains}))
	}
	if r.OrgApprovers {
		c.Queries = append(c.Queries, q([]biscuit.Predicate{approved, p(FactOrg, org)}))
	}
	if len(r.Approvers) == 0 && !r.OrgApprovers {
		c.Queries = append(c.Queries, q([]biscuit.Predicate{approved}))
	}
	return c, nil
}

// IsApprovalCheck reports whether a decoded check asks for the approval
// fact in one of its queries: a failure of it may be cured by an approval.
func IsApprovalCheck(c *datalog.Check) bool {
	for qi := range c.Queries {
		for _, b := range c.Queries[qi].Body {
			if b.Name == FactApproved {
				return true
			}
		}
	}
	return false
}

// StatesApproval reports whether a block can produce an approval fact
// itself (a fact or a rule head named approved). In the authority block that
// would satisfy every block's approval caveat: mandate never mints one, and
// the verifier refuses such a token.
func StatesApproval(b *datalog.Block) bool { return b.Produces(FactApproved) }
