package interop

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// TestApprovalCaveatInRust: an approval caveat written by mandate fails
// closed in Biscuit's Rust implementation, which knows nothing of
// approvals: it denies until the authorizer states approved(...), and a
// block a holder appends in Rust stating it does not lift the delegator's
// requirement (Biscuit scoping, in both implementations).
func TestApprovalCaveatInRust(t *testing.T) {
	m := mint(t)
	pub := pubHex(testKey())
	b, err := attenuate.New(m.Token)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := b.RequireApproval("refund", attenuate.Above("amount", 100), attenuate.ApprovedBy("bob@acme.test")).Build()
	if err != nil {
		t.Fatal(err)
	}
	now := at(1, 0)
	call := verifier.Request{Service: "billing", Tool: "refund", Operation: "write", Resource: "account:acme/7", Args: map[string]any{"amount": 500}}
	small := verifier.Request{Service: "billing", Tool: "refund", Operation: "write", Resource: "account:acme/7", Args: map[string]any{"amount": 50}}
	approvedBy := func(who string) op {
		o := authorizeOp(t, pub, tok, now, call)
		o.Code = `approved("` + who + `", "acme");` + "\n" + o.Code
		return o
	}
	res := rust(t,
		authorizeOp(t, pub, tok, now, small),
		authorizeOp(t, pub, tok, now, call),
		approvedBy("bob@acme.test"),
		approvedBy("mallory@acme.test"),
		op{Op: "append", PublicKey: pub, Token: tok, Code: `approved("bob@acme.test", "acme");`},
	)
	for i, want := range []bool{true, false, true, false} {
		if r := must(t, "authorize", res[i]); r.Allowed != want {
			t.Errorf("case %d: Rust allowed=%v, want %v (%s)", i, r.Allowed, want, r.Reason)
		}
	}
	forged := must(t, "append", res[4]).Token
	if r := must(t, "authorize", rust(t, authorizeOp(t, pub, forged, now, call))[0]); r.Allowed {
		t.Error("Rust: a holder's appended approved fact lifted the delegator's requirement")
	}

	// mandate decides the same.
	v, err := verifier.New(verifier.Config{Keys: token.NewKeySet(testKey().Public()), InsecureNoRevocation: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if d := v.Authorize(context.Background(), tok, small); !d.Allowed {
		t.Errorf("mandate denied the small refund: %s", d.Reason)
	}
	for _, tk := range []string{tok, forged} {
		if d := v.Authorize(context.Background(), tk, call); d.Allowed || !errors.Is(d.Err, verifier.ErrApprovalRequired) {
			t.Errorf("mandate: %v, want ErrApprovalRequired", d.Err)
		}
	}
}
