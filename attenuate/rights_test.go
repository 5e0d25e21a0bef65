package attenuate_test

import (
	"errors"
	"testing"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// TestRights: the Rights caveat allows exactly the calls one of its rights
// covers (and the token's own rights still apply), never wider.
func TestRights(t *testing.T) {
	a := newAuthority(t)
	tok := build(t, a.mint(t), func(b *attenuate.Builder) {
		b.Rights(
			token.Right{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"},
			token.Right{Service: "billing", Tool: "*", Operation: "*", Resource: ""},
			token.Right{Service: "github", Tool: "*", Operation: "*", Resource: ""}, // not in the token
		)
	})
	for _, c := range []struct {
		req     verifier.Request
		allowed bool
	}{
		{verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42/x"}, true},
		{verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/7"}, false},
		{verifier.Request{Service: "crm", Tool: "get_account", Operation: "write", Resource: "account:acme/42"}, false},
		{verifier.Request{Service: "crm", Tool: "list_accounts", Operation: "read", Resource: "account:acme/42"}, false},
		{verifier.Request{Service: "billing", Tool: "refund", Operation: "write", Resource: "account:acme/1"}, true},
		{verifier.Request{Service: "billing", Tool: "refund", Operation: "write", Resource: "account:globex/1"}, false}, // the token's right
		{verifier.Request{Service: "github", Tool: "read_file", Operation: "read", Resource: "repo:acme/api"}, false},   // the token's right
	} {
		if d := a.authorize(t, tok, c.req); d.Allowed != c.allowed {
			t.Errorf("%+v: allowed %v (%v), want %v", c.req, d.Allowed, d.Err, c.allowed)
		}
	}
	nine := make([]token.Right, token.MaxQueriesPerCheck+1)
	for i := range nine {
		nine[i] = token.Right{Service: "crm", Tool: "*", Operation: "*"}
	}
	for _, bad := range [][]token.Right{nil, nine, {{Service: "*", Tool: "*", Operation: "*"}}, {{Service: "crm", Tool: "", Operation: "*"}}} {
		b, err := attenuate.New(a.mint(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Rights(bad...).Build(); !errors.Is(err, attenuate.ErrInvalidCaveat) {
			t.Errorf("Rights(%+v): %v, want ErrInvalidCaveat", bad, err)
		}
	}
}

// TestAudienceCaveat: a token attenuated with Audience is accepted only by
// a verifier that states that audience.
func TestAudienceCaveat(t *testing.T) {
	a := newAuthority(t)
	const crm = "https://crm.example.com/mcp"
	tok := build(t, a.mint(t), func(b *attenuate.Builder) { b.Audience(crm) })
	req := verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"}
	for aud, allowed := range map[string]bool{crm: true, "https://other.example/mcp": false, "": false} {
		req.Audience = aud
		if d := a.authorize(t, tok, req); d.Allowed != allowed {
			t.Errorf("audience %q: allowed %v (%v), want %v", aud, d.Allowed, d.Err, allowed)
		}
	}
}
