package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// served is a "mandate authority serve" process on 127.0.0.1 (Badger in
// a temporary folder) and its root public key.
type served struct {
	*serveProc
	url, pin string
}

// serveAuthority runs "mandate authority serve" with admin as its admin
// token, until the test ends.
func serveAuthority(t *testing.T, admin string) *served {
	t.Helper()
	p := startServe(t, []string{"MANDATE_ADMIN_TOKEN=" + admin}, "--data", filepath.Join(t.TempDir(), "data"), "--addr", "127.0.0.1:0")
	m := regexp.MustCompile(`(?m)root public key .*: ([0-9a-f]{64})$`).FindStringSubmatch(p.Stderr())
	if m == nil {
		t.Fatalf("authority serve did not print its root public key before its address: %q", p.Stderr())
	}
	return &served{serveProc: p, url: p.URL, pin: m[1]}
}

// TestBinaryLimits: limits declared at mint and by attenuate --limit are
// counted by verify at the authority, shown by inspect --authority, fail
// closed offline, and counted on this machine with --usage-dir.
func TestBinaryLimits(t *testing.T) {
	admin := "admin-token-for-the-limits-test-0123456789"
	srv := serveAuthority(t, admin)
	url, pin := srv.url, srv.pin
	run := func(stdin, env string, args ...string) result {
		t.Helper()
		return execCLIEnv(t, "", &stdin, env, args...)
	}
	r := run("", admin, "mint", "--authority", url, "--agent", "a", "--org", "acme", "--right", "service=mail,tool=*,op=*,resource=",
		"--limit", "*:calls=5/24h")
	if r.code != 0 {
		t.Fatalf("mint: exit %d: %s", r.code, r.stderr)
	}
	sess := r.stdout
	r = run(sess, "", "attenuate", "--limit", "send_email:calls=2/1h", "--limit", "refund:amount=1000")
	if r.code != 0 {
		t.Fatalf("attenuate: exit %d: %s", r.code, r.stderr)
	}
	sub := r.stdout
	send := []string{"verify", "--authority", url, "--trust-key", pin, "--service", "mail", "--tool", "send_email", "--op", "write"}
	for i := range 2 {
		if r = run(sub, "", send...); r.code != exitOK {
			t.Fatalf("send %d: exit %d: %s %s", i, r.code, r.stdout, r.stderr)
		}
	}
	r = run(sub, "", send...)
	wantFail(t, r, exitFailure, "denied: usage limit send_email:calls=2/1h of block 1")
	var d struct {
		Kind   string `json:"kind"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.Kind != "limit_exceeded" || !strings.Contains(d.Reason, "2 of 2 used") || !strings.Contains(d.Reason, "resets at") {
		t.Fatalf("decision %s (%v); want kind limit_exceeded, 2 of 2 used, when it resets", r.stdout, err)
	}
	// The session's limit counted both calls too.
	r = run(sub, "", "inspect", "--authority", url)
	if r.code != 0 || !strings.Contains(r.stdout, "block 0: *:calls=5/24h  used 2 of 5") || !strings.Contains(r.stdout, "block 1: send_email:calls=2/1h  used 2 of 2") ||
		!strings.Contains(r.stdout, "block 1: refund:amount=1000  used 0 of 1000, never resets") {
		t.Fatalf("inspect --authority: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(sub, "", "inspect", "--authority", url, "--json")
	var in struct {
		Limits []struct{ Limit string } `json:"limits"`
		Usage  []struct{ Used int64 }   `json:"usage"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &in); err != nil || len(in.Limits) != 3 || len(in.Usage) != 3 || in.Usage[0].Used != 2 {
		t.Fatalf("inspect --json: %v %s", err, r.stdout)
	}
	// A refund needs its amount; over the budget it is denied.
	refund := []string{"verify", "--authority", url, "--trust-key", pin, "--service", "mail", "--tool", "refund", "--op", "write"}
	wantFail(t, run(sub, "", refund...), exitFailure, `the call has no argument "amount"`)
	wantFail(t, run(sub, "", append(refund, "--arg", "amount=1001")...), exitFailure, "denied: usage limit refund:amount=1000 of block 1")

	// Offline: without --usage-dir the limit is not enforced, so denied.
	offline := []string{"verify", "--public-key", pin, "--service", "mail", "--tool", "send_email", "--op", "write"}
	r = run(sub, "", offline...)
	wantFail(t, r, exitFailure, "does not enforce usage limits")
	if !strings.Contains(r.stderr, "--usage-dir DIR") {
		t.Fatalf("stderr %q does not say how to count the limit", r.stderr)
	}
	// With --usage-dir, counted on this machine (the session's limit
	// allows 5 there too, the block's 2).
	dir := t.TempDir()
	for i := range 2 {
		r = run(sub, "", append(offline, "--usage-dir", dir)...)
		if r.code != exitOK || !strings.Contains(r.stdout, "counted at this verifier only") {
			t.Fatalf("offline send %d: exit %d: %s %s", i, r.code, r.stdout, r.stderr)
		}
	}
	wantFail(t, run(sub, "", append(offline, "--usage-dir", dir)...), exitFailure, "counted at this verifier only")

	// Bad limits are usage errors.
	wantFail(t, run(sess, "", "attenuate", "--limit", "send_email:calls=0"), exitUsage, "--limit: usage limit: maximum 0 is not between 1")
	wantFail(t, run(sess, "", "attenuate", "--limit", "send_email:calls=5/5s"), exitUsage, "--limit: usage limit: window 5s")
	wantFail(t, run("", admin, "mint", "--authority", url, "--agent", "a", "--right", "service=mail,tool=*,op=*,resource=", "--limit", "x"), exitUsage, "--limit: usage limit \"x\"")
}
