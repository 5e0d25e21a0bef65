package approvals_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/authority/approvals"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/approval"
)

// TestLoop: a call stops for approval; the agent asks over HTTP, an
// approver of its org sees the request and approves it while the agent
// long-polls; the retry with the approval is allowed exactly once; the
// session shows the request, its decision and its use; every step is an
// audit event and no token reaches the log.
func TestLoop(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, approvals.Config{})
	parent := e.mint("s_loop")
	tok := e.refunder(parent)
	v := e.verifier(nil)
	call := refund("7", 500)

	if d := v.Authorize(ctx, tok, vreq(refund("7", 100))); !d.Allowed {
		t.Fatalf("refund of 100 needs no approval: %s", d.Reason)
	}
	d := v.Authorize(ctx, tok, vreq(call))
	wantKind(t, "without approval", d, verifier.KindApprovalRequired, "approval")

	q := e.ask(tok, call, 0)
	switch {
	case q.Status != approvals.StatusPending || q.CallDigest != d.CallDigest || q.Session != "s_loop" || q.Agent != "support-bot" || q.Org != "acme":
		t.Fatalf("request %+v; want pending, digest %s, session s_loop", q, d.CallDigest)
	case len(q.Chain) != 2 || len(q.Chain[1].DelegatedTo) != 1 || q.Chain[1].DelegatedTo[0] != "refunder" || q.Lineage != q.Chain[1].RevocationID:
		t.Fatalf("chain %+v, lineage %s", q.Chain, q.Lineage)
	case len(q.Requirements) != 1 || !q.Requirements[0].OrgApprovers || !strings.Contains(q.Reason, "approved"):
		t.Fatalf("requirements %+v, reason %q", q.Requirements, q.Reason)
	case q.MaxUses != 1:
		t.Fatalf("max uses %d, want 1", q.MaxUses)
	}

	// Who sees it: approvers and viewers of acme, the admin; not globex.
	for _, c := range []struct {
		name, cred string
		want       int
	}{{"alice", e.alice, 1}, {"vic (viewer)", e.vic, 1}, {"admin token", adminToken, 1}, {"admin person", e.root, 1}, {"carol (globex)", e.carol, 0}, {"the agent", tok, 1}} {
		var list struct{ Approvals []approvals.Request }
		if st, m := e.do("GET", "/v1/approvals?status=pending", c.cred, nil, &list); st != http.StatusOK || len(list.Approvals) != c.want {
			t.Errorf("%s lists %d pending (status %d %v), want %d", c.name, len(list.Approvals), st, m, c.want)
		}
	}
	if st, _ := e.do("GET", "/v1/approvals/"+q.ID, e.carol, nil, nil); st != http.StatusNotFound {
		t.Errorf("carol reads another org's request: %d, want 404", st)
	}

	// The agent long-polls; alice approves meanwhile.
	got := make(chan approvals.Request, 1)
	go func() {
		var w approvals.Request
		e.do("GET", "/v1/approvals/"+q.ID+"?wait=30s", tok, nil, &w)
		got <- w
	}()
	waitForPoll(t, e)
	e.approve(e.alice, q.ID)
	w := <-got
	if w.Status != approvals.StatusApproved || w.Approval == "" || w.Decision == nil || w.Decision.By != "alice@acme.test" {
		t.Fatalf("long-poll answered %+v, want the approval", w)
	}
	u, err := token.ParseApproval(w.Approval)
	if err != nil {
		t.Fatal(err)
	}
	a, err := u.Verify(e.a.KeySet(), e.clock.Now())
	if err != nil || a.ID != q.ID || a.Approver != "alice@acme.test" || a.ApproverOrg != "acme" || a.MaxUses != 1 || a.Session != "s_loop" {
		t.Fatalf("approval %+v (%v)", a, err)
	}

	// An approval is never a capability.
	if d := v.Authorize(ctx, w.Approval, vreq(call)); d.Allowed || d.Kind() != verifier.KindInvalidToken {
		t.Fatalf("the approval presented as a token: allowed=%v kind %s", d.Allowed, d.Kind())
	}
	r := vreq(call)
	r.Approval = w.Approval
	if d := v.Authorize(ctx, tok, r); !d.Allowed || d.ApprovalID != q.ID {
		t.Fatalf("retry with the approval: %s", d.Reason)
	}
	d = v.Authorize(ctx, tok, r)
	wantKind(t, "second use", d, verifier.KindApprovalInvalid, "already used")
	if !errors.Is(d.Err, approval.ErrUsedUp) {
		t.Fatalf("second use: %v, want ErrUsedUp", d.Err)
	}

	// The session shows it.
	var sess struct {
		Approvals []approvals.Request `json:"approvals"`
	}
	if st, m := e.do("GET", "/v1/sessions/s_loop", adminToken, nil, &sess); st != http.StatusOK || len(sess.Approvals) != 1 ||
		len(sess.Approvals[0].Uses) != 1 || sess.Approvals[0].Decision == nil {
		t.Fatalf("session view: %d %v", st, m)
	}
	logs := e.log.String()
	for _, ev := range []string{`"event":"approval_requested"`, `"event":"approval_approved"`, `"event":"approval_redeemed"`, `"event":"approval_redeem_refused"`} {
		if !strings.Contains(logs, ev) {
			t.Errorf("no %s audit event", ev)
		}
	}
	for _, secret := range []string{tok, parent, w.Approval, e.alice, adminToken} {
		if strings.Contains(logs, secret) {
			t.Fatal("a credential, token or approval reached the log")
		}
	}
}

// waitForPoll waits until a long-poll is held (or a moment has passed).
func waitForPoll(t *testing.T, e *env) {
	t.Helper()
	time.Sleep(50 * time.Millisecond) // the poll answers with the decision either way
}

// TestBinding: an approval decides one call of one session and lineage:
// not another amount, order or tool, not another session's token, not a
// sibling sub-agent's; a forged, expired, used or wrongly approved one is
// denied with its reason.
func TestBinding(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, approvals.Config{ApprovalTTL: 5 * time.Minute})
	parent := e.mint("s_bind")
	tok := e.refunder(parent)
	sibling := e.refunder(parent)
	child := e.attenuate(tok, "helper", func(b *attenuate.Builder) { b.Tools("refund") })
	other := e.refunder(e.mint("s_other"))
	v := e.verifier(nil)
	call := refund("7", 100+900)

	q := e.ask(tok, call, 5)
	ap := e.approve(e.bob, q.ID)
	with := func(tk string, c approvals.Call, a string) verifier.Decision {
		r := vreq(c)
		r.Approval = a
		return v.Authorize(ctx, tk, r)
	}
	for _, c := range []struct {
		name string
		tok  string
		call approvals.Call
		want error
	}{
		{"another amount", tok, refund("7", 900), approval.ErrOtherCall},
		{"another order", tok, refund("8", 1000), approval.ErrOtherCall},
		{"another tool", tok, approvals.Call{Service: "payments", Tool: "chargeback", Operation: "write", Resource: "order:acme/7", Args: map[string]any{"amount": 1000}}, nil},
		{"another session", other, call, approval.ErrOtherSession},
		{"a sibling sub-agent", sibling, call, approval.ErrOtherLineage},
		{"the parent", parent, call, nil},
	} {
		d := with(c.tok, c.call, ap)
		if c.want == nil {
			// Calls that need no approval are decided without it (the
			// parent has no approval caveat; chargeback is not gated).
			if !d.Allowed || d.ApprovalID != "" {
				t.Errorf("%s: allowed=%v approval=%q: %s", c.name, d.Allowed, d.ApprovalID, d.Reason)
			}
			continue
		}
		if d.Allowed || d.Kind() != verifier.KindApprovalInvalid || !errors.Is(d.Err, c.want) {
			t.Errorf("%s: allowed=%v kind=%s err=%v; want approval_invalid %v", c.name, d.Allowed, d.Kind(), d.Err, c.want)
		}
	}
	// A delegate of the asking token may use it (same lineage).
	if d := with(child, call, ap); !d.Allowed {
		t.Fatalf("the asking token's own delegate: %s", d.Reason)
	}

	// Forged: the same claims signed by a key the verifier does not trust.
	u, _ := token.ParseApproval(ap)
	claims := u.UnsafeClaims()
	k, _ := token.GenerateKey()
	claims.KeyID = 0
	forged, err := token.SignApproval(k, claims)
	if err != nil {
		t.Fatal(err)
	}
	if d := with(tok, call, forged); d.Kind() != verifier.KindApprovalInvalid || !errors.Is(d.Err, token.ErrApproval) {
		t.Fatalf("forged: %s %v", d.Kind(), d.Err)
	}
	tampered := flip(ap, 7)
	if d := with(tok, call, tampered); d.Allowed || d.Kind() != verifier.KindApprovalInvalid {
		t.Fatalf("tampered: %s", d.Reason)
	}

	// Expired.
	e.clock.Add(6 * time.Minute)
	if d := with(tok, call, ap); d.Kind() != verifier.KindApprovalInvalid || !errors.Is(d.Err, token.ErrApprovalExpired) {
		t.Fatalf("expired: %s %v", d.Kind(), d.Err)
	}
}

// TestWrongApprover: a caveat that names its approvers accepts no one
// else, at the authority (the decision is refused) and at the verifier (an
// approval by someone else, even validly signed, is denied).
func TestWrongApprover(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, approvals.Config{})
	tok := e.attenuate(e.mint("s_named"), "refunder", func(b *attenuate.Builder) {
		b.RequireApproval("refund", attenuate.ApprovedBy("alice@acme.test"))
	})
	call := refund("7", 10)
	q := e.ask(tok, call, 0)
	if len(q.Requirements) != 1 || len(q.Requirements[0].Approvers) != 1 || q.Requirements[0].Approvers[0] != "alice@acme.test" {
		t.Fatalf("requirements %+v", q.Requirements)
	}
	for _, c := range []struct{ name, cred, code string }{
		{"bob (not named)", e.bob, "access_denied"},
		{"carol (other org: it does not exist for her)", e.carol, "not_found"},
		{"vic (viewer)", e.vic, "access_denied"},
		{"the admin token (not a person)", adminToken, "access_denied"},
		{"the agent", tok, "invalid_token"},
	} {
		if st, m := e.do("POST", "/v1/approvals/"+q.ID+"/approve", c.cred, map[string]any{}, nil); m["error"] != c.code {
			t.Errorf("%s approves: %d %v, want %s", c.name, st, m, c.code)
		}
		if st, m := e.do("POST", "/v1/approvals/"+q.ID+"/deny", c.cred, map[string]any{}, nil); m["error"] != c.code {
			t.Errorf("%s denies: %d %v, want %s", c.name, st, m, c.code)
		}
	}
	// An approval by bob, signed with the authority's own key (as if the
	// authority had erred), still fails the caveat at the verifier.
	u, _ := token.ParseApproval(e.approve(e.alice, q.ID))
	claims := u.UnsafeClaims()
	claims.ID, claims.Approver = claims.ID+"x", "bob@acme.test"
	byBob, err := token.SignApproval(e.signingKey(), claims)
	if err != nil {
		t.Fatal(err)
	}
	r := vreq(call)
	r.Approval = byBob
	d := e.verifier(nil).Authorize(ctx, tok, r)
	wantKind(t, "approved by bob", d, verifier.KindApprovalInvalid, "bob@acme.test")
}

// TestRefusedAtRequest: a call the token could never make even with an
// approval is refused when asked, saying why; so is one that needs none,
// a caller that is no agent, and a body over its limits.
func TestRefusedAtRequest(t *testing.T) {
	e := newEnv(t, approvals.Config{})
	tok := e.refunder(e.mint("s_refuse"))
	capped := e.attenuate(tok, "small", func(b *attenuate.Builder) { b.ArgMax("refund", "amount", 300) })
	disjoint := e.attenuate(e.attenuate(e.mint("s_disjoint"), "a", func(b *attenuate.Builder) {
		b.RequireApproval("refund", attenuate.ApprovedBy("alice@acme.test"))
	}), "b", func(b *attenuate.Builder) { b.RequireApproval("refund", attenuate.ApprovedBy("bob@acme.test")) })
	for _, c := range []struct {
		name   string
		bearer string
		body   map[string]any
		status int
		code   string
		says   string
	}{
		{"no right covers it", tok, askBody(approvals.Call{Service: "crm", Tool: "delete", Operation: "write", Resource: "account:acme/1"}, 0), 422, "not_approvable", "even with an approval"},
		{"another caveat denies it", capped, askBody(refund("7", 500), 0), 422, "not_approvable", "even with an approval"},
		{"it needs no approval", tok, askBody(refund("7", 50), 0), 422, "not_approvable", "without an approval"},
		{"no one person satisfies both caveats", disjoint, askBody(refund("7", 50), 0), 422, "not_approvable", "no one person"},
		{"the admin token asks", adminToken, askBody(refund("7", 500), 0), 403, "access_denied", "agent's own mandate token"},
		{"a person asks", e.alice, askBody(refund("7", 500), 0), 403, "access_denied", "agent's own mandate token"},
		{"a note over the limit", tok, map[string]any{"service": "payments", "tool": "refund", "operation": "write", "resource": "order:acme/7", "args": map[string]any{"amount": 500}, "note": strings.Repeat("x", approvals.MaxNoteBytes+1)}, 400, "invalid_request", "note"},
		{"too many uses", tok, askBody(refund("7", 500), token.MaxApprovalUses+1), 400, "invalid_request", "max_uses"},
		{"an unknown field", tok, map[string]any{"service": "payments", "approve": true}, 400, "invalid_request", "unknown field"},
	} {
		st, m := e.do("POST", "/v1/approvals", c.bearer, c.body, nil)
		if st != c.status || m["error"] != c.code || !strings.Contains(m["error_description"].(string), c.says) {
			t.Errorf("%s: %d %v; want %d %s saying %q", c.name, st, m, c.status, c.code, c.says)
		}
	}
	// Bad input elsewhere: 4xx with a reason, never a panic.
	q := e.ask(tok, refund("7", 500), 0)
	for _, c := range []struct {
		name, method, path, bearer string
		body                       any
		status                     int
	}{
		{"args that are not an object", "POST", "/v1/approvals", tok, map[string]any{"service": "payments", "tool": "refund", "operation": "write", "args": []int{1}}, 400},
		{"an argument name differing only in case", "POST", "/v1/approvals", tok, map[string]any{"service": "payments", "tool": "refund", "operation": "write", "resource": "order:acme/7", "args": map[string]any{"amount": 500, "Amount": 1}}, 400},
		{"a null argument", "POST", "/v1/approvals", tok, map[string]any{"service": "payments", "tool": "refund", "operation": "write", "resource": "order:acme/7", "args": map[string]any{"amount": nil}}, 400},
		{"no service", "POST", "/v1/approvals", tok, map[string]any{"tool": "refund", "operation": "write"}, 400},
		{"a bad status filter", "GET", "/v1/approvals?status=maybe", e.alice, nil, 400},
		{"a bad limit", "GET", "/v1/approvals?limit=-1", e.alice, nil, 400},
		{"a bad wait", "GET", "/v1/approvals/" + q.ID + "?wait=soon", tok, nil, 400},
		{"an unknown request", "GET", "/v1/approvals/ap_unknown", e.alice, nil, 404},
		{"an ID with odd bytes", "GET", "/v1/approvals/%00%ff", e.alice, nil, 404},
		{"redeem garbage", "POST", "/v1/approvals/" + q.ID + "/redeem", tok, map[string]any{"approval": "x.y", "call_digest": "zz"}, 400},
		{"redeem what is not approved", "POST", "/v1/approvals/" + q.ID + "/redeem", tok, map[string]any{"approval": "", "call_digest": ""}, 400},
		{"a comment over the limit", "POST", "/v1/approvals/" + q.ID + "/approve", e.alice, map[string]any{"comment": strings.Repeat("x", approvals.MaxNoteBytes+1)}, 400},
		{"no credential", "POST", "/v1/approvals/" + q.ID + "/approve", "", map[string]any{}, 401},
		{"a wrong credential", "GET", "/v1/approvals", "mp_not-a-credential", nil, 401},
	} {
		if st, m := e.do(c.method, c.path, c.bearer, c.body, nil); st != c.status || m["error"] == nil || m["error_description"] == "" {
			t.Errorf("%s: %d %v, want %d with a reason", c.name, st, m, c.status)
		}
	}

	// A revoked token cannot ask.
	if _, err := e.a.RevokeToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if st, m := e.do("POST", "/v1/approvals", tok, askBody(refund("7", 500), 0), nil); st != http.StatusUnauthorized {
		t.Errorf("revoked token asks: %d %v, want 401", st, m)
	}
}

// TestDecisions: a request is decided once, never after it expired; a
// denied request issues nothing.
func TestDecisions(t *testing.T) {
	e := newEnv(t, approvals.Config{RequestTTL: time.Minute})
	tok := e.refunder(e.mint("s_decide"))
	q1 := e.ask(tok, refund("1", 500), 0)
	var denied approvals.Request
	if st, m := e.do("POST", "/v1/approvals/"+q1.ID+"/deny", e.alice, map[string]any{"comment": "not this one"}, &denied); st != 200 ||
		denied.Status != approvals.StatusDenied || denied.Approval != "" || denied.Decision.Comment != "not this one" {
		t.Fatalf("deny: %d %v", st, m)
	}
	if st, m := e.do("POST", "/v1/approvals/"+q1.ID+"/approve", e.bob, map[string]any{}, nil); st != http.StatusConflict || m["error"] != "already_decided" {
		t.Fatalf("approve after deny: %d %v", st, m)
	}
	q2 := e.ask(tok, refund("2", 500), 0)
	e.clock.Add(2 * time.Minute)
	if st, m := e.do("POST", "/v1/approvals/"+q2.ID+"/approve", e.alice, map[string]any{}, nil); st != http.StatusConflict || m["error"] != "approval_expired" {
		t.Fatalf("approve an expired request: %d %v", st, m)
	}
	var got approvals.Request
	if e.do("GET", "/v1/approvals/"+q2.ID, e.alice, nil, &got); got.Status != approvals.StatusExpired {
		t.Fatalf("expired request reads %s", got.Status)
	}
	if st, _ := e.do("POST", "/v1/approvals/ap_nope/approve", e.alice, map[string]any{}, nil); st != http.StatusNotFound {
		t.Fatalf("unknown request: %d", st)
	}
}

// TestPendingCap: a session holds at most MaxPendingPerSession pending
// requests; a decision frees a slot.
func TestPendingCap(t *testing.T) {
	e := newEnv(t, approvals.Config{MaxPendingPerSession: 2})
	tok := e.refunder(e.mint("s_cap"))
	q := e.ask(tok, refund("1", 500), 0)
	e.ask(tok, refund("2", 500), 0)
	if st, m := e.do("POST", "/v1/approvals", tok, askBody(refund("3", 500), 0), nil); st != http.StatusTooManyRequests {
		t.Fatalf("third pending request: %d %v", st, m)
	}
	// Another session is not affected.
	e.ask(e.refunder(e.mint("s_cap2")), refund("1", 500), 0)
	e.do("POST", "/v1/approvals/"+q.ID+"/deny", e.alice, map[string]any{}, nil)
	e.ask(tok, refund("3", 500), 0)
}

// TestRevocation: revoking the session, or a block of the asking token,
// revokes its pending requests and unused approvals: they cannot be
// decided or redeemed.
func TestRevocation(t *testing.T) {
	ctx := context.Background()
	for _, how := range []string{"session", "block", "parent block"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, approvals.Config{})
			parent := e.mint("s_rev")
			tok := e.refunder(parent)
			pending := e.ask(tok, refund("1", 500), 0)
			approved := e.ask(tok, refund("2", 500), 0)
			ap := e.approve(e.alice, approved.ID)
			var err error
			switch how {
			case "session":
				_, err = e.a.RevokeSession(ctx, adminPrincipal(), "s_rev")
			case "block":
				_, err = e.a.RevokeToken(ctx, tok)
			case "parent block":
				_, err = e.a.RevokeToken(ctx, parent)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{pending.ID, approved.ID} {
				var q approvals.Request
				if e.do("GET", "/v1/approvals/"+id, adminToken, nil, &q); q.Status != approvals.StatusRevoked || q.RevokedBecause == "" {
					t.Errorf("%s: status %s after revocation", id, q.Status)
				}
			}
			if st, m := e.do("POST", "/v1/approvals/"+pending.ID+"/approve", e.alice, map[string]any{}, nil); st != http.StatusConflict || m["error"] != "approval_revoked" {
				t.Errorf("approve a revoked request: %d %v", st, m)
			}
			// The verifier's replica may not know yet: redemption refuses.
			r := vreq(refund("2", 500))
			r.Approval = ap
			if d := e.verifier(nil).Authorize(ctx, tok, r); d.Allowed {
				t.Fatal("a revoked approval was redeemed")
			}
			if !strings.Contains(e.log.String(), `"event":"approval_revoked"`) {
				t.Error("no approval_revoked audit event")
			}
		})
	}
}

// TestMintRequiresApproval: a mint request can say that some calls always
// need a person (a check of the authority block): the loop works the same,
// and nothing a delegate appends lifts it.
func TestMintRequiresApproval(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, approvals.Config{})
	var minted struct{ Token string }
	st, m := e.do("POST", "/v1/tokens", adminToken, map[string]any{
		"agent": "support-bot", "org": "acme", "session": "s_mint_gate", "ttl_seconds": 3600,
		"rights":           []token.Right{{Service: "payments", Tool: "*", Operation: "*", Resource: "order:acme/"}},
		"require_approval": []token.ApprovalRequirement{{Tool: "refund", Arg: "amount", Above: 100, Approvers: []string{"bob@acme.test"}}},
	}, &minted)
	if st != http.StatusCreated {
		t.Fatalf("mint: %d %v", st, m)
	}
	delegate := e.attenuate(minted.Token, "helper", func(b *attenuate.Builder) { b.Tools("refund") })
	v := e.verifier(nil)
	for _, tok := range []string{minted.Token, delegate} {
		d := v.Authorize(ctx, tok, vreq(refund("3", 500)))
		if d.Kind() != verifier.KindApprovalRequired || d.FailedCheck == nil || d.FailedCheck.Block != 0 {
			t.Fatalf("refund of 500: %s (%+v)", d.Reason, d.FailedCheck)
		}
	}
	q := e.ask(delegate, refund("3", 500), 0)
	if len(q.Requirements) != 1 || q.Requirements[0].Block != 0 || len(q.Requirements[0].Approvers) != 1 {
		t.Fatalf("requirements %+v", q.Requirements)
	}
	if st, m := e.do("POST", "/v1/approvals/"+q.ID+"/approve", e.alice, map[string]any{}, nil); st != http.StatusForbidden {
		t.Fatalf("alice is not named by the authority block: %d %v", st, m)
	}
	r := vreq(refund("3", 500))
	r.Approval = e.approve(e.bob, q.ID)
	if d := v.Authorize(ctx, delegate, r); !d.Allowed {
		t.Fatalf("retry with bob's approval: %s", d.Reason)
	}
}

// TestCeilingRequiresApproval: a client's ceiling can say that some calls
// need a person in every token it mints; the client cannot mint that away.
func TestCeilingRequiresApproval(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, approvals.Config{})
	var client struct {
		Secret string `json:"client_secret"`
	}
	st, m := e.do("POST", "/v1/clients", adminToken, map[string]any{"client_id": "platform", "ceiling": map[string]any{
		"services": []string{"payments"}, "tools": []string{"*"}, "operations": []string{"*"}, "resource_prefixes": []string{"order:acme/"},
		"orgs": []string{"acme"}, "max_ttl_seconds": 3600,
		"require_approval": []token.ApprovalRequirement{{Tool: "refund", OrgApprovers: true}},
	}}, &client)
	if st != http.StatusCreated {
		t.Fatalf("register: %d %v", st, m)
	}
	var got struct {
		Ceiling struct {
			RequireApproval []token.ApprovalRequirement `json:"require_approval"`
		} `json:"ceiling"`
	}
	if e.do("GET", "/v1/clients/platform", adminToken, nil, &got); len(got.Ceiling.RequireApproval) != 1 {
		t.Fatalf("the client's ceiling reads %+v", got)
	}
	var minted struct{ Token string }
	if st, m := e.do("POST", "/v1/tokens", client.Secret, map[string]any{"agent": "bot", "org": "acme", "ttl_seconds": 600,
		"rights": []token.Right{{Service: "payments", Tool: "*", Operation: "*", Resource: "order:acme/"}}}, &minted); st != http.StatusCreated {
		t.Fatalf("mint: %d %v", st, m)
	}
	d := e.verifier(nil).Authorize(ctx, minted.Token, vreq(refund("1", 1)))
	if d.Kind() != verifier.KindApprovalRequired || d.FailedCheck == nil || d.FailedCheck.Block != 0 {
		t.Fatalf("a refund with a token of a gated client: %s", d.Reason)
	}
	if st, m := e.do("POST", "/v1/clients", adminToken, map[string]any{"client_id": "bad", "ceiling": map[string]any{
		"services": []string{"payments"}, "tools": []string{"*"}, "operations": []string{"*"}, "resource_prefixes": []string{"order:"},
		"orgs": []string{"acme"}, "max_ttl_seconds": 3600, "require_approval": []map[string]any{{"tool": "*"}},
	}}, nil); st != http.StatusBadRequest {
		t.Fatalf("a wildcard requirement: %d %v", st, m)
	}
}
