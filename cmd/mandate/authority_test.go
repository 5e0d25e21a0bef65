package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// TestAgainstAuthority drives the online commands against a real authority
// on 127.0.0.1: register a client, mint within and beyond its ceiling,
// attenuate, verify --authority, and every kind of revoke.
func TestAgainstAuthority(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an authority")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	auth, err := startEmbeddedAuthority(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := auth.Close(); err != nil {
			t.Error(err)
		}
	})
	admin := &authClient{base: auth.URL, bearer: auth.AdminToken, http: http.DefaultClient}
	var client struct {
		Secret string `json:"client_secret"`
	}
	if err := admin.do(ctx, http.MethodPost, "/v1/clients", map[string]any{"client_id": "platform", "ceiling": map[string]any{
		"services": []string{"github"}, "tools": []string{"*"}, "operations": []string{"*"},
		"resource_prefixes": []string{"repo:acme/"}, "orgs": []string{"acme"}, "max_ttl_seconds": 3600,
	}}, &client); err != nil {
		t.Fatal(err)
	}

	c := newCLI(t)
	c.env[envToken] = client.Secret
	mint := []string{"mint", "--authority", auth.URL, "--agent", "orchestrator", "--org", "acme"}
	r := c.run("", append(mint, "--right", "service=github,tool=*,op=*,resource=repo:acme/", "--verbose")...)
	if r.code != 0 {
		t.Fatalf("mint: exit %d: %s", r.code, r.stderr)
	}
	sess := oneTokenLine(t, r.stdout)
	if strings.Contains(r.stderr, client.Secret) || strings.Contains(r.stderr, sess) {
		t.Fatal("mint --verbose printed a secret or the token on stderr")
	}

	// Beyond the ceiling, a wrong credential, no credential.
	r = c.run("", append(mint, "--right", "service=github,tool=*,op=*,resource=repo:globex/")...)
	wantFail(t, r, exitFailure, "authority answered 403")
	r = c.run("", append(mint, "--right", "service=github,tool=*,op=*,resource=repo:acme/", "--ttl", "2h")...)
	wantFail(t, r, exitFailure, "authority answered 403")
	r = c.run("", append(mint, "--right", "service=github,tool=*,op=*,resource=repo:acme/", "--auth-token", "platform.wrong")...)
	wantFail(t, r, exitFailure, "authority answered 401")
	if !strings.Contains(r.stderr, "pass a valid --auth-token or set MANDATE_TOKEN") || strings.Contains(r.stderr, "platform.wrong") {
		t.Fatalf("401 error: %q", r.stderr)
	}

	reader := oneTokenLine(t, c.ok(sess, "attenuate", "--op", "read", "--delegate-to", "reader"))
	writer := oneTokenLine(t, c.ok(sess, "attenuate", "--op", "write", "--delegate-to", "writer"))
	verify := func(tok, op string) (int, string) {
		t.Helper()
		r := c.run(tok, "verify", "--authority", auth.URL, "--trust-key", token.FormatPublicKey(auth.RootKey.Key), "--service", "github", "--tool", "t", "--op", op, "--resource", "repo:acme/web")
		d := decision(t, r)
		return r.code, d["reason"].(string)
	}
	for _, tt := range []struct {
		tok, op string
		want    int
	}{{sess, "write", 0}, {reader, "read", 0}, {reader, "write", 1}, {writer, "write", 0}} {
		if got, reason := verify(tt.tok, tt.op); got != tt.want {
			t.Fatalf("before revoking: exit %d, want %d (%s)", got, tt.want, reason)
		}
	}

	// Revoke the reader by possession, without a credential.
	c.env[envToken] = ""
	out := c.ok(reader, "revoke", "--authority", auth.URL, "--token", "-")
	var answer struct {
		Entries []struct {
			RevocationID string `json:"revocation_id"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &answer); err != nil || len(answer.Entries) != 1 {
		t.Fatalf("revoke answer %q (%v)", out, err)
	}
	u, _ := token.ParseString(reader)
	if ids := token.Inspect(u).RevocationIDs; answer.Entries[0].RevocationID != ids[len(ids)-1] {
		t.Fatalf("revoked %s, want the reader's last block %s", answer.Entries[0].RevocationID, ids[len(ids)-1])
	}
	if got, reason := verify(reader, "read"); got != exitFailure || !strings.Contains(reason, "revoked") {
		t.Fatalf("revoked reader: exit %d (%s)", got, reason)
	}
	if got, reason := verify(writer, "write"); got != exitOK {
		t.Fatalf("sibling: exit %d (%s)", got, reason)
	}

	// By session, a credential is needed.
	var in token.Inspection
	if err := json.Unmarshal([]byte(c.ok(sess, "inspect", "--json")), &in); err != nil {
		t.Fatal(err)
	}
	wantFail(t, c.run("", "revoke", "--authority", auth.URL, "--session", in.Subject.Session), exitFailure, "authority answered 401")
	c.ok("", "revoke", "--authority", auth.URL, "--session", in.Subject.Session, "--auth-token", client.Secret)
	if got, reason := verify(writer, "write"); got != exitFailure || !strings.Contains(reason, "block 0") {
		t.Fatalf("after revoking the session: exit %d (%s)", got, reason)
	}

	// By revocation ID, as the admin.
	c.env[envToken] = client.Secret
	other := oneTokenLine(t, c.ok("", append(mint, "--right", "service=github,tool=t,op=read,resource=repo:acme/")...))
	if got, reason := verify(other, "read"); got != exitOK {
		t.Fatalf("new session: exit %d (%s)", got, reason)
	}
	u, _ = token.ParseString(other)
	c.env[envToken] = auth.AdminToken
	c.ok("", "revoke", "--authority", auth.URL, "--revocation-id", token.Inspect(u).RevocationIDs[0])
	if got, reason := verify(other, "read"); got != exitFailure || !strings.Contains(reason, "revoked") {
		t.Fatalf("revoked by ID: exit %d (%s)", got, reason)
	}
}
