package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestBinaryApprovalLoop drives the whole approval loop with the real
// binary against a real authority: an admin adds an approver, mints and
// attenuates with --require-approval; the call is denied approval_required;
// the agent asks (approval request), the approver lists and approves, the
// agent waits and receives the approval, and verify --authority allows the
// call with it once.
func TestBinaryApprovalLoop(t *testing.T) {
	url := realAuthority(t)
	dir := t.TempDir()
	run := func(stdin, cred string, args ...string) result {
		t.Helper()
		return execCLIEnv(t, dir, &stdin, cred, args...)
	}
	ok := func(stdin, cred string, args ...string) string {
		t.Helper()
		r := run(stdin, cred, args...)
		if r.code != 0 {
			t.Fatalf("mandate %v: exit %d: %s", args, r.code, r.stderr)
		}
		return r.stdout
	}
	var person struct{ Credential string }
	if err := json.Unmarshal([]byte(ok("", peopleAdmin, "authority", "people", "add", "alice@acme.test", "--role", "approver", "--org", "acme", "--authority", url)), &person); err != nil {
		t.Fatal(err)
	}
	var viewer struct{ Credential string }
	if err := json.Unmarshal([]byte(ok("", peopleAdmin, "authority", "people", "add", "vic@acme.test", "--role", "viewer", "--org", "acme", "--authority", url)), &viewer); err != nil {
		t.Fatal(err)
	}
	sess := ok("", peopleAdmin, "mint", "--authority", url, "--agent", "support-bot", "--org", "acme", "--right", "service=payments,tool=*,op=*,resource=order:acme/")
	tok := ok(sess, "", "attenuate", "--require-approval", "refund:amount>100", "--delegate-to", "refunder")
	var keys struct {
		Keys []struct {
			PublicKey string `json:"public_key"`
		} `json:"keys"`
	}
	res, err := http.Get(url + "/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(res.Body).Decode(&keys)
	res.Body.Close()
	if err != nil || len(keys.Keys) == 0 {
		t.Fatalf("keys: %v", err)
	}
	call := []string{"--service", "payments", "--tool", "refund", "--op", "write", "--resource", "order:acme/7", "--arg", "amount=500"}
	verify := append([]string{"verify", "--authority", url, "--trust-key", keys.Keys[0].PublicKey}, call...)

	r := run(tok, "", verify...)
	if r.code != exitFailure || !strings.Contains(r.stdout, `"kind": "approval_required"`) {
		t.Fatalf("verify without approval: exit %d: %s", r.code, r.stdout)
	}

	// Usage errors: one line, exit 2.
	wantFail(t, run(tok, "", "approval", "request", "--service", "payments"), exitUsage, "--authority URL is required")
	wantFail(t, run(tok, "", "approval", "request", "--authority", url, "--tool", "refund"), exitUsage, "--service, --tool and --op are required")
	wantFail(t, run("", person.Credential, "approval", "approve", "--authority", url), exitUsage, "name the request")
	wantFail(t, run("", person.Credential, "approval", "list", "--authority", url, "--status", "maybe"), exitUsage, "--status")
	// The authority's refusals: one line, exit 1, saying why.
	wantFail(t, run(tok, "", append([]string{"approval", "request", "--authority", url}, "--service", "payments", "--tool", "refund", "--op", "write", "--resource", "order:acme/7", "--arg", "amount=50")...),
		exitFailure, "without an approval")
	wantFail(t, run(tok, "", append([]string{"approval", "request", "--authority", url}, "--service", "crm", "--tool", "x", "--op", "read")...),
		exitFailure, "even with an approval")

	var q struct {
		ID, Status, CallDigest string
	}
	if err := json.Unmarshal([]byte(ok(tok, "", append([]string{"approval", "request", "--authority", url, "--note", "customer called"}, call...)...)), &q); err != nil || q.Status != "pending" {
		t.Fatalf("request: %+v (%v)", q, err)
	}
	if list := ok("", person.Credential, "approval", "list", "--authority", url); !strings.Contains(list, q.ID) || !strings.Contains(list, "customer called") {
		t.Fatalf("alice's list: %s", list)
	}
	wantFail(t, run("", viewer.Credential, "approval", "approve", q.ID, "--authority", url), exitFailure, "may not decide")
	wantFail(t, run("", peopleAdmin, "approval", "approve", q.ID, "--authority", url), exitFailure, "not a person")

	// The agent waits while alice approves.
	type waited struct{ r result }
	done := make(chan waited, 1)
	go func() {
		done <- waited{execCLIEnv(t, dir, &tok, "", "approval", "wait", q.ID, "--authority", url, "--timeout", "1m")}
	}()
	ok("", person.Credential, "approval", "approve", q.ID, "--authority", url, "--comment", "checked")
	w := (<-done).r
	approval := strings.TrimSpace(w.stdout)
	if w.code != 0 || strings.Count(approval, ".") != 1 {
		t.Fatalf("wait: exit %d: %q %s", w.code, w.stdout, w.stderr)
	}
	wantFail(t, run("", person.Credential, "approval", "deny", q.ID, "--authority", url), exitFailure, "already_decided")

	if r := run(tok, "", append(verify, "--approval", approval)...); r.code != exitOK {
		t.Fatalf("verify with the approval: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	r = run(tok, "", append(verify, "--approval", approval)...)
	if r.code != exitFailure || !strings.Contains(r.stdout, "already used") {
		t.Fatalf("verify with a used approval: exit %d: %s", r.code, r.stdout)
	}

	// A denied request: wait says so and exits 1.
	var q2 struct{ ID string }
	_ = json.Unmarshal([]byte(ok(tok, "", append([]string{"approval", "request", "--authority", url}, append(call[:len(call)-1], "amount=900")...)...)), &q2)
	ok("", person.Credential, "approval", "deny", q2.ID, "--authority", url, "--comment", "too much")
	wantFail(t, run(tok, "", "approval", "wait", q2.ID, "--authority", url), exitFailure, "denied by alice@acme.test: too much")

	// mint --require-approval: the whole session needs a person for refunds.
	gated := ok("", peopleAdmin, "mint", "--authority", url, "--agent", "support-bot", "--org", "acme", "--right", "service=payments,tool=*,op=*,resource=order:acme/",
		"--require-approval", "refund", "--org-approvers")
	if r := run(gated, "", append(verify[:len(verify)-1], "amount=5")...); r.code != exitFailure || !strings.Contains(r.stdout, `"kind": "approval_required"`) || !strings.Contains(r.stdout, `"block": 0`) {
		t.Fatalf("a session minted with --require-approval: exit %d: %s", r.code, r.stdout)
	}
	wantFail(t, run("", peopleAdmin, "mint", "--authority", url, "--agent", "a", "--right", "service=s,tool=*,op=*,resource=", "--approver", "x@y.test"), exitUsage, "give one")

	for _, sub := range []string{"request", "list", "approve", "deny", "wait"} {
		r := run("", "", "approval", sub, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Example") {
			t.Errorf("approval %s --help: exit %d: %s", sub, r.code, r.stdout)
		}
	}
}
