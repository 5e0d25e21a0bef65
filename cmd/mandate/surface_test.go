package main

import (
	"strings"
	"testing"
)

// TestAttenuateRange: --max is one-sided (it lets an amount of -1,000,000
// through, and --help says so); --range bounds both sides.
func TestAttenuateRange(t *testing.T) {
	key, pub := testKey(t)
	c := newCLI(t)
	sess := session(t, c, key)
	refund := []string{"verify", "--public-key", pub, "--service", "payments", "--tool", "refund", "--op", "write", "--resource", "order:acme/1001"}
	verify := func(tok, amount string) int {
		t.Helper()
		r := c.run(tok, append(refund, "--arg", "amount="+amount)...)
		decision(t, r)
		return r.code
	}
	maxOnly := oneTokenLine(t, c.ok(sess, "attenuate", "--max", "refund:amount=500"))
	if got := verify(maxOnly, "-1000000"); got != exitOK {
		t.Errorf("--max is documented as one-sided; amount -1000000: exit %d, want 0", got)
	}
	ranged := oneTokenLine(t, c.ok(sess, "attenuate", "--tool", "refund", "--range", "refund:amount=0..500"))
	for amount, want := range map[string]int{"-1000000": exitFailure, "-1": exitFailure, "0": exitOK, "250": exitOK, "500": exitOK, "501": exitFailure} {
		if got := verify(ranged, amount); got != want {
			t.Errorf("--range 0..500, amount %s: exit %d, want %d", amount, got, want)
		}
	}
	negative := oneTokenLine(t, c.ok(sess, "attenuate", "--range", "refund:amount=-10..-5"))
	if got := verify(negative, "-7"); got != exitOK {
		t.Errorf("--range -10..-5, amount -7: exit %d, want 0", got)
	}

	for _, tt := range []struct{ spec, want string }{
		{"refund:amount=500", `is not MIN..MAX`},
		{"refund:amount=0..lots", `is not MIN..MAX`},
		{"amount=0..5", "missing TOOL: or ARG"},
		{"refund:amount=10..5", "--range: "},
	} {
		r := c.run(sess, "attenuate", "--range", tt.spec)
		wantFail(t, r, exitUsage, tt.want)
	}
	help := c.ok("", "attenuate", "--help")
	for _, s := range []string{"--range TOOL:ARG=MIN..MAX", "one-sided", "--range refund:amount=0..500"} {
		if !strings.Contains(help, s) {
			t.Errorf("attenuate --help lacks %q", s)
		}
	}
}

// TestVerifyArgsAmbiguousKeys: --args refuses repeated keys and keys that
// differ only in case, as a tool server must.
func TestVerifyArgsAmbiguousKeys(t *testing.T) {
	_, pub := testKey(t)
	call := []string{"verify", "--public-key", pub, "--service", "s", "--tool", "t", "--op", "o"}
	for args, want := range map[string]string{
		`{"amount": 300, "Amount": 900}`: "differ only in case",
		`{"amount": 300, "amount": 900}`: "appears twice",
	} {
		r := newCLI(t).run("", append(call, "--args", args)...)
		wantFail(t, r, exitUsage, want)
	}
}
