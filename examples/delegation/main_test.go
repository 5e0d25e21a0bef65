package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDelegation plays the whole story in process. run itself checks every
// call's status against the narration and fails otherwise; the test also
// checks what the narration shows.
func TestDelegation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"== 1. An authority starts",
		"authority on http://127.0.0.1:",
		"tool server on http://127.0.0.1:",
		// Offline attenuation narrows: the reviewer cannot leave acme/api,
		// not even for acme/api-internal, nor write.
		"reviewer     GET  /github/repos/acme/api/contents/README.md",
		// (The check texts come from the Datalog printer; match their
		// constants, not their layout.)
		`starts_with("repo:acme/api/")`,
		`["read"]`,
		// The refunder's argument bound.
		`<= 500`,
		// The approval loop: a refund above 100 stops, is approved by a
		// person, and goes through once with the approval.
		"403 approval_required",
		"→ approved",
		"+ approval → 200",
		"+ approval → 403 approval_invalid",
		// Revocation by possession goes through the feed and hits only
		// the refunder's block.
		"applied seq 1 from the feed",
		"revoked: block 1",
		// The session revocation hits block 0, so every token of it.
		"applied seq 2 from the feed",
		"revoked: block 0",
		"Done: every call ended as expected.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if n := strings.Count(got, "[ok]"); n != 18 {
		t.Errorf("%d calls ended as expected, want 18", n)
	}
	if strings.Contains(got, "UNEXPECTED") {
		t.Error("a call did not end as expected")
	}
}

// TestNoSecretsPrinted: the narration shows no token.
func TestNoSecretsPrinted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	s := &story{out: &out}
	defer s.close()
	for _, step := range []func(context.Context) error{s.startAuthority, s.mintSession, s.startToolServer, s.delegate} {
		if err := step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for name, secret := range map[string]string{
		"admin token": s.adminToken, "client secret": s.clientSecret,
		"session token": s.orchestrator, "reviewer token": s.reviewer, "refunder token": s.refunder,
	} {
		if secret == "" {
			t.Fatalf("%s is empty", name)
		}
		if strings.Contains(out.String(), secret) {
			t.Errorf("the narration prints the %s", name)
		}
	}
}
