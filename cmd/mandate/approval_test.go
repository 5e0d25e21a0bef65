package main

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// TestAttenuateRequireApproval: mandate attenuate --require-approval stops
// the named calls until mandate verify --approval carries an approval of
// that very call.
func TestAttenuateRequireApproval(t *testing.T) {
	keyPath, pub := testKey(t)
	c := newCLI(t)
	sess := session(t, c, keyPath)
	tok := oneTokenLine(t, c.ok(sess, "attenuate", "--require-approval", "refund:amount>100", "--approver", "alice@acme.test", "--delegate-to", "refunder"))
	refund := []string{"verify", "--public-key", pub, "--service", "payments", "--tool", "refund", "--op", "write", "--resource", "order:acme/7"}

	if r := c.run(tok, append(refund, "--arg", "amount=100")...); r.code != exitOK {
		t.Fatalf("amount 100: exit %d: %s", r.code, r.stderr)
	}
	r := c.run(tok, append(refund, "--arg", "amount=500")...)
	d := decision(t, r)
	if r.code != exitFailure || d["kind"] != string(verifier.KindApprovalRequired) || len(d["call_digest"].(string)) != 64 {
		t.Fatalf("amount 500 without approval: exit %d, decision %s", r.code, r.stdout)
	}
	wantDigest, err := token.CallDigestHex(token.Call{Service: "payments", Tool: "refund", Operation: "write", Resource: "order:acme/7", Args: map[string]any{"amount": 500}})
	if err != nil || d["call_digest"] != wantDigest {
		t.Fatalf("call digest %v, want %s (%v)", d["call_digest"], wantDigest, err)
	}

	// The authority's side, by hand: sign an approval of that call.
	pem, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := token.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	var in token.Inspection
	if err := json.Unmarshal([]byte(c.ok(tok, "inspect", "--json")), &in); err != nil {
		t.Fatal(err)
	}
	sign := func(approver string) string {
		var dg [32]byte
		copy(dg[:], mustHex(t, wantDigest))
		now := time.Now()
		ap, err := token.SignApproval(token.NewSigningKey(priv), token.Approval{
			ID: "ap_cli_" + approver, CallDigest: dg, Session: in.Subject.Session, Lineage: mustHex(t, in.RevocationIDs[len(in.RevocationIDs)-1]),
			Approver: approver, ApproverOrg: "acme", IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		return ap
	}
	if r := c.run(tok, append(refund, "--arg", "amount=500", "--approval", sign("alice@acme.test"))...); r.code != exitOK {
		t.Fatalf("amount 500 with alice's approval: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	r = c.run(tok, append(refund, "--arg", "amount=501", "--approval", sign("alice@acme.test"))...)
	if d := decision(t, r); r.code != exitFailure || d["kind"] != string(verifier.KindApprovalInvalid) {
		t.Fatalf("amount 501 with an approval of 500: exit %d, %s", r.code, r.stdout)
	}
	r = c.run(tok, append(refund, "--arg", "amount=500", "--approval", sign("bob@acme.test"))...)
	if d := decision(t, r); r.code != exitFailure || d["kind"] != string(verifier.KindApprovalInvalid) || !strings.Contains(r.stdout, "bob@acme.test") {
		t.Fatalf("bob's approval: exit %d, %s", r.code, r.stdout)
	}

	for _, bad := range [][]string{
		{"--require-approval", "refund:amount"},
		{"--require-approval", "*"},
		{"--approver", "alice@acme.test"},
		{"--org-approvers"},
	} {
		if r := c.run(sess, append([]string{"attenuate"}, bad...)...); r.code != exitUsage {
			t.Errorf("attenuate %q: exit %d, want usage error; stderr %q", bad, r.code, r.stderr)
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
