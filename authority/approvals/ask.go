package approvals

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mandate-dev/mandate/internal/datalog"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// AskInput is an agent's request for a person's approval of one call.
type AskInput struct {
	// Token is the agent's mandate token: the one it will make the call
	// with. It is verified here and never stored.
	Token string
	// Call is the call, exactly as the agent will make it.
	Call Call
	// Note is the agent's free-text explanation for the approver.
	Note string
	// TTL is how long the request waits for a person (0: the room's
	// RequestTTL; at most MaxRequestTTL).
	TTL time.Duration
	// MaxUses is how many calls the approval will allow (0: one; at most
	// token.MaxApprovalUses).
	MaxUses int
	// ClientID is the client that minted the session, when known (for
	// listing); the authority fills it in.
	ClientID string
}

// simulatedApproval is the approval Ask states while it learns whom the
// caveats accept: the verifier never sees it outside Ask.
const simulatedApproval = "mandate-approval-simulation"

// syntheticApprover is the approver Ask tries for caveats that accept any
// approver (of the token's org): a name no person can hold.
const syntheticApprover = "any-approver@mandate.invalid"

type simKey struct{}

type simApprover struct{ name, org string }

// simChecker is the ApprovalChecker of the room's verifier: it approves
// as the approver in the context, and spends nothing.
type simChecker struct{}

func (simChecker) CheckApproval(ctx context.Context, c *verifier.ApprovalCall) (*token.Approval, error) {
	s, ok := ctx.Value(simKey{}).(simApprover)
	if !ok || c.Approval != simulatedApproval {
		return nil, fmt.Errorf("%w: not a simulation", token.ErrApproval)
	}
	return &token.Approval{ID: "simulation", Approver: s.name, ApproverOrg: s.org}, nil
}

func (simChecker) RedeemApproval(context.Context, *verifier.ApprovalCall, *token.Approval) error {
	return nil
}

// verifier returns the room's verifier for the authority's current keys:
// the very code a tool server decides with, so that what Ask accepts is
// what a verifier will allow once the approval is attached.
func (r *Room) verifier() (*verifier.Verifier, error) {
	keys := r.cfg.Keys()
	r.vmu.Lock()
	defer r.vmu.Unlock()
	if r.v != nil && r.vkeys == keys {
		return r.v, nil
	}
	v, err := verifier.New(verifier.Config{Keys: keys, Revocations: r.cfg.Revocations, Now: r.now, Approvals: simChecker{}})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	r.v, r.vkeys = v, keys
	return v, nil
}

// Authenticate checks an agent's token (signature, expiry, revocation) and
// returns the verifier's decision, which names its session and revocation
// IDs. The error wraps ErrUnauthenticated.
func (r *Room) Authenticate(ctx context.Context, tok string) (verifier.Decision, error) {
	v, err := r.verifier()
	if err != nil {
		return verifier.Decision{}, err
	}
	d := v.Authenticate(ctx, tok)
	if !d.Allowed {
		return d, fmt.Errorf("%w: %s", ErrUnauthenticated, d.Reason)
	}
	return d, nil
}

func checkText(what, s string) error {
	switch {
	case len(s) > MaxNoteBytes:
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrBadRequest, what, len(s), MaxNoteBytes)
	case !utf8.ValidString(s) || strings.IndexFunc(s, func(c rune) bool { return unicode.IsControl(c) && c != '\n' }) >= 0:
		return fmt.Errorf("%w: %s must be UTF-8 text without control characters", ErrBadRequest, what)
	}
	return nil
}

// Ask files a request for a person's approval of one call. The room
// verifies the token itself and decides the call as a verifier would:
// a call the token allows without approval, or could never make even with
// one, is refused (ErrNotApprovable, saying why), and so is a token that
// does not verify (ErrUnauthenticated). It records who asks (session,
// agent, user, org, delegation chain), the call and its digest, the
// approval caveats and whom they accept, and an expiry.
func (r *Room) Ask(ctx context.Context, in AskInput) (Request, error) {
	now := r.now()
	if err := checkText("note", in.Note); err != nil {
		return Request{}, err
	}
	switch {
	case in.MaxUses < 0 || in.MaxUses > token.MaxApprovalUses:
		return Request{}, fmt.Errorf("%w: max_uses %d is outside 1..%d", ErrBadRequest, in.MaxUses, token.MaxApprovalUses)
	case in.TTL < 0 || in.TTL > MaxRequestTTL:
		return Request{}, fmt.Errorf("%w: ttl %s is outside 0..%s", ErrBadRequest, in.TTL, MaxRequestTTL)
	case len(in.Call.Args) > verifier.MaxArgs:
		return Request{}, fmt.Errorf("%w: %d arguments, at most %d", ErrBadRequest, len(in.Call.Args), verifier.MaxArgs)
	}
	if in.MaxUses == 0 {
		in.MaxUses = 1
	}
	ttl := in.TTL
	if ttl == 0 {
		ttl = r.cfg.RequestTTL
	}
	v, err := r.verifier()
	if err != nil {
		return Request{}, err
	}
	vreq := verifier.Request{Service: in.Call.Service, Tool: in.Call.Tool, Operation: in.Call.Operation, Resource: in.Call.Resource, Args: in.Call.Args}
	d := v.Authorize(ctx, in.Token, vreq)
	switch k := d.Kind(); {
	case d.Allowed:
		return Request{}, fmt.Errorf("%w: the token allows this call without an approval; make the call", ErrNotApprovable)
	case k.TokenProblem():
		return Request{}, fmt.Errorf("%w: %s", ErrUnauthenticated, d.Reason)
	case k == verifier.KindBadRequest:
		return Request{}, fmt.Errorf("%w: %s", ErrBadRequest, d.Reason)
	case k == verifier.KindUnavailable:
		return Request{}, fmt.Errorf("%w: %s", ErrUnavailable, d.Reason)
	case k != verifier.KindApprovalRequired:
		return Request{}, fmt.Errorf("%w: even with an approval the token could not make it: %s", ErrNotApprovable, d.Reason)
	}
	u, err := token.ParseString(in.Token)
	if err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	vt, err := u.Verify(r.cfg.Keys(), now)
	if err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	subj := vt.Subject()
	reqs, err := r.requirements(ctx, v, in.Token, vreq, vt, d)
	if err != nil {
		return Request{}, err
	}
	ids := vt.RevocationIDs()
	if len(ids) > MaxChainBlocks {
		return Request{}, fmt.Errorf("%w: %d blocks, at most %d", ErrBadRequest, len(ids), MaxChainBlocks)
	}
	chain := make([]Hop, len(ids))
	for i, id := range ids {
		chain[i] = Hop{Block: i, RevocationID: hex.EncodeToString(id)}
		for _, f := range vt.Datalog()[i].Facts {
			if f.Name == token.FactDelegatedTo && len(f.Terms) == 1 && f.Terms[0].Kind == datalog.KindString && len(chain[i].DelegatedTo) < 8 {
				chain[i].DelegatedTo = append(chain[i].DelegatedTo, clip(f.Terms[0].Str))
			}
		}
	}
	texts := make([]string, len(reqs))
	for i, q := range reqs {
		texts[i] = fmt.Sprintf("block %d check %d: %s", q.Block, q.Check, q.Text)
	}
	reason := strings.Join(texts, "; ")
	if len(reason) > token.MaxApprovalReasonBytes {
		reason = reason[:token.MaxApprovalReasonBytes-3] + "..."
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-4] + "..."
		}
	}
	exp := now.Add(ttl).Truncate(time.Second)
	tokExp := vt.EffectiveExpiry()
	if !tokExp.IsZero() && tokExp.Before(exp) {
		exp = tokExp
	}
	req := Request{
		ID: token.NewApprovalID(), Status: StatusPending,
		Session: subj.Session, Agent: subj.Agent, User: subj.User, Org: subj.Org,
		Chain: chain, Lineage: chain[len(chain)-1].RevocationID, ClientID: in.ClientID,
		Call: in.Call, CallDigest: d.CallDigest, Reason: reason, Requirements: reqs, Note: in.Note,
		MaxUses: in.MaxUses, CreatedAt: now.UTC().Truncate(time.Second), ExpiresAt: exp.UTC(), TokenExpiresAt: tokExp.UTC(),
	}
	if err := r.create(ctx, &req); err != nil {
		return Request{}, err
	}
	r.audit(ctx, "approval_requested").Str("approval_id", req.ID).Str("session", req.Session).Str("agent", req.Agent).
		Str("org", req.Org).Str("service", req.Call.Service).Str("tool", req.Call.Tool).Str("call_digest", req.CallDigest).
		Str("lineage", req.Lineage).Time("expires_at", req.ExpiresAt).Msg("approval requested")
	r.notify()
	return req, nil
}

// requirements learns which approval caveats the call fails and whom they
// accept: it reads the first failed check, then decides again with an
// approval by someone every caveat so far accepts, until the call is
// allowed (approvable) or something else denies it (not approvable).
func (r *Room) requirements(ctx context.Context, v *verifier.Verifier, tok string, vreq verifier.Request, vt *token.Verified, d verifier.Decision) ([]Requirement, error) {
	var reqs []Requirement
	org := vt.Subject().Org
	vreq.Approval = simulatedApproval
	for range maxRequirements {
		fc := d.FailedCheck
		if fc == nil || fc.Block < 0 || fc.Block >= vt.BlockCount() || fc.Check < 0 || fc.Check >= len(vt.Datalog()[fc.Block].Checks) {
			return nil, fmt.Errorf("%w: %s", ErrNotApprovable, d.Reason)
		}
		if slices.ContainsFunc(reqs, func(q Requirement) bool { return q.Block == fc.Block && q.Check == fc.Check }) {
			return nil, fmt.Errorf("%w: no approval by an approver of org %q satisfies block %d check %d (%s); it needs an approver the authority cannot name", ErrNotApprovable, org, fc.Block, fc.Check, fc.Text)
		}
		reqs = append(reqs, readRequirement(&vt.Datalog()[fc.Block].Checks[fc.Check], fc.Block, fc.Check, fc.Text))
		name, ok := candidate(reqs, org)
		if !ok {
			return nil, fmt.Errorf("%w: no one person satisfies every approval caveat of the token (%s); ask the delegating agent for a token whose caveats name a common approver", ErrNotApprovable, describe(reqs))
		}
		d = v.Authorize(context.WithValue(ctx, simKey{}, simApprover{name: name, org: org}), tok, vreq)
		switch k := d.Kind(); {
		case d.Allowed:
			return reqs, nil
		case k == verifier.KindApprovalInvalid && d.FailedCheck != nil:
			continue
		case k == verifier.KindUnavailable:
			return nil, fmt.Errorf("%w: %s", ErrUnavailable, d.Reason)
		default:
			return nil, fmt.Errorf("%w: even with an approval the token could not make it: %s", ErrNotApprovable, d.Reason)
		}
	}
	return nil, fmt.Errorf("%w: more than %d approval caveats stop this call", ErrNotApprovable, maxRequirements)
}

// candidate returns an approver every requirement accepts: a person one of
// them names, or else the synthetic approver of the token's org.
func candidate(reqs []Requirement, org string) (string, bool) {
	all := func(name string) bool {
		for i := range reqs {
			if !reqs[i].accepts(name, org, org) {
				return false
			}
		}
		return true
	}
	for _, q := range reqs {
		for _, n := range q.Approvers {
			if all(n) {
				return n, true
			}
		}
	}
	if all(syntheticApprover) {
		return syntheticApprover, true
	}
	return "", false
}

func describe(reqs []Requirement) string {
	parts := make([]string, len(reqs))
	for i, q := range reqs {
		parts[i] = fmt.Sprintf("block %d accepts %s", q.Block, q.whom())
	}
	return strings.Join(parts, "; ")
}

// whom says whom the requirement accepts.
func (r *Requirement) whom() string {
	var who []string
	if len(r.Approvers) > 0 {
		who = append(who, strings.Join(r.Approvers, ", "))
	}
	if r.OrgApprovers {
		who = append(who, "any approver of the token's org")
	}
	if r.AnyApprover || r.Custom {
		who = append(who, "any approver")
	}
	return strings.Join(who, " or ")
}

// readRequirement reads whom an approval check accepts, from the shapes
// token.ApprovalRequirement writes: approved($p, $o) alone (anyone),
// with org($o) (the token's org), or with [names].contains($p). Any other
// query that asks for the approval fact is Custom.
func readRequirement(c *datalog.Check, block, check int, text string) Requirement {
	q := Requirement{Block: block, Check: check, Text: text}
	for _, rule := range c.Queries {
		ai := slices.IndexFunc(rule.Body, func(p datalog.Predicate) bool { return p.Name == token.FactApproved })
		if ai < 0 {
			continue
		}
		ap := rule.Body[ai]
		if len(ap.Terms) != 2 || ap.Terms[0].Kind != datalog.KindVariable || ap.Terms[1].Kind != datalog.KindVariable {
			q.Custom = true
			continue
		}
		person, org := ap.Terms[0], ap.Terms[1]
		switch {
		case len(rule.Body) == 1 && len(rule.Expressions) == 0:
			q.AnyApprover = true
		case len(rule.Body) == 2 && len(rule.Expressions) == 0 && rule.Body[1-ai].Name == token.FactOrg &&
			len(rule.Body[1-ai].Terms) == 1 && rule.Body[1-ai].Terms[0].Equal(org):
			q.OrgApprovers = true
		case len(rule.Body) == 1 && len(rule.Expressions) == 1 && namesSet(rule.Expressions[0], person) != nil:
			for _, t := range namesSet(rule.Expressions[0], person) {
				if !slices.Contains(q.Approvers, t.Str) {
					q.Approvers = append(q.Approvers, t.Str)
				}
			}
		default:
			q.Custom = true
		}
	}
	return q
}

// namesSet returns the set of [names].contains($person), or nil.
func namesSet(e datalog.Expression, person datalog.Term) []datalog.Term {
	if len(e) != 3 || e[0].Kind != datalog.OpValue || e[0].Term.Kind != datalog.KindSet ||
		e[1].Kind != datalog.OpValue || !e[1].Term.Equal(person) ||
		e[2].Kind != datalog.OpBinary || e[2].Code != datalog.BinaryContains {
		return nil
	}
	for _, t := range e[0].Term.Set {
		if t.Kind != datalog.KindString {
			return nil
		}
	}
	return e[0].Term.Set
}

// errIs reports whether err matches any of targets.
func errIs(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
