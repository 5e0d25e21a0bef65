package authority_test

import (
	"net/http"
	"strings"
	"testing"
)

// addPerson creates a person through the API and returns its credential.
func (e *env) addPerson(name, role string, orgs ...string) string {
	e.t.Helper()
	r := e.do(http.MethodPost, "/v1/people", adminToken, map[string]any{"name": name, "role": role, "orgs": orgs})
	if r.status != http.StatusCreated {
		e.t.Fatalf("add person %s: %d %s", name, r.status, r.body)
	}
	var out struct {
		Credential string `json:"credential"`
	}
	r.json(e.t, &out)
	if out.Credential == "" {
		e.t.Fatalf("no credential in %s", r.body)
	}
	return out.Credential
}

func TestPeopleAPI(t *testing.T) {
	e := newEnv(t)
	cred := e.addPerson("alice@acme.test", "approver", "acme")
	if cc := e.do(http.MethodPost, "/v1/people", adminToken, map[string]any{"name": "bob@acme.test", "role": "viewer", "orgs": []string{"acme"}}); cc.header.Get("Cache-Control") != "no-store" {
		t.Errorf("a response with a credential has Cache-Control %q", cc.header.Get("Cache-Control"))
	}

	// The person reads itself, nobody else.
	r := e.do(http.MethodGet, "/v1/people/alice@acme.test", cred, nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"role":"approver"`) || strings.Contains(string(r.body), "mp_") {
		t.Fatalf("GET self: %d %s", r.status, r.body)
	}
	e.do(http.MethodGet, "/v1/people/bob@acme.test", cred, nil).wantError(t, http.StatusForbidden, "insufficient_scope")
	e.do(http.MethodGet, "/v1/people", cred, nil).wantError(t, http.StatusForbidden, "insufficient_scope")
	e.do(http.MethodPost, "/v1/people", cred, map[string]any{"name": "eve", "role": "admin"}).wantError(t, http.StatusForbidden, "insufficient_scope")

	// Bad input: 400 with a reason, nothing stored.
	e.do(http.MethodPost, "/v1/people", adminToken, map[string]any{"name": "carol", "role": "root"}).wantError(t, http.StatusBadRequest, "invalid_request")
	e.do(http.MethodPost, "/v1/people", adminToken, map[string]any{"name": "carol", "role": "approver"}).wantError(t, http.StatusBadRequest, "invalid_request")
	e.do(http.MethodPost, "/v1/people", adminToken, map[string]any{"name": "alice@acme.test", "role": "admin"}).wantError(t, http.StatusConflict, "already_exists")
	var list struct {
		People []struct {
			Name string `json:"name"`
		} `json:"people"`
	}
	e.do(http.MethodGet, "/v1/people", adminToken, nil).json(t, &list)
	if len(list.People) != 2 {
		t.Fatalf("people after refused adds: %+v", list.People)
	}

	// Reset: the old credential dies at once.
	r = e.do(http.MethodPost, "/v1/people/alice@acme.test/reset", adminToken, nil)
	var reset struct {
		Credential string `json:"credential"`
	}
	r.json(t, &reset)
	e.do(http.MethodGet, "/v1/people/alice@acme.test", cred, nil).wantError(t, http.StatusUnauthorized, "invalid_token")
	if r := e.do(http.MethodGet, "/v1/people/alice@acme.test", reset.Credential, nil); r.status != http.StatusOK {
		t.Fatalf("new credential: %d %s", r.status, r.body)
	}
	// Delete: so does the new one.
	if r := e.do(http.MethodDelete, "/v1/people/alice@acme.test", adminToken, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	e.do(http.MethodGet, "/v1/people/alice@acme.test", reset.Credential, nil).wantError(t, http.StatusUnauthorized, "invalid_token")
	e.do(http.MethodDelete, "/v1/people/alice@acme.test", adminToken, nil).wantError(t, http.StatusNotFound, "not_found")
}

// A person who is not an admin owns nothing: the admin's sessions (client
// ID "") are not theirs to read, revoke or mint into.
func TestPersonIsNotAClientOrTheAdmin(t *testing.T) {
	e := newEnv(t)
	m := e.mint(adminToken, crmMint("ops/s1"))
	for _, role := range []string{"approver", "viewer"} {
		cred := e.addPerson(role+"@acme.test", role, "acme")
		e.do(http.MethodPost, "/v1/tokens", cred, crmMint("ops/s2")).wantError(t, http.StatusForbidden, "insufficient_scope")
		e.do(http.MethodGet, "/v1/sessions/ops/s1", cred, nil).wantError(t, http.StatusForbidden, "insufficient_scope")
		e.do(http.MethodPost, "/v1/revocations", cred, map[string]string{"session": "ops/s1"}).wantError(t, http.StatusForbidden, "insufficient_scope")
		e.do(http.MethodPost, "/v1/revocations", cred, map[string]string{"agent": "support-bot"}).wantError(t, http.StatusForbidden, "insufficient_scope")
		e.do(http.MethodPost, "/v1/revocations", cred, map[string]string{"revocation_id": m.RevocationIDs[0]}).wantError(t, http.StatusForbidden, "insufficient_scope")
		e.do(http.MethodPost, "/v1/clients", cred, map[string]any{"client_id": "x", "ceiling": crmCeiling}).wantError(t, http.StatusForbidden, "insufficient_scope")
		e.do(http.MethodPost, "/v1/keys/rotate", cred, nil).wantError(t, http.StatusForbidden, "insufficient_scope")
		if in := e.introspect(cred, m.Token); in["active"] != false {
			t.Fatalf("%s introspected an admin token: %v", role, in)
		}
	}
	if f := e.feed(0); len(f.Entries) != 0 {
		t.Fatalf("a person revoked something: %+v", f.Entries)
	}
	// A person with the admin role is the admin, under its own name.
	cred := e.addPerson("root@acme.test", "admin")
	if r := e.do(http.MethodGet, "/v1/sessions/ops/s1", cred, nil); r.status != http.StatusOK {
		t.Fatalf("admin person reads a session: %d %s", r.status, r.body)
	}
}
