package attenuate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// call is one request against an attenuated token, at t0+at on the
// verifier's clock, and the decision it must get.
type call struct {
	name    string
	at      time.Duration
	req     verifier.Request
	allowed bool
	wantErr error // for denials: verifier.ErrCheckFailed, ErrEvaluation, ErrNoRight, ...
}

func req(tool, resource string, args map[string]any) verifier.Request {
	return verifier.Request{Service: "crm", Tool: tool, Operation: "read", Resource: resource, Args: args}
}

// Every caveat allows what it documents and denies the rest, through the
// real verifier; a denial names the caveat's check in the decision. Each
// request is first shown to be allowed by the original token, so a denial
// can only come from the caveat.
func TestCaveatsNarrow(t *testing.T) {
	a := newAuthority(t)
	orig := a.mint(t)
	checkFailed, evalFailed := verifier.ErrCheckFailed, verifier.ErrEvaluation
	tests := []struct {
		name  string
		opts  []attenuate.Option
		add   func(*attenuate.Builder)
		text  string // the caveat's check, expected in FailedCheck.Text
		calls []call
	}{
		{
			name: "tools",
			add:  func(b *attenuate.Builder) { b.Tools("get_account", "list_invoices") },
			text: `check if tool($t), ["get_account", "list_invoices"].contains($t)`,
			calls: []call{
				{name: "listed", req: getAccount42, allowed: true},
				{name: "other listed", req: listInvoices, allowed: true},
				{name: "unlisted", req: refund(10), wantErr: checkFailed},
				{name: "prefix of a listed name", req: req("get_acc", "account:acme/42", nil), wantErr: checkFailed},
			},
		},
		{
			name: "operations",
			add:  func(b *attenuate.Builder) { b.Operations("read") },
			text: `check if operation($o), ["read"].contains($o)`,
			calls: []call{
				{name: "read", req: getAccount42, allowed: true},
				{name: "write", req: refund(10), wantErr: checkFailed},
			},
		},
		{
			name: "services",
			add:  func(b *attenuate.Builder) { b.Services("crm") },
			text: `check if service($s), ["crm"].contains($s)`,
			calls: []call{
				{name: "crm", req: getAccount42, allowed: true},
				{name: "billing", req: listInvoices, wantErr: checkFailed},
			},
		},
		{
			name: "exact resource",
			add:  func(b *attenuate.Builder) { b.Resource("account:acme/42") },
			text: `check if resource($r), $r == "account:acme/42"`,
			calls: []call{
				{name: "exact", req: getAccount42, allowed: true},
				{name: "below", req: req("get_account", "account:acme/42/invoices", nil), wantErr: checkFailed},
				{name: "longer", req: req("get_account", "account:acme/420", nil), wantErr: checkFailed},
				{name: "shorter", req: req("get_account", "account:acme/4", nil), wantErr: checkFailed},
			},
		},
		{
			name: "segment-aware prefix",
			add:  func(b *attenuate.Builder) { b.ResourcePrefix("account:acme/42") },
			text: `check if resource($r), $r == "account:acme/42" || $r.starts_with("account:acme/42/")`,
			calls: []call{
				{name: "the prefix itself", req: getAccount42, allowed: true},
				{name: "below", req: req("get_account", "account:acme/42/invoices/7", nil), allowed: true},
				{name: "sibling sharing the prefix", req: req("get_account", "account:acme/420", nil), wantErr: checkFailed},
				{name: "sibling sharing the prefix, below", req: req("get_account", "account:acme/421/x", nil), wantErr: checkFailed},
				{name: "other separator not configured", req: req("get_account", "account:acme/42:x", nil), wantErr: checkFailed},
				{name: "parent", req: req("get_account", "account:acme/", nil), wantErr: checkFailed},
			},
		},
		{
			name: "segment-aware prefix with two separators",
			opts: []attenuate.Option{attenuate.WithSeparators("/:")},
			add:  func(b *attenuate.Builder) { b.ResourcePrefix("account:acme/42") },
			text: `check if resource($r), $r == "account:acme/42" || $r.starts_with("account:acme/42/") || $r.starts_with("account:acme/42:")`,
			calls: []call{
				{name: "colon below", req: req("get_account", "account:acme/42:notes", nil), allowed: true},
				{name: "slash below", req: req("get_account", "account:acme/42/notes", nil), allowed: true},
				{name: "sibling", req: req("get_account", "account:acme/420:notes", nil), wantErr: checkFailed},
				{name: "dot is no separator", req: req("get_account", "account:acme/42.bak", nil), wantErr: checkFailed},
			},
		},
		{
			name: "prefix ending with a separator",
			add:  func(b *attenuate.Builder) { b.ResourcePrefix("account:acme/42/") },
			text: `check if resource($r), $r.starts_with("account:acme/42/")`,
			calls: []call{
				{name: "below", req: req("get_account", "account:acme/42/invoices", nil), allowed: true},
				{name: "the bare account", req: getAccount42, wantErr: checkFailed},
				{name: "sibling", req: req("get_account", "account:acme/420/x", nil), wantErr: checkFailed},
			},
		},
		{
			name: "arg max",
			add:  func(b *attenuate.Builder) { b.ArgMax("refund", "amount", 500) },
			text: `check if tool($t), !($t == "refund") or tool("refund"), arg("amount", $a), $a <= 500`,
			calls: []call{
				{name: "at the bound", req: refund(500), allowed: true},
				{name: "below", req: refund(0), allowed: true},
				{name: "integral float from JSON", req: refund(499.0), allowed: true},
				{name: "above", req: refund(501), wantErr: checkFailed},
				{name: "far above", req: refund(int64(1) << 62), wantErr: checkFailed},
				{name: "missing", req: refund(nil), wantErr: checkFailed},
				{name: "other argument only", req: verifier.Request{Service: "billing", Tool: "refund", Operation: "write", Resource: "account:acme/42", Args: map[string]any{"amount_cents": 1}}, wantErr: checkFailed},
				{name: "string", req: refund("100"), wantErr: evalFailed},
				{name: "boolean", req: refund(true), wantErr: evalFailed},
				{name: "list", req: refund([]int{100}), wantErr: evalFailed},
				{name: "date", req: refund(t0), wantErr: evalFailed},
				{name: "other tool with a large amount", req: req("get_account", "account:acme/42", map[string]any{"amount": 100000}), allowed: true},
				{name: "other tool without arguments", req: getAccount42, allowed: true},
			},
		},
		{
			name: "arg min",
			add:  func(b *attenuate.Builder) { b.ArgMin("refund", "amount", 10) },
			text: `check if tool($t), !($t == "refund") or tool("refund"), arg("amount", $a), $a >= 10`,
			calls: []call{
				{name: "at the bound", req: refund(10), allowed: true},
				{name: "below", req: refund(9), wantErr: checkFailed},
				{name: "missing", req: refund(nil), wantErr: checkFailed},
				{name: "other tool", req: getAccount42, allowed: true},
			},
		},
		{
			name: "arg one of",
			add:  func(b *attenuate.Builder) { b.ArgOneOf("send_email", "to", "bob@acme.test", "carol@acme.test") },
			text: `check if tool($t), !($t == "send_email") or tool("send_email"), arg("to", $v), ["bob@acme.test", "carol@acme.test"].contains($v)`,
			calls: []call{
				{name: "allowed scalar", req: req("send_email", "account:acme/42", map[string]any{"to": "bob@acme.test"}), allowed: true},
				{name: "other scalar", req: req("send_email", "account:acme/42", map[string]any{"to": "mallory@evil.test"}), wantErr: checkFailed},
				{name: "list of allowed", req: req("send_email", "account:acme/42", map[string]any{"to": []string{"bob@acme.test", "carol@acme.test"}}), allowed: true},
				{name: "list with one allowed and one not", req: req("send_email", "account:acme/42", map[string]any{"to": []string{"bob@acme.test", "mallory@evil.test"}}), wantErr: checkFailed},
				{name: "list as []any with one not allowed", req: req("send_email", "account:acme/42", map[string]any{"to": []any{"mallory@evil.test", "bob@acme.test"}}), wantErr: checkFailed},
				{name: "empty list", req: req("send_email", "account:acme/42", map[string]any{"to": []string{}}), allowed: true},
				{name: "missing", req: req("send_email", "account:acme/42", nil), wantErr: checkFailed},
				{name: "wrong type", req: req("send_email", "account:acme/42", map[string]any{"to": 7}), wantErr: checkFailed},
				{name: "other tool", req: req("get_account", "account:acme/42", map[string]any{"to": "mallory@evil.test"}), allowed: true},
			},
		},
		{
			name: "arg one of integers",
			add:  func(b *attenuate.Builder) { b.ArgOneOf("page", "size", 10, 20) },
			text: `check if tool($t), !($t == "page") or tool("page"), arg("size", $v), [10, 20].contains($v)`,
			calls: []call{
				{name: "member", req: req("page", "account:acme/42", map[string]any{"size": 20}), allowed: true},
				{name: "float member", req: req("page", "account:acme/42", map[string]any{"size": 10.0}), allowed: true},
				{name: "non member", req: req("page", "account:acme/42", map[string]any{"size": 15}), wantErr: checkFailed},
				{name: "string of a member", req: req("page", "account:acme/42", map[string]any{"size": "10"}), wantErr: checkFailed},
			},
		},
		{
			name: "expires at",
			add:  func(b *attenuate.Builder) { b.ExpiresAt(t0.Add(5*time.Minute + 999*time.Millisecond)) },
			text: `check if time($time), $time <= 2026-11-22T10:05:00Z`,
			calls: []call{
				{name: "before", at: 4 * time.Minute, req: getAccount42, allowed: true},
				{name: "at the second", at: 5*time.Minute + 999*time.Millisecond, req: getAccount42, allowed: true},
				// An attenuation expiry that passed makes the token expired
				// (a token problem, 401), still located in block 1.
				{name: "a second after", at: 5*time.Minute + time.Second, req: getAccount42, wantErr: token.ErrExpired},
				{name: "long after", at: 50 * time.Minute, req: getAccount42, wantErr: token.ErrExpired},
			},
		},
		{
			name: "ttl",
			add:  func(b *attenuate.Builder) { b.TTL(10 * time.Minute) },
			text: `check if time($time), $time <= 2026-11-22T10:10:00Z`,
			calls: []call{
				{name: "within", at: 10 * time.Minute, req: getAccount42, allowed: true},
				{name: "after", at: 10*time.Minute + time.Second, req: getAccount42, wantErr: token.ErrExpired},
			},
		},
		{
			name: "delegated to restricts nothing",
			add:  func(b *attenuate.Builder) { b.DelegatedTo("helper") },
			calls: []call{
				{name: "anything the token allows", req: refund(10000), allowed: true},
			},
		},
		{
			name: "raw check",
			add: func(b *attenuate.Builder) {
				b.Check(`check if operation($o), !($o == "write") or resource($r), $r.starts_with("account:acme/42/drafts/")`)
			},
			text: `check if operation($o), !($o == "write") or resource($r), $r.starts_with("account:acme/42/drafts/")`,
			calls: []call{
				{name: "read anywhere", req: getAccount42, allowed: true},
				{name: "write in drafts", req: verifier.Request{Service: "crm", Tool: "save", Operation: "write", Resource: "account:acme/42/drafts/1"}, allowed: true},
				{name: "write elsewhere", req: refund(1), wantErr: checkFailed},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := attenuate.New(orig, append([]attenuate.Option{attenuate.WithClock(clockAt(t0))}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			tt.add(b)
			tok, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.calls {
				t.Run(c.name, func(t *testing.T) {
					v := a.verifier(t, t0.Add(c.at))
					if d := v.Authorize(context.Background(), orig, c.req); !d.Allowed {
						t.Fatalf("the original token denies this request (%s); the test proves nothing", d.Reason)
					}
					d := v.Authorize(context.Background(), tok, c.req)
					if d.Allowed != c.allowed {
						t.Fatalf("allowed = %v, want %v (%s)", d.Allowed, c.allowed, d.Reason)
					}
					if c.allowed {
						return
					}
					if !errors.Is(d.Err, c.wantErr) {
						t.Errorf("err = %v, want %v", d.Err, c.wantErr)
					}
					if d.FailedCheck == nil || d.FailedCheck.Block != 1 || d.FailedCheck.Check != 0 || d.FailedCheck.Text != tt.text {
						t.Errorf("failed check = %+v, want block 1 check 0 %q", d.FailedCheck, tt.text)
					}
				})
			}
		})
	}
}

// Delegation is an intersection: orchestrator → sub-agent → sub-sub-agent,
// each block narrowing the one before, none able to undo an earlier one.
func TestDelegationChain(t *testing.T) {
	a := newAuthority(t)
	orchestrator := a.mint(t)
	subAgent := build(t, orchestrator, func(b *attenuate.Builder) {
		b.Tools("get_account", "list_invoices", "refund").
			ResourcePrefix("account:acme/42").
			TTL(30 * time.Minute).
			DelegatedTo("billing-agent")
	})
	// delete_account is not allowed by block 1, and the later TTL does not
	// lift block 1's expiry: asking for more than one has is harmless.
	subSub := build(t, subAgent, func(b *attenuate.Builder) {
		b.Tools("refund", "list_invoices", "delete_account").
			ArgMax("refund", "amount", 100).
			TTL(time.Hour).
			DelegatedTo("refund-helper")
	})
	// The sub-sub-agent tries to take back what block 2 removed.
	rewiden := build(t, subSub, func(b *attenuate.Builder) { b.Tools("get_account") })

	deleteAccount := verifier.Request{Service: "crm", Tool: "delete_account", Operation: "write", Resource: "account:acme/42"}
	refund420 := refund(50)
	refund420.Resource = "account:acme/420"
	tests := []struct {
		name string
		at   time.Duration
		req  verifier.Request
		// which tokens allow the request; for denials, the failing block
		orchestrator, subAgent, subSub bool
		subSubBlock                    int
	}{
		{"get_account", 0, getAccount42, true, true, false, 2},
		{"small refund", 0, refund(50), true, true, true, 0},
		{"large refund", 0, refund(150), true, true, false, 2},
		{"refund on another account", 0, refund420, true, false, false, 1},
		{"list invoices", 0, listInvoices, true, true, true, 0},
		{"delete account", 0, deleteAccount, true, false, false, 1},
		{"after the sub-agent's expiry", 31 * time.Minute, listInvoices, true, false, false, 1},
		{"after the authority's expiry", 61 * time.Minute, listInvoices, false, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := a.verifier(t, t0.Add(tt.at))
			for _, tc := range []struct {
				name  string
				tok   string
				allow bool
			}{{"orchestrator", orchestrator, tt.orchestrator}, {"sub-agent", subAgent, tt.subAgent}, {"sub-sub-agent", subSub, tt.subSub}} {
				d := v.Authorize(context.Background(), tc.tok, tt.req)
				if d.Allowed != tc.allow {
					t.Errorf("%s: allowed = %v, want %v (%s)", tc.name, d.Allowed, tc.allow, d.Reason)
				}
			}
			d := v.Authorize(context.Background(), subSub, tt.req)
			if !tt.subSub && (d.FailedCheck == nil || d.FailedCheck.Block != tt.subSubBlock) {
				t.Errorf("sub-sub-agent: failed check %+v, want block %d", d.FailedCheck, tt.subSubBlock)
			}
			// Appending Tools("get_account") never allows more than subSub.
			if r := v.Authorize(context.Background(), rewiden, tt.req); r.Allowed && !d.Allowed {
				t.Errorf("a fourth block widened the token: %s", r.Reason)
			}
		})
	}
	if d := a.authorize(t, rewiden, getAccount42); d.Allowed || d.FailedCheck == nil || d.FailedCheck.Block != 2 {
		t.Errorf("re-widening get_account: allowed %v, failed %+v; want denied by block 2", d.Allowed, d.FailedCheck)
	}

	// Revoking the sub-agent's block revokes everything attenuated from it,
	// never the orchestrator's token.
	ids := revocationIDs(t, subAgent)
	v, err := verifier.New(verifier.Config{
		Keys:        token.NewKeySet(a.key.Public()),
		Revocations: revokeOnly(ids[1]),
		Now:         clockAt(t0),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		tok     string
		revoked bool
	}{{"orchestrator", orchestrator, false}, {"sub-agent", subAgent, true}, {"sub-sub-agent", subSub, true}, {"re-widened", rewiden, true}} {
		d := v.Authorize(context.Background(), tc.tok, listInvoices)
		if got := errors.Is(d.Err, verifier.ErrRevoked); got != tc.revoked {
			t.Errorf("%s: revoked = %v, want %v (%s)", tc.name, got, tc.revoked, d.Reason)
		}
	}
}

// revokeOnly is a RevocationChecker that revokes one ID.
type revokeOnly []byte

func (r revokeOnly) Revoked(ids [][]byte) int {
	for i, id := range ids {
		if string(id) == string(r) {
			return i
		}
	}
	return -1
}
