package verifier

import (
	"context"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// TestAudience: a token bound to a resource (token.MintRequest.Audience)
// is allowed only by a verifier that states that resource
// (Request.Audience); one that states another resource, or none (an
// older verifier, or one that knows nothing of audiences), denies it. A
// token bound to no resource is allowed whatever the verifier states, and
// an attenuation block that states the audience itself gains nothing.
func TestAudience(t *testing.T) {
	a := newTestAuthority(t)
	v := newVerifier(t, a)
	const crm = "https://crm.example.com/mcp"
	m, err := token.Mint(a.key, token.MintRequest{
		Subject:  token.Subject{Agent: "support-bot", Org: "acme"},
		Rights:   []token.Right{{Service: "crm", Tool: "*", Operation: "*", Resource: "account:acme/"}},
		TTL:      time.Hour,
		Audience: crm,
	})
	if err != nil {
		t.Fatal(err)
	}
	bound := m.Token
	free := a.mint(t, time.Hour)
	forged := appendBlock(t, bound, `audience("https://other.example.com/mcp");`)
	for _, c := range []struct {
		name     string
		tok      string
		audience string
		allowed  bool
	}{
		{"bound, its resource", bound, crm, true},
		{"bound, another resource", bound, "https://other.example.com/mcp", false},
		{"bound, a verifier stating no audience", bound, "", false},
		{"bound, audience stated by an attenuation block", forged, "https://other.example.com/mcp", false},
		{"bound, audience stated by an attenuation block, no verifier audience", forged, "", false},
		{"unbound, any resource", free, "https://other.example.com/mcp", true},
		{"unbound, no audience", free, "", true},
	} {
		req := readAccount
		req.Audience = c.audience
		d := v.Authorize(context.Background(), c.tok, req)
		if d.Allowed != c.allowed {
			t.Errorf("%s: allowed = %v (%v), want %v", c.name, d.Allowed, d.Err, c.allowed)
		}
	}
}
