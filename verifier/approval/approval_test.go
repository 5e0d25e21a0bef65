package approval_test

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/biscuit-auth/biscuit-go/v2"
	"github.com/biscuit-auth/biscuit-go/v2/parser"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/internal/tokentest"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/approval"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// world is one authority, its verifier configured with a Memory redeemer,
// and the orchestrator's token.
type world struct {
	key      token.SigningKey
	redeemer *approval.Memory
	v        *verifier.Verifier
	root     string // the orchestrator's token, session s_main
}

var rights = []token.Right{
	{Service: "billing", Tool: "*", Operation: "*", Resource: "order:acme/"},
	{Service: "crm", Tool: "*", Operation: "*", Resource: "account:acme/"},
}

func newWorld(t testing.TB) *world {
	t.Helper()
	k, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	w := &world{key: k, redeemer: approval.NewMemory()}
	c, err := approval.New(approval.Config{Redeemer: w.redeemer})
	if err != nil {
		t.Fatal(err)
	}
	w.v = w.verifier(t, c)
	w.root = w.mint(t, "s_main", nil)
	return w
}

func (w *world) verifier(t testing.TB, c verifier.ApprovalChecker) *verifier.Verifier {
	t.Helper()
	v, err := verifier.New(verifier.Config{
		Keys: token.NewKeySet(w.key.Public()), InsecureNoRevocation: true,
		Now: func() time.Time { return t0.Add(time.Minute) }, Approvals: c,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (w *world) mint(t testing.TB, session string, req []token.ApprovalRequirement) string {
	t.Helper()
	m, err := token.Mint(w.key, token.MintRequest{
		Subject: token.Subject{Agent: "orchestrator", User: "carol@acme.test", Org: "acme", Session: session},
		Rights:  rights, TTL: time.Hour, Now: t0, RequireApproval: req,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m.Token
}

func build(t testing.TB, tok string, fn func(*attenuate.Builder)) string {
	t.Helper()
	b, err := attenuate.New(tok, attenuate.WithClock(func() time.Time { return t0 }))
	if err != nil {
		t.Fatal(err)
	}
	fn(b)
	out, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func lastID(t testing.TB, tok string) []byte {
	t.Helper()
	u, err := token.ParseString(tok)
	if err != nil {
		t.Fatal(err)
	}
	ids := u.RevocationIDs()
	return ids[len(ids)-1]
}

func refund(amount int, order string) verifier.Request {
	return verifier.Request{Service: "billing", Tool: "refund", Operation: "write", Resource: "order:acme/" + order,
		Args: map[string]any{"amount": amount, "currency": "EUR"}}
}

func digest(t testing.TB, r verifier.Request) [token.CallDigestSize]byte {
	t.Helper()
	d, err := token.CallDigest(token.Call{Service: r.Service, Tool: r.Tool, Operation: r.Operation, Resource: r.Resource, Args: r.Args})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// approve signs an approval of call for tok (session s_main, lineage tok's
// last block) by alice of acme; mod adjusts it.
func (w *world) approve(t testing.TB, tok string, call verifier.Request, mod ...func(*token.Approval)) string {
	t.Helper()
	a := token.Approval{
		ID: "ap_" + strings.ReplaceAll(t.Name(), "/", "_"), CallDigest: digest(t, call), Session: "s_main", Lineage: lastID(t, tok),
		Approver: "alice@acme.test", ApproverOrg: "acme", Reason: "test",
		IssuedAt: t0, ExpiresAt: t0.Add(10 * time.Minute),
	}
	for _, m := range mod {
		m(&a)
	}
	s, err := token.SignApproval(w.key, a)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func with(r verifier.Request, approval string) verifier.Request {
	r.Approval = approval
	return r
}

func wantAllowed(t *testing.T, d verifier.Decision) {
	t.Helper()
	if !d.Allowed {
		t.Fatalf("denied: %s", d.Reason)
	}
}

func wantDenied(t *testing.T, d verifier.Decision, kind verifier.Kind, errs ...error) {
	t.Helper()
	if d.Allowed {
		t.Fatal("allowed")
	}
	if d.Kind() != kind {
		t.Errorf("kind %q, want %q (reason: %s)", d.Kind(), kind, d.Reason)
	}
	for _, e := range errs {
		if !errors.Is(d.Err, e) {
			t.Errorf("error %v does not match %v", d.Err, e)
		}
	}
}

// delegated is the orchestrator's token attenuated for a sub-agent whose
// refunds above 100 need approval.
func (w *world) delegated(t testing.TB, opts ...attenuate.ApprovalOption) string {
	return build(t, w.root, func(b *attenuate.Builder) {
		b.DelegatedTo("refund-agent").RequireApproval("refund", append([]attenuate.ApprovalOption{attenuate.Above("amount", 100)}, opts...)...)
	})
}

func TestApprovalRequired(t *testing.T) {
	w := newWorld(t)
	tok := w.delegated(t)
	ctx := context.Background()

	wantAllowed(t, w.v.Authorize(ctx, tok, refund(100, "7")))
	wantAllowed(t, w.v.Authorize(ctx, tok, verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/1"}))

	call := refund(500, "7")
	d := w.v.Authorize(ctx, tok, call)
	wantDenied(t, d, verifier.KindApprovalRequired, verifier.ErrApprovalRequired, verifier.ErrDenied)
	dg := digest(t, call)
	if d.CallDigest == "" || d.CallDigest != hex.EncodeToString(dg[:]) {
		t.Errorf("call digest %q, want %x", d.CallDigest, dg)
	}
	if d.FailedCheck == nil || d.FailedCheck.Block != 1 || d.FailedCheck.Check != 0 || !strings.Contains(d.FailedCheck.Text, "approved(") {
		t.Errorf("failed check %+v, want block 1 check 0, the approval caveat", d.FailedCheck)
	}
	if d.InvalidToken() {
		t.Error("an approval-required deny reads as an invalid token")
	}
	// A call without the argument needs approval too.
	noAmount := refund(0, "7")
	delete(noAmount.Args, "amount")
	wantDenied(t, w.v.Authorize(ctx, tok, noAmount), verifier.KindApprovalRequired, verifier.ErrApprovalRequired)

	// With the approval: allowed once, then used up.
	ap := w.approve(t, tok, call)
	d = w.v.Authorize(ctx, tok, with(call, ap))
	wantAllowed(t, d)
	if d.ApprovalID == "" || !strings.Contains(d.Reason, "alice@acme.test") {
		t.Errorf("decision %+v does not name the approval and approver", d)
	}
	wantDenied(t, w.v.Authorize(ctx, tok, with(call, ap)), verifier.KindApprovalInvalid, verifier.ErrApprovalInvalid, approval.ErrUsedUp, token.ErrApproval)

	// max_uses 2: exactly twice.
	ap2 := w.approve(t, tok, call, func(a *token.Approval) { a.ID, a.MaxUses = "ap_twice", 2 })
	wantAllowed(t, w.v.Authorize(ctx, tok, with(call, ap2)))
	wantAllowed(t, w.v.Authorize(ctx, tok, with(call, ap2)))
	wantDenied(t, w.v.Authorize(ctx, tok, with(call, ap2)), verifier.KindApprovalInvalid, approval.ErrUsedUp)
}

// TestApprovalBinding: an approval decides its own call, session and
// lineage, signed by a trusted key, in time, and nothing else.
func TestApprovalBinding(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	tok := w.delegated(t)
	sibling := w.delegated(t) // another sub-agent, attenuated from the same root
	child := build(t, tok, func(b *attenuate.Builder) { b.DelegatedTo("grandchild").Resource("order:acme/7") })
	otherSession := build(t, w.mint(t, "s_other", nil), func(b *attenuate.Builder) {
		b.RequireApproval("refund", attenuate.Above("amount", 100))
	})
	call := refund(500, "7")
	untrusted, _ := token.GenerateKey()
	forged, err := token.SignApproval(untrusted, token.Approval{ID: "ap_forged", CallDigest: digest(t, call), Session: "s_main",
		Lineage: lastID(t, tok), Approver: "alice@acme.test", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	good := w.approve(t, tok, call)
	p, s, _ := strings.Cut(good, ".")
	tampered := p + "." + strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return r
	}, s)
	if tampered == good {
		tampered = p + "." + "B" + s[1:]
	}

	for _, tc := range []struct {
		name    string
		tok     string
		call    verifier.Request
		ap      string
		wantErr error
	}{
		{"forged: untrusted key", tok, call, forged, token.ErrApprovalUnknownKey},
		{"tampered signature", tok, call, tampered, token.ErrApproval},
		{"garbage", tok, call, "not-an-approval", token.ErrApprovalMalformed},
		{"expired", tok, call, w.approve(t, tok, call, func(a *token.Approval) { a.IssuedAt, a.ExpiresAt = t0.Add(-time.Hour), t0 }), token.ErrApprovalExpired},
		{"another amount", tok, refund(900, "7"), good, approval.ErrOtherCall},
		{"another order", tok, refund(500, "8"), good, approval.ErrOtherCall},
		{"another argument", tok, func() verifier.Request { r := refund(500, "7"); r.Args["currency"] = "USD"; return r }(), good, approval.ErrOtherCall},
		{"a large argument the facts leave out", tok, func() verifier.Request {
			r := refund(500, "7")
			r.Args["memo"] = strings.Repeat("a", token.MaxStringBytes+1)
			return r
		}(), w.approve(t, tok, func() verifier.Request {
			r := refund(500, "7")
			r.Args["memo"] = strings.Repeat("b", token.MaxStringBytes+1)
			return r
		}()), approval.ErrOtherCall},
		{"an extra argument", tok, func() verifier.Request { r := refund(500, "7"); r.Args["note"] = "x"; return r }(), good, approval.ErrOtherCall},
		{"another session", otherSession, call, w.approve(t, otherSession, call), approval.ErrOtherSession},
		{"a sibling's token", sibling, call, good, approval.ErrOtherLineage},
		{"an ancestor's token", tok, call, w.approve(t, child, call, func(a *token.Approval) { a.ID = "ap_for_child" }), approval.ErrOtherLineage},
		{"a call that needs no approval", w.root, call, good, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := w.v.Authorize(ctx, tc.tok, with(tc.call, tc.ap))
			if tc.wantErr == nil {
				// The root token has no approval caveat: the approval
				// is neither read nor spent.
				wantAllowed(t, d)
				if d.ApprovalID != "" {
					t.Errorf("approval %s was used on a call that needs none", d.ApprovalID)
				}
				return
			}
			wantDenied(t, d, verifier.KindApprovalInvalid, verifier.ErrApprovalInvalid, tc.wantErr)
			if d.InvalidToken() {
				t.Errorf("a bad approval reads as an invalid token: %v", d.Err)
			}
		})
	}
	// An attenuated child of the approved token carries its block: the
	// approval holds there (and for the token itself, checked above).
	wantAllowed(t, w.v.Authorize(ctx, child, with(call, w.approve(t, tok, call, func(a *token.Approval) { a.ID = "ap_child" }))))
}

func TestApprovalApprovers(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	call := refund(500, "7")
	named := w.delegated(t, attenuate.ApprovedBy("alice@acme.test", "dave@acme.test"))
	org := w.delegated(t, attenuate.ApprovedByOrg())
	by := func(tok, who, whoOrg string) verifier.Request {
		return with(call, w.approve(t, tok, call, func(a *token.Approval) { a.ID, a.Approver, a.ApproverOrg = "ap_"+who+whoOrg, who, whoOrg }))
	}
	wantAllowed(t, w.v.Authorize(ctx, named, by(named, "alice@acme.test", "acme")))
	d := w.v.Authorize(ctx, named, by(named, "bob@acme.test", "acme"))
	wantDenied(t, d, verifier.KindApprovalInvalid, verifier.ErrApprovalInvalid)
	if !strings.Contains(d.Reason, "bob@acme.test") || !strings.Contains(d.Reason, "does not satisfy") {
		t.Errorf("reason %q does not say the approver is not accepted", d.Reason)
	}
	wantAllowed(t, w.v.Authorize(ctx, org, by(org, "erin@acme.test", "acme")))
	wantDenied(t, w.v.Authorize(ctx, org, by(org, "frank@globex.test", "globex")), verifier.KindApprovalInvalid, verifier.ErrApprovalInvalid)
	// A wrong approver spends nothing: the right one still can use a fresh
	// approval with the same ID... and a rejected one was never redeemed.
	d = w.v.Authorize(ctx, named, by(named, "alice@acme.test", "acme")) // same ID as the first: used up
	wantDenied(t, d, verifier.KindApprovalInvalid, approval.ErrUsedUp)
}

// TestApprovalFactOnlyFromVerifier: only the verifier's approved fact lifts
// a requirement. A holder's appended block stating it, a rule deriving it,
// and an authority block stating it all fail.
func TestApprovalFactOnlyFromVerifier(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	tok := w.delegated(t)
	call := refund(500, "7")
	for _, src := range []string{
		`approved("alice@acme.test", "acme")`,
		`approved($p, $o) <- user($p), org($o)`,
		`approved("alice@acme.test", "acme"); check if approved($p, $o)`,
	} {
		t.Run(src, func(t *testing.T) {
			forged := tokentest.AppendDatalog(t, tok, src)
			d := w.v.Authorize(ctx, forged, call)
			wantDenied(t, d, verifier.KindApprovalRequired, verifier.ErrApprovalRequired)
			if d.FailedCheck == nil || d.FailedCheck.Block != 1 {
				t.Errorf("failed check %+v, want block 1's approval caveat", d.FailedCheck)
			}
		})
	}
	t.Run("authority block", func(t *testing.T) {
		b := biscuit.NewBuilder(w.key.Private)
		for _, f := range []string{`session("s_main")`, `org("acme")`, `right("billing", "*", "*", "order:acme/")`, `approved("alice@acme.test", "acme")`} {
			fact, err := parser.FromStringFact(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.AddAuthorityFact(fact); err != nil {
				t.Fatal(err)
			}
		}
		bt, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := bt.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		forged := build(t, token.Encode(raw), func(b *attenuate.Builder) { b.RequireApproval("refund") })
		d := w.v.Authorize(ctx, forged, call)
		if d.Allowed || !strings.Contains(d.Reason, "authority block states approved") || d.Kind() != verifier.KindInvalidToken {
			t.Fatalf("decision %+v, want a deny naming the authority block's approved fact", d)
		}
	})
}

// TestApprovalFailsClosed: a verifier that does not check approvals denies
// an approval-gated call whatever it carries, and so does biscuit-go's own
// authorizer, which knows nothing of approvals.
func TestApprovalFailsClosed(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	tok := w.delegated(t)
	call := refund(500, "7")
	ap := w.approve(t, tok, call)
	plain := w.verifier(t, nil)
	d := plain.Authorize(ctx, tok, with(call, ap))
	wantDenied(t, d, verifier.KindApprovalRequired, verifier.ErrApprovalRequired)
	if !strings.Contains(d.Reason, "not configured to check approvals") {
		t.Errorf("reason %q", d.Reason)
	}

	// biscuit-go, given every request fact mandate documents, denies.
	raw, err := token.Decode(tok)
	if err != nil {
		t.Fatal(err)
	}
	bt, err := biscuit.Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	az, err := bt.Authorizer(w.key.Public().Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{`time(2026-11-22T10:01:00Z)`, `service("billing")`, `tool("refund")`, `operation("write")`, `resource("order:acme/7")`, `arg("amount", 500)`} {
		fact, err := parser.FromStringFact(f)
		if err != nil {
			t.Fatal(err)
		}
		az.AddFact(fact)
	}
	pol, err := parser.FromStringPolicy(`allow if true`)
	if err != nil {
		t.Fatal(err)
	}
	az.AddPolicy(pol)
	if err := az.Authorize(); err == nil {
		t.Fatal("biscuit-go allowed an approval-gated call without an approval fact")
	}
}

func TestApprovalMintRequirement(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	tok := w.mint(t, "s_main", []token.ApprovalRequirement{{Tool: "refund"}})
	call := refund(1, "7")
	d := w.v.Authorize(ctx, tok, call)
	wantDenied(t, d, verifier.KindApprovalRequired, verifier.ErrApprovalRequired)
	if d.FailedCheck == nil || d.FailedCheck.Block != 0 {
		t.Errorf("failed check %+v, want the authority block's", d.FailedCheck)
	}
	wantAllowed(t, w.v.Authorize(ctx, tok, with(call, w.approve(t, tok, call))))
	// A call no right covers is no_right, not approval_required.
	d = w.v.Authorize(ctx, tok, verifier.Request{Service: "billing", Tool: "refund", Operation: "write", Resource: "order:globex/1"})
	if d.Allowed || !errors.Is(d.Err, verifier.ErrNoRight) || d.Kind() != verifier.KindInsufficientScope {
		t.Errorf("uncovered call: %v (kind %q), want ErrNoRight", d.Err, d.Kind())
	}
	// A delegate's token still needs it; an approval asked with the
	// delegate's token names the delegate's block.
	sub := build(t, tok, func(b *attenuate.Builder) { b.DelegatedTo("sub") })
	wantDenied(t, w.v.Authorize(ctx, sub, call), verifier.KindApprovalRequired)
	wantAllowed(t, w.v.Authorize(ctx, sub, with(call, w.approve(t, sub, call, func(a *token.Approval) { a.ID = "ap_sub" }))))
}

// TestApprovalOnlySpentWhenItDecides: an approval is redeemed only when it
// turns a deny into an allow; a call another check denies spends nothing.
func TestApprovalOnlySpentWhenItDecides(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	var spent atomic.Int32
	c, err := approval.New(approval.Config{Redeemer: approval.RedeemerFunc(func(ctx context.Context, r approval.Redemption) error {
		spent.Add(1)
		return w.redeemer.Redeem(ctx, r)
	})})
	if err != nil {
		t.Fatal(err)
	}
	v := w.verifier(t, c)
	tok := build(t, w.delegated(t), func(b *attenuate.Builder) { b.ArgMax("refund", "amount", 300) })
	call := refund(500, "7")
	d := v.Authorize(ctx, tok, with(call, w.approve(t, tok, call)))
	if d.Allowed || !errors.Is(d.Err, verifier.ErrCheckFailed) || d.FailedCheck == nil || d.FailedCheck.Block != 2 {
		t.Fatalf("decision %+v, want block 2's ArgMax to deny", d)
	}
	small := refund(50, "7")
	wantAllowed(t, v.Authorize(ctx, tok, with(small, w.approve(t, tok, small))))
	if n := spent.Load(); n != 0 {
		t.Fatalf("%d approvals spent, want 0", n)
	}
	// A redeemer that cannot answer denies.
	down, _ := approval.New(approval.Config{Redeemer: approval.RedeemerFunc(func(context.Context, approval.Redemption) error {
		return errors.New("authority unreachable")
	})})
	tok2 := w.delegated(t)
	d = w.verifier(t, down).Authorize(ctx, tok2, with(call, w.approve(t, tok2, call)))
	wantDenied(t, d, verifier.KindApprovalInvalid, verifier.ErrApprovalInvalid)
}

func TestApprovalRedeemerRequired(t *testing.T) {
	if _, err := approval.New(approval.Config{}); !errors.Is(err, approval.ErrNoRedeemer) {
		t.Fatalf("New without a redeemer: %v, want ErrNoRedeemer", err)
	}
	w := newWorld(t)
	ctx := context.Background()
	tok := w.delegated(t)
	call := refund(500, "7")
	ap := w.approve(t, tok, call)
	d := w.verifier(t, &approval.Checker{}).Authorize(ctx, tok, with(call, ap))
	wantDenied(t, d, verifier.KindApprovalInvalid, approval.ErrNoRedeemer)

	insecure, err := approval.New(approval.Config{InsecureNoRedemption: true})
	if err != nil {
		t.Fatal(err)
	}
	v := w.verifier(t, insecure)
	wantAllowed(t, v.Authorize(ctx, tok, with(call, ap)))
	wantAllowed(t, v.Authorize(ctx, tok, with(call, ap))) // not counted: that is what Insecure means
}

// TestApprovalIsNotAToken: presented as a token, an approval authorizes
// nothing.
func TestApprovalIsNotAToken(t *testing.T) {
	w := newWorld(t)
	tok := w.delegated(t)
	call := refund(500, "7")
	ap := w.approve(t, tok, call)
	for _, req := range []verifier.Request{call, with(call, ap), {Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/1"}} {
		d := w.v.Authorize(context.Background(), ap, req)
		if d.Allowed || !errors.Is(d.Err, token.ErrInvalid) || !d.InvalidToken() {
			t.Fatalf("approval as a token: %+v", d)
		}
	}
}
