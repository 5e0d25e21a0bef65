package authority_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/token"
)

// TestInvisibleNamesAndRelativeResources: over the HTTP API, ceilings and
// mint requests refuse names holding format or separator characters and
// resources with relative or empty segments, even where a ceiling's prefix
// would otherwise cover them.
func TestInvisibleNamesAndRelativeResources(t *testing.T) {
	e := newEnv(t)
	client := e.register("platform", crmCeiling) // resource prefix "account:acme/"
	withPrefix := func(p string) ceiling { c := crmCeiling; c.ResourcePrefixes = []string{p}; return c }
	withOrg := func(o string) ceiling { c := crmCeiling; c.Orgs = []string{o}; return c }
	for name, c := range map[string]ceiling{
		"prefix with dot-dot":         withPrefix("account:acme/../"),
		"prefix with empty segment":   withPrefix("account:acme//"),
		"prefix percent-encoded":      withPrefix("account:acme/%2e%2e/"),
		"org with RLO":                withOrg("ac\u202eme"),
		"org with line separator":     withOrg("acme\u2028"),
		"org with zero-width space":   withOrg("ac\u200bme"),
		"org with non-breaking space": withOrg("ac\u00a0me"),
	} {
		r := e.do(http.MethodPost, "/v1/clients", adminToken, map[string]any{"client_id": "c" + itoa(uint64(len(name))), "ceiling": c})
		r.wantError(t, http.StatusBadRequest, "invalid_request")
		t.Logf("%s: %s", name, r.body)
	}

	mintWith := func(mod func(*mintReq)) resp {
		m := crmMint("")
		m.Rights = []token.Right{{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"}}
		mod(&m)
		return e.do(http.MethodPost, "/v1/tokens", client, m)
	}
	for name, mod := range map[string]func(*mintReq){
		"resource with dot-dot":      func(m *mintReq) { m.Rights[0].Resource = "account:acme/../globex/1" },
		"resource percent-encoded":   func(m *mintReq) { m.Rights[0].Resource = "account:acme/%2E%2E/globex/1" },
		"resource empty segment":     func(m *mintReq) { m.Rights[0].Resource = "account:acme//globex" },
		"agent with RLO":             func(m *mintReq) { m.Agent = "support-bot\u202e" },
		"user with BOM":              func(m *mintReq) { m.User = "\ufeffalice@acme.test" },
		"session with ZWSP":          func(m *mintReq) { m.Session = "s_\u200b1" },
		"tool with line separator":   func(m *mintReq) { m.Rights[0].Tool = "get_account\u2028" },
		"operation with ideographic": func(m *mintReq) { m.Rights[0].Operation = "read\u3000" },
	} {
		r := mintWith(mod)
		r.wantError(t, http.StatusBadRequest, "invalid_request")
		if !strings.Contains(string(r.body), "segment") && !strings.Contains(string(r.body), "U+") {
			t.Errorf("%s: %s does not say what is wrong", name, r.body)
		}
	}
	if r := mintWith(func(*mintReq) {}); r.status != http.StatusCreated {
		t.Fatalf("plain mint: %d %s", r.status, r.body)
	}
}
