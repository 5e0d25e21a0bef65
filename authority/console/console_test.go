package console_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/token"
)

// Every page renders for every role, with no secret in it.
func TestPagesRender(t *testing.T) {
	e := newEnv(t)
	m := e.mint("ops/s1", "orchestrator", "acme")
	for name := range e.creds {
		b := e.signIn(name)
		pages := []string{"/console/sessions", "/console/sessions?q=orch&status=active", "/console/revocations", "/console/keys",
			"/console/approvals", "/console/approvals?status=any", "/console/approvals?session=ops/s1&call_digest=00", "/console/decisions", "/console/decisions?outcome=denied"}
		if name != "olga@other.test" {
			pages = append(pages, "/console/session?id=ops/s1")
		}
		if name == "root@acme.test" {
			pages = append(pages, "/console/clients", "/console/revoke?session=ops/s1", "/console/revoke?session=ops/s1&hop="+hex.EncodeToString(m.RevocationIDs[0]))
		}
		for _, p := range pages {
			status, body := b.get(p)
			if status != http.StatusOK {
				t.Errorf("%s GET %s: %d\n%s", name, p, status, body)
				continue
			}
			for secret, what := range map[string]string{m.Token: "a token", adminToken: "the admin token", e.creds[name]: "a credential"} {
				if strings.Contains(body, secret) {
					t.Errorf("%s GET %s renders %s", name, p, what)
				}
			}
		}
	}
}

// Roles: a viewer and an approver see their orgs' sessions and no action;
// a person of another org sees nothing of acme; the server refuses their
// posts whatever the page drew.
func TestRoles(t *testing.T) {
	e := newEnv(t)
	m := e.mint("ops/s1", "orchestrator", "acme")
	e.mint("ops/s2", "other-bot", "other")
	hop := hex.EncodeToString(m.RevocationIDs[0])

	admin := e.signIn("root@acme.test")
	_, body := admin.get("/console/session?id=ops/s1")
	if !strings.Contains(body, `id="revoke-session"`) || !strings.Contains(body, `data-revoke="`+hop+`"`) {
		t.Fatal("the admin's session page has no revoke buttons")
	}
	_, body = admin.get("/console/sessions")
	if !strings.Contains(body, `data-session="ops/s1"`) || !strings.Contains(body, `data-session="ops/s2"`) {
		t.Fatal("the admin does not see every session")
	}

	for _, name := range []string{"vic@acme.test", "ann@acme.test"} {
		b := e.signIn(name)
		_, body := b.get("/console/sessions")
		if !strings.Contains(body, `data-session="ops/s1"`) || strings.Contains(body, `data-session="ops/s2"`) {
			t.Errorf("%s: the sessions list must show acme's session and not other's", name)
		}
		status, body := b.get("/console/session?id=ops/s1")
		if status != 200 {
			t.Fatalf("%s: session page %d", name, status)
		}
		for _, button := range []string{`id="revoke-session"`, `data-revoke=`, `id="rotate"`} {
			if strings.Contains(body, button) {
				t.Errorf("%s sees %s", name, button)
			}
		}
		if status, _ := b.get("/console/session?id=ops/s2"); status != http.StatusForbidden {
			t.Errorf("%s reads another org's session: %d, want 403", name, status)
		}
		if status, _ := b.get("/console/clients"); status != http.StatusForbidden {
			t.Errorf("%s reads the clients: %d, want 403", name, status)
		}
		// The posts are refused by the server, with a valid CSRF token.
		for path, form := range map[string]url.Values{
			"/console/revoke":      {"session": {"ops/s1"}, "confirm": {"yes"}},
			"/console/revoke?hop=": {"session": {"ops/s1"}, "hop": {hop}, "confirm": {"yes"}},
			"/console/keys/rotate": {"confirm": {"yes"}},
		} {
			if status := b.post(strings.TrimSuffix(path, "?hop="), form); status != http.StatusForbidden {
				t.Errorf("%s POST %s: %d, want 403", name, path, status)
			}
		}
	}
	vic := e.signIn("vic@acme.test")
	if status := vic.post("/console/approvals/decide", url.Values{"id": {"ap_x"}, "decision": {"approve"}}); status != http.StatusForbidden {
		t.Errorf("a viewer's approval post: %d, want 403", status)
	}
	if e.a.Revoked(m.RevocationIDs) >= 0 || len(e.a.Keys()) != 1 {
		t.Fatal("a viewer's or approver's post changed something")
	}

	// The admin's confirmed post revokes; unconfirmed does not.
	if status := admin.post("/console/revoke", url.Values{"session": {"ops/s1"}}); status != http.StatusBadRequest {
		t.Fatalf("unconfirmed revoke: %d, want 400", status)
	}
	if status := admin.post("/console/revoke", url.Values{"session": {"ops/s1"}, "confirm": {"yes"}}); status != http.StatusSeeOther {
		t.Fatalf("admin revoke: %d", status)
	}
	if e.a.Revoked(m.RevocationIDs) < 0 {
		t.Fatal("the session was not revoked")
	}
	v, err := e.a.Session(context.Background(), e.admin, "ops/s1")
	if err != nil || v.Status != "revoked" {
		t.Fatalf("session after revoke: %+v %v", v, err)
	}
}

// Sessions page: filter and page through many sessions.
func TestSessionsFilterAndPaging(t *testing.T) {
	e := newEnv(t)
	for i := range 120 {
		org := "acme"
		if i%3 == 0 {
			org = "globex"
		}
		e.mint(fmt.Sprintf("ops/s%03d", i), fmt.Sprintf("bot-%d", i%7), org)
	}
	b := e.signIn("root@acme.test")
	seen := map[string]bool{}
	next := "/console/sessions?org=globex"
	for pages := 0; next != ""; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		_, body := b.get(next)
		for _, part := range strings.Split(body, `data-session="`)[1:] {
			id := part[:strings.IndexByte(part, '"')]
			if seen[id] {
				t.Fatalf("session %s on two pages", id)
			}
			seen[id] = true
		}
		next = ""
		if i := strings.Index(body, `id="next"`); i >= 0 {
			href := body[strings.LastIndex(body[:i], `href="`)+6:]
			next = strings.ReplaceAll(href[:strings.IndexByte(href, '"')], "&amp;", "&")
		}
	}
	if len(seen) != 40 {
		t.Fatalf("org=globex listed %d sessions over its pages, want 40", len(seen))
	}
	_, body := b.get("/console/sessions?q=bot-6")
	if n := strings.Count(body, `data-session="`); n != 17 {
		t.Fatalf("q=bot-6 lists %d sessions, want 17", n)
	}
}

// The session page shows the usage of the session's limits.
func TestSessionUsage(t *testing.T) {
	e := newEnv(t)
	m := e.mint("ops/s1", "orchestrator", "acme")
	b, err := attenuate.New(m.Token)
	if err != nil {
		t.Fatal(err)
	}
	limited, err := b.LimitCalls("read_file", 10, time.Hour).Build()
	if err != nil {
		t.Fatal(err)
	}
	u, err := token.ParseString(limited)
	if err != nil {
		t.Fatal(err)
	}
	id := token.LimitID(u.RevocationIDs()[1], 0)
	if _, _, err := e.a.Lease(context.Background(), authority.LeaseRequest{Token: limited, LimitID: id, Need: 3, Want: 3}); err != nil {
		t.Fatal(err)
	}
	_, body := e.signIn("vic@acme.test").get("/console/session?id=ops/s1")
	i := strings.Index(body, `data-limit="`+id+`"`)
	if i < 0 {
		t.Fatalf("the session page has no row for limit %s:\n%s", id, body)
	}
	row := body[i:]
	row = row[:strings.Index(row, "</tr>")]
	for _, want := range []string{"calls of read_file, at most 10 per 1h0m0s", "<strong>3</strong> / 10"} {
		if !strings.Contains(row, want) {
			t.Errorf("limit row lacks %q:\n%s", want, row)
		}
	}
}
