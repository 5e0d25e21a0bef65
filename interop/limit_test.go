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

// TestLimitFailsClosedInRust: a usage limit written by mandate fails closed
// in Biscuit's Rust implementation, which enforces no limits: every call
// is denied until the authorizer states the limit's limit_ok fact. A
// holder's block that states limit_ok itself satisfies only its own checks
// in Rust, and mandate refuses such a token outright.
func TestLimitFailsClosedInRust(t *testing.T) {
	m := mint(t)
	pub := pubHex(testKey())
	b, err := attenuate.New(m.Token)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := b.LimitCalls("refund", 20, time.Hour).Build()
	if err != nil {
		t.Fatal(err)
	}
	now := at(1, 0)
	call := verifier.Request{Service: "billing", Tool: "refund", Operation: "write", Resource: "account:acme/7", Args: map[string]any{"amount": 50}}
	enforced := authorizeOp(t, pub, tok, now, call)
	enforced.Code = `limit_ok("refund", "calls", "", 20, 3600);` + "\n" + enforced.Code
	res := rust(t,
		authorizeOp(t, pub, tok, now, call),
		enforced,
		op{Op: "append", PublicKey: pub, Token: tok, Code: `limit_ok("refund", "calls", "", 20, 3600);`},
	)
	for i, want := range []bool{false, true} {
		if r := must(t, "authorize", res[i]); r.Allowed != want {
			t.Errorf("case %d: Rust allowed=%v, want %v (%s)", i, r.Allowed, want, r.Reason)
		}
	}
	forged := must(t, "append", res[2]).Token
	if r := must(t, "authorize", rust(t, authorizeOp(t, pub, forged, now, call))[0]); r.Allowed {
		t.Error("Rust: a holder's appended limit_ok fact lifted the delegator's limit")
	}

	// mandate: denied without an enforcer; the forged token refused.
	v, err := verifier.New(verifier.Config{Keys: token.NewKeySet(testKey().Public()), InsecureNoRevocation: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if d := v.Authorize(context.Background(), tok, call); d.Allowed || !errors.Is(d.Err, verifier.ErrLimitUnenforced) {
		t.Errorf("mandate without an enforcer: %v, want ErrLimitUnenforced", d.Err)
	}
	if d := v.Authorize(context.Background(), forged, call); d.Allowed || !errors.Is(d.Err, token.ErrMalformed) {
		t.Errorf("mandate, a block stating limit_ok: %v, want ErrMalformed", d.Err)
	}
}
