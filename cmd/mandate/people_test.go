package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/authority"
)

const peopleAdmin = "admin-token-for-the-people-test-0123456789"

// realAuthority serves a real authority (Badger in a temporary folder) on
// 127.0.0.1 and returns its URL.
func realAuthority(t *testing.T) string {
	t.Helper()
	a, err := authority.Open(context.Background(), authority.Config{DataDir: t.TempDir(), AdminToken: peopleAdmin, AdminTokenOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(authority.NewHandler(a))
	t.Cleanup(func() {
		a.Shutdown()
		srv.Close()
		_ = a.Close()
	})
	return srv.URL
}

func TestPeopleCommands(t *testing.T) {
	url := realAuthority(t)
	c := newCLI(t)
	c.env[envToken] = peopleAdmin
	ppl := func(args ...string) []string {
		return append(append([]string{"authority", "people"}, args...), "--authority", url)
	}

	r := c.run("", ppl("add", "alice@acme.test", "--role", "approver", "--org", "acme")...)
	if r.code != 0 || !strings.Contains(r.stderr, "shown only now") {
		t.Fatalf("add: exit %d, stderr %q", r.code, r.stderr)
	}
	var added struct {
		Name, Role, Credential string
		Orgs                   []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &added); err != nil || added.Role != "approver" || !strings.HasPrefix(added.Credential, "mp_") || len(added.Orgs) != 1 {
		t.Fatalf("add printed %q (%v)", r.stdout, err)
	}
	out := c.ok("", ppl("list")...)
	if !strings.Contains(out, "alice@acme.test") || strings.Contains(out, "mp_") {
		t.Fatalf("list: %s", out)
	}

	wantFail(t, c.run("", ppl("add", "bob@acme.test")...), exitUsage, "--role is required")
	wantFail(t, c.run("", ppl("add", "bob@acme.test", "--role", "approver")...), exitFailure, "needs at least one org")
	wantFail(t, c.run("", ppl("add", "alice@acme.test", "--role", "admin")...), exitFailure, "exists")
	wantFail(t, c.run("", ppl("remove")...), exitUsage, "give the person's name")
	wantFail(t, c.run("", "authority", "people", "list"), exitUsage, "--authority URL is required")

	// A person's credential is not the admin's.
	c.env[envToken] = added.Credential
	wantFail(t, c.run("", ppl("list")...), exitFailure, "only the admin may list people")
	c.env[envToken] = peopleAdmin

	var reset struct{ Credential string }
	if err := json.Unmarshal([]byte(c.ok("", ppl("reset", "alice@acme.test")...)), &reset); err != nil || reset.Credential == added.Credential {
		t.Fatalf("reset: %+v %v", reset, err)
	}
	if out := c.ok("", ppl("remove", "alice@acme.test")...); !strings.Contains(out, "removed alice@acme.test") {
		t.Fatalf("remove: %q", out)
	}
	wantFail(t, c.run("", ppl("remove", "alice@acme.test")...), exitFailure, "no such person")
}
