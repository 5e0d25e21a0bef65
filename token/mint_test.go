package token_test

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

func TestMintValidation(t *testing.T) {
	long := strings.Repeat("a", token.MaxSubjectBytes+1)
	longRes := strings.Repeat("r", token.MaxStringBytes+1)
	manyRights := func() []token.Right {
		var rs []token.Right
		for i := 0; i <= token.MaxRightsPerToken; i++ {
			rs = append(rs, token.Right{Service: "crm", Tool: "*", Operation: "*", Resource: strings.Repeat("x", i)})
		}
		return rs
	}
	tests := []struct {
		name   string
		modify func(r *token.MintRequest)
	}{
		{"empty agent", func(r *token.MintRequest) { r.Subject.Agent = "" }},
		{"no rights", func(r *token.MintRequest) { r.Rights = nil }},
		{"too many rights", func(r *token.MintRequest) { r.Rights = manyRights() }},
		{"service *", func(r *token.MintRequest) { r.Rights[0].Service = "*" }},
		{"empty service", func(r *token.MintRequest) { r.Rights[0].Service = "" }},
		{"empty tool", func(r *token.MintRequest) { r.Rights[0].Tool = "" }},
		{"empty operation", func(r *token.MintRequest) { r.Rights[0].Operation = "" }},
		{"ttl 0", func(r *token.MintRequest) { r.TTL = 0 }},
		{"negative ttl", func(r *token.MintRequest) { r.TTL = -time.Minute }},
		{"ttl over MaxTTL", func(r *token.MintRequest) { r.TTL = token.MaxTTL + time.Second }},
		{"newline in agent", func(r *token.MintRequest) { r.Subject.Agent = "bot\nsession(\"x\")" }},
		{"escape in user", func(r *token.MintRequest) { r.Subject.User = "\x1b[2Jalice" }},
		{"NUL in org", func(r *token.MintRequest) { r.Subject.Org = "acme\x00" }},
		{"tab in session", func(r *token.MintRequest) { r.Subject.Session = "s\t1" }},
		{"control character in resource", func(r *token.MintRequest) { r.Rights[0].Resource = "account:\r42" }},
		{"control character in tool", func(r *token.MintRequest) { r.Rights[0].Tool = "get\x7f" }},
		{"invalid UTF-8 in agent", func(r *token.MintRequest) { r.Subject.Agent = "bot\xff" }},
		{"oversize agent", func(r *token.MintRequest) { r.Subject.Agent = long }},
		{"oversize user", func(r *token.MintRequest) { r.Subject.User = long }},
		{"oversize org", func(r *token.MintRequest) { r.Subject.Org = long }},
		{"oversize session", func(r *token.MintRequest) { r.Subject.Session = long }},
		{"oversize resource", func(r *token.MintRequest) { r.Rights[0].Resource = longRes }},
		{"oversize service", func(r *token.MintRequest) { r.Rights[0].Service = longRes }},
	}
	key := testKey(1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := baseRequest()
			tt.modify(&req)
			if err := req.Validate(); !errors.Is(err, token.ErrBadRequest) {
				t.Fatalf("Validate = %v, want ErrBadRequest", err)
			}
			if m, err := token.Mint(key, req); !errors.Is(err, token.ErrBadRequest) || m != nil {
				t.Fatalf("Mint = %v, %v; want ErrBadRequest", m, err)
			}
		})
	}
	// The limits themselves are accepted.
	req := baseRequest()
	req.TTL = token.MaxTTL
	req.Subject.Agent = strings.Repeat("a", token.MaxSubjectBytes)
	req.Rights = manyRights()[:token.MaxRightsPerToken]
	req.Rights[0].Resource = strings.Repeat("r", token.MaxStringBytes)
	m, err := token.Mint(key, req)
	if err != nil {
		t.Fatalf("Mint at the limits: %v", err)
	}
	if _, err := token.Parse(m.Raw); err != nil {
		t.Fatalf("a token minted at the limits does not parse: %v", err)
	}
	if _, err := token.Mint(token.SigningKey{}, baseRequest()); err == nil {
		t.Fatal("Mint without a key succeeded")
	}
}

func TestMint(t *testing.T) {
	key := testKey(1)
	req := baseRequest()
	req.Now = t0.Add(1500 * time.Millisecond) // expiry must round down
	req.Rights = append(req.Rights, req.Rights[0], req.Rights[1], req.Rights[0])
	m, err := token.Mint(key, req)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(time.Second + 15*time.Minute); !m.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v (truncated to the second)", m.ExpiresAt, want)
	}
	if len(m.Rights) != 2 || m.Rights[0] != req.Rights[0] || m.Rights[1] != req.Rights[1] {
		t.Errorf("Rights = %v, want the two distinct rights in order", m.Rights)
	}
	if m.KeyID != key.ID || len(m.RevocationIDs) != 1 || m.Subject != req.Subject {
		t.Errorf("Minted = %+v", m)
	}
	if raw, err := token.Decode(m.Token); err != nil || !bytes.Equal(raw, m.Raw) {
		t.Errorf("Token is not the encoding of Raw: %v", err)
	}
	u, err := token.ParseString(m.Token)
	if err != nil {
		t.Fatal(err)
	}
	v, err := u.Verify(token.NewKeySet(key.Public()), t0)
	if err != nil {
		t.Fatal(err)
	}
	if !v.ExpiresAt().Equal(m.ExpiresAt) || len(v.Rights()) != 2 || v.Subject() != m.Subject {
		t.Errorf("verified token says %v %v %v", v.ExpiresAt(), v.Rights(), v.Subject())
	}
	if !bytes.Equal(v.RevocationIDs()[0], m.RevocationIDs[0]) {
		t.Error("Minted.RevocationIDs differ from the token's")
	}
	blocks := u.UnsafeBlocks()
	if len(blocks) != 1 || len(blocks[0].Checks) != 1 {
		t.Fatalf("authority block has %d checks, want the expiry check alone", len(blocks[0].Checks))
	}
	if got, want := blocks[0].Checks[0].String(), "check if time($time), $time <= 2026-11-22T10:15:01Z"; got != want {
		t.Errorf("expiry check = %q, want %q", got, want)
	}
	// Two mints of the same request sign different tokens.
	m2, err := token.Mint(key, req)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(m.RevocationIDs[0], m2.RevocationIDs[0]) {
		t.Error("two mints share a revocation ID")
	}
}

func TestMintSession(t *testing.T) {
	key := testKey(1)
	req := baseRequest()
	req.Subject.Session = ""
	req.Subject.User, req.Subject.Org = "", ""
	req.Now = time.Time{}
	before := time.Now().Truncate(time.Second)
	m, err := token.Mint(key, req)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^s_[a-z2-7]{26}$`).MatchString(m.Subject.Session) {
		t.Errorf("generated session %q is not s_ and 26 base32 characters", m.Subject.Session)
	}
	m2, err := token.Mint(key, req)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Subject.Session == m.Subject.Session {
		t.Error("two mints generated the same session ID")
	}
	// A zero Now means the wall clock.
	if m.ExpiresAt.Before(before.Add(req.TTL)) || m.ExpiresAt.After(time.Now().Add(req.TTL)) {
		t.Errorf("ExpiresAt %v is not TTL after the wall clock", m.ExpiresAt)
	}
	u, err := token.Parse(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	v, err := u.Verify(token.NewKeySet(key.Public()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Subject(); got.Session != m.Subject.Session || got.User != "" || got.Org != "" {
		t.Errorf("Subject = %+v, want session %q and no user or org", got, m.Subject.Session)
	}
	// Omitted user and org are omitted facts, not empty strings.
	for _, f := range u.UnsafeBlocks()[0].Facts {
		if f.Name == token.FactUser || f.Name == token.FactOrg {
			t.Errorf("unexpected fact %s", f)
		}
	}
}

func TestRightCovers(t *testing.T) {
	r := token.Right{Service: "crm", Tool: "get_account", Operation: "*", Resource: "account:acme/42"}
	tests := []struct {
		name               string
		svc, tool, op, res string
		want               bool
	}{
		{"exact", "crm", "get_account", "read", "account:acme/42", true},
		{"plain prefix covers a longer ID", "crm", "get_account", "read", "account:acme/420", true},
		{"sub-resource", "crm", "get_account", "write", "account:acme/42/notes", true},
		{"other service", "billing", "get_account", "read", "account:acme/42", false},
		{"other tool", "crm", "delete_account", "read", "account:acme/42", false},
		{"shorter resource", "crm", "get_account", "read", "account:acme/4", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Covers(tt.svc, tt.tool, tt.op, tt.res); got != tt.want {
				t.Fatalf("Covers = %v, want %v", got, tt.want)
			}
		})
	}
}
