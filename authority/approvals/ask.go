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

	"github.com/mandate-dev/mandate/internal/callfacts"
	"github.com/mandate-dev/mandate/internal/datalog"
	"github.com/mandate-dev/mandate/token"
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

// syntheticApprover is the approver Ask tries for caveats that accept any
// approver (of the token's org): a name no person can hold.
const syntheticApprover = "any-approver@mandate.invalid"

// approvedBy is the approval fact a decision states: approved(name, org).
type approvedBy struct{ name, org string }

// verifyToken checks an agent's token as a verifier's Authenticate does:
// signature by a root key of the authority, no block revoked, not expired,
// an authority block that states no approval. Errors wrap
// ErrUnauthenticated.
func (r *Room) verifyToken(tok string, now time.Time) (*token.Verified, error) {
	u, err := token.ParseString(tok)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	vt, err := u.Verify(r.cfg.Keys(), now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if i := r.cfg.Revocations.Revoked(vt.RevocationIDs()); i >= 0 {
		return nil, fmt.Errorf("%w: revoked: block %d", ErrUnauthenticated, i)
	}
	if exp := vt.EffectiveExpiry(); !exp.IsZero() && now.After(exp) {
		return nil, fmt.Errorf("%w: the token expired at %s", ErrUnauthenticated, exp.UTC().Format(time.RFC3339))
	}
	if vt.AuthorityStatesApproval() {
		return nil, fmt.Errorf("%w: the authority block states approved facts, which only a verifier adds", ErrUnauthenticated)
	}
	return vt, nil
}

// Authenticate checks an agent's token (signature, expiry, revocation) and
// returns what it tells about the agent. The error wraps
// ErrUnauthenticated.
func (r *Room) Authenticate(_ context.Context, tok string) (AgentView, error) {
	vt, err := r.verifyToken(tok, r.now())
	if err != nil {
		return AgentView{}, err
	}
	return AgentView{Session: vt.Subject().Session, RevocationIDs: vt.RevocationIDsHex()}, nil
}

// outcome is the decision of a call, as the room needs it.
type outcome struct {
	allowed bool
	noRight bool // the policy failed: no right covers the call
	fc      *failed
	err     error // an evaluation error (denies)
}

type failed struct {
	block, check int
	text         string
	approval     bool // the check asks for the approval fact
}

// evaluate decides call with vt as a verifier does (internal/callfacts
// holds the one reading of a call's facts and the fixed policy), stating
// approved(name, org) when ap is set.
func (r *Room) evaluate(vt *token.Verified, c *Call, now time.Time, ap *approvedBy) (outcome, error) {
	for _, f := range [...]struct{ what, v string }{{"service", c.Service}, {"tool", c.Tool}, {"operation", c.Operation}} {
		if f.v == "" {
			return outcome{}, fmt.Errorf("%w: %s is required", ErrBadRequest, f.what)
		}
		if err := token.CheckNameRunes(f.v); err != nil {
			return outcome{}, fmt.Errorf("%w: %s %w", ErrBadRequest, f.what, err)
		}
	}
	if err := token.CheckResource(c.Resource); err != nil {
		return outcome{}, fmt.Errorf("%w: resource %q: %w", ErrBadRequest, clip(c.Resource), err)
	}
	facts := []datalog.Predicate{
		{Name: token.FactTime, Terms: []datalog.Term{datalog.Date(now)}},
		{Name: token.FactService, Terms: []datalog.Term{datalog.String(c.Service)}},
		{Name: token.FactTool, Terms: []datalog.Term{datalog.String(c.Tool)}},
		{Name: token.FactOperation, Terms: []datalog.Term{datalog.String(c.Operation)}},
		{Name: token.FactResource, Terms: []datalog.Term{datalog.String(c.Resource)}},
	}
	names := make([]string, 0, len(c.Args))
	for k := range c.Args {
		if err := token.CheckNameRunes(k); err != nil {
			return outcome{}, fmt.Errorf("%w: argument name %q %w", ErrBadRequest, clip(k), err)
		}
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		t, ok, err := callfacts.ArgTerm(c.Args[name])
		if err != nil {
			return outcome{}, fmt.Errorf("%w: argument %q: %v", ErrBadRequest, clip(name), err)
		}
		if ok && len(name) <= token.MaxStringBytes {
			facts = append(facts, datalog.Predicate{Name: token.FactArg, Terms: []datalog.Term{datalog.String(name), t}})
		}
	}
	if ap != nil {
		facts = append(facts, datalog.Predicate{Name: token.FactApproved, Terms: []datalog.Term{datalog.String(ap.name), datalog.String(ap.org)}})
	}
	out, err := datalog.NewEvaluator(token.EvalLimits).RunProgram(vt.Program(), facts, func(w *datalog.World) bool {
		return callfacts.Covered(w, c.Service, c.Tool, c.Operation, c.Resource)
	})
	var o outcome
	if out.Block >= 0 && out.Block < vt.BlockCount() && out.Check >= 0 && out.Check < len(vt.Datalog()[out.Block].Checks) {
		o.fc = &failed{block: out.Block, check: out.Check, text: out.CheckText,
			approval: token.IsApprovalCheck(&vt.Datalog()[out.Block].Checks[out.Check])}
	}
	switch {
	case err != nil:
		o.err, o.fc = err, nil
	case out.Allowed:
		o.allowed = true
	case out.PolicyFailed:
		o.noRight = true
	case o.fc == nil:
		o.err = errors.New("denied without a failed check")
	}
	return o, nil
}

// why says why an outcome denies, for a refusal.
func (o *outcome) why(c *Call) string {
	switch {
	case o.err != nil:
		return "its evaluation failed: " + o.err.Error()
	case o.noRight:
		return fmt.Sprintf("no right of the token covers service=%q tool=%q operation=%q resource=%q", c.Service, c.Tool, c.Operation, c.Resource)
	case o.fc != nil:
		return fmt.Sprintf("block %d check %d denies it: %s", o.fc.block, o.fc.check, o.fc.text)
	}
	return "it is denied"
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
	case len(in.Call.Args) > MaxArgs:
		return Request{}, fmt.Errorf("%w: %d arguments, at most %d", ErrBadRequest, len(in.Call.Args), MaxArgs)
	}
	if in.MaxUses == 0 {
		in.MaxUses = 1
	}
	ttl := in.TTL
	if ttl == 0 {
		ttl = r.cfg.RequestTTL
	}
	vt, err := r.verifyToken(in.Token, now)
	if err != nil {
		return Request{}, err
	}
	digest, err := token.CallDigestHex(token.Call{Service: in.Call.Service, Tool: in.Call.Tool, Operation: in.Call.Operation, Resource: in.Call.Resource, Args: in.Call.Args})
	if err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	o, err := r.evaluate(vt, &in.Call, now, nil)
	switch {
	case err != nil:
		return Request{}, err
	case o.allowed:
		return Request{}, fmt.Errorf("%w: the token allows this call without an approval; make the call", ErrNotApprovable)
	case o.fc != nil && o.fc.block == 0 && !o.fc.approval:
		return Request{}, fmt.Errorf("%w: the authority block's check %d fails (%s): the token is no longer valid", ErrUnauthenticated, o.fc.check, o.fc.text)
	case o.fc == nil || !o.fc.approval:
		return Request{}, fmt.Errorf("%w: even with an approval the token could not make it: %s", ErrNotApprovable, o.why(&in.Call))
	}
	subj := vt.Subject()
	reqs, err := r.requirements(vt, &in.Call, now, o)
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
		Call: in.Call, CallDigest: digest, Reason: reason, Requirements: reqs, Note: in.Note,
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
func (r *Room) requirements(vt *token.Verified, c *Call, now time.Time, o outcome) ([]Requirement, error) {
	var reqs []Requirement
	org := vt.Subject().Org
	for range maxRequirements {
		fc := o.fc
		if slices.ContainsFunc(reqs, func(q Requirement) bool { return q.Block == fc.block && q.Check == fc.check }) {
			return nil, fmt.Errorf("%w: no approval by an approver of org %q satisfies block %d check %d (%s); it needs an approver the authority cannot name", ErrNotApprovable, org, fc.block, fc.check, fc.text)
		}
		reqs = append(reqs, readRequirement(&vt.Datalog()[fc.block].Checks[fc.check], fc.block, fc.check, fc.text))
		name, ok := candidate(reqs, org)
		if !ok {
			return nil, fmt.Errorf("%w: no one person satisfies every approval caveat of the token (%s); ask the delegating agent for a token whose caveats name a common approver", ErrNotApprovable, describe(reqs))
		}
		var err error
		if o, err = r.evaluate(vt, c, now, &approvedBy{name: name, org: org}); err != nil {
			return nil, err
		}
		switch {
		case o.allowed:
			return reqs, nil
		case o.fc == nil || !o.fc.approval:
			return nil, fmt.Errorf("%w: even with an approval the token could not make it: %s", ErrNotApprovable, o.why(c))
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
