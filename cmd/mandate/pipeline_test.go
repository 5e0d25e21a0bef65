package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// session mints an offline session token with broad rights.
func session(t *testing.T, c *cli, key string, extra ...string) string {
	t.Helper()
	args := append([]string{"mint", "--private-key", key, "--agent", "orchestrator", "--user", "alice@acme.test", "--org", "acme",
		"--right", "service=github,tool=*,op=*,resource=repo:acme/",
		"--right", "service=payments,tool=refund,op=write,resource=order:acme/"}, extra...)
	return oneTokenLine(t, c.ok("", args...))
}

// decision runs verify and decodes its JSON.
func decision(t *testing.T, r result) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("verify stdout is not JSON (%v): %q; stderr %q", err, r.stdout, r.stderr)
	}
	for _, k := range []string{"allowed", "reason", "decision_id"} {
		if _, ok := d[k]; !ok {
			t.Fatalf("decision lacks %q: %s", k, r.stdout)
		}
	}
	return d
}

// TestPipelineOffline: mint → attenuate → inspect → verify, with the token
// passed as an argument, as "-" and on stdin without an argument.
func TestPipelineOffline(t *testing.T) {
	key, pub := testKey(t)
	c := newCLI(t)
	sess := session(t, c, key)

	// The three ways to pass a token give equivalent results.
	readers := map[string]string{}
	readers["arg"] = oneTokenLine(t, c.ok("", "attenuate", "--op", "read", "--resource-prefix", "repo:acme/web", "--delegate-to", "reader", sess))
	readers["dash"] = oneTokenLine(t, c.ok(sess+"\n", "attenuate", "--op", "read", "--resource-prefix", "repo:acme/web", "--delegate-to", "reader", "-"))
	readers["stdin"] = oneTokenLine(t, c.ok(sess, "attenuate", "--op", "read", "--resource-prefix", "repo:acme/web", "--delegate-to", "reader"))

	for how, reader := range readers {
		t.Run(how, func(t *testing.T) {
			var in token.Inspection
			if err := json.Unmarshal([]byte(c.ok(reader, "inspect", "--json")), &in); err != nil {
				t.Fatal(err)
			}
			if len(in.RevocationIDs) != 2 || len(in.Blocks) != 2 || in.ExpiresAt == nil || in.RootKeyID == nil || in.Verified {
				t.Fatalf("inspection = %+v", in)
			}
			if !strings.Contains(strings.Join(in.Blocks[1].Facts, " "), `delegated_to("reader")`) {
				t.Fatalf("block 1 facts = %v", in.Blocks[1].Facts)
			}
			// The authority block is unchanged by attenuation.
			var sin token.Inspection
			if err := json.Unmarshal([]byte(c.ok("", "inspect", "--json", sess)), &sin); err != nil {
				t.Fatal(err)
			}
			if sin.RevocationIDs[0] != in.RevocationIDs[0] {
				t.Fatal("attenuation changed the authority block's revocation ID")
			}

			base := []string{"verify", "--public-key", pub, "--service", "github", "--tool", "get_file"}
			r := c.run(reader, append(base, "--op", "read", "--resource", "repo:acme/web/README.md")...)
			if d := decision(t, r); r.code != exitOK || d["allowed"] != true {
				t.Fatalf("read in the repository: exit %d, %s %s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, "revocations are not checked offline") {
				t.Fatalf("offline verify does not warn about revocations: %q", r.stderr)
			}
			r = c.run(reader, append(base, "--op", "write", "--resource", "repo:acme/web/README.md")...)
			d := decision(t, r)
			if r.code != exitFailure || d["allowed"] != false {
				t.Fatalf("write: exit %d, %s", r.code, r.stdout)
			}
			fc, _ := d["failed_check"].(map[string]any)
			if fc == nil || fc["block"] != float64(1) || !strings.Contains(fc["text"].(string), "operation") {
				t.Fatalf("failed_check = %v", d["failed_check"])
			}
			wantFail(t, r, exitFailure, "denied: a check failed")
			// Segment-aware prefix: a sibling repository that shares the prefix is denied.
			r = c.run(reader, append(base, "--op", "read", "--resource", "repo:acme/website")...)
			if decision(t, r); r.code != exitFailure {
				t.Fatalf("repo:acme/website: exit %d, %s", r.code, r.stdout)
			}
			// The session token itself may write.
			r = c.run(sess, append(base, "--op", "write", "--resource", "repo:acme/web/README.md")...)
			if decision(t, r); r.code != exitOK {
				t.Fatalf("session token write: exit %d, %s", r.code, r.stdout)
			}
		})
	}

	// inspect: text by default, marked unverified unless a key verifies it.
	text := c.ok(readers["arg"], "inspect")
	for _, s := range []string{"UNVERIFIED", "orchestrator", `delegated_to("reader")`, "revocation IDs"} {
		if !strings.Contains(text, s) {
			t.Errorf("inspect text lacks %q", s)
		}
	}
	var in token.Inspection
	if err := json.Unmarshal([]byte(c.ok(readers["arg"], "inspect", "--json", "--public-key", pub)), &in); err != nil {
		t.Fatal(err)
	}
	if !in.Verified || in.KeyID == nil {
		t.Fatalf("inspect --public-key: verified=%v key_id=%v", in.Verified, in.KeyID)
	}
	_, other := testKey(t)
	wantFail(t, c.run(readers["arg"], "inspect", "--public-key", other), exitFailure, "not signed by a --public-key key")
	if strings.Contains(c.ok(readers["arg"], "inspect", "--public-key", pub), "UNVERIFIED") {
		t.Error("a verified inspection is marked UNVERIFIED")
	}
}

func TestAttenuate(t *testing.T) {
	key, pub := testKey(t)
	c := newCLI(t)
	sess := session(t, c, key)
	verify := func(tok string, args ...string) int {
		t.Helper()
		r := c.run(tok, append([]string{"verify", "--public-key", pub}, args...)...)
		decision(t, r)
		return r.code
	}
	refund := []string{"--service", "payments", "--tool", "refund", "--op", "write", "--resource", "order:acme/1001"}

	t.Run("max", func(t *testing.T) {
		tok := oneTokenLine(t, c.ok(sess, "attenuate", "--tool", "refund", "--max", "refund:amount=500"))
		if got := verify(tok, append(refund, "--arg", "amount=500")...); got != exitOK {
			t.Errorf("amount 500: exit %d, want 0", got)
		}
		if got := verify(tok, append(refund, "--arg", "amount=501")...); got != exitFailure {
			t.Errorf("amount 501: exit %d, want 1", got)
		}
		if got := verify(tok, refund...); got != exitFailure {
			t.Errorf("no amount: exit %d, want 1", got)
		}
		if got := verify(tok, append(refund, "--args", `{"amount": 20}`)...); got != exitOK {
			t.Errorf("--args amount 20: exit %d, want 0", got)
		}
		if got := verify(tok, "--service", "github", "--tool", "get_file", "--op", "read", "--resource", "repo:acme/web"); got != exitFailure {
			t.Errorf("another tool: exit %d, want 1", got)
		}
	})
	t.Run("min and one-of", func(t *testing.T) {
		tok := oneTokenLine(t, c.ok(sess, "attenuate", "--min", "refund:amount=10", "--one-of", "refund:currency=EUR,USD"))
		for _, tt := range []struct {
			args []string
			want int
		}{
			{[]string{"--arg", "amount=10", "--arg", "currency=EUR"}, exitOK},
			{[]string{"--arg", "amount=9", "--arg", "currency=EUR"}, exitFailure},
			{[]string{"--arg", "amount=10", "--arg", "currency=GBP"}, exitFailure},
			{[]string{"--args", `{"amount": 50, "currency": "USD"}`}, exitOK},
		} {
			if got := verify(tok, append(refund, tt.args...)...); got != tt.want {
				t.Errorf("%v: exit %d, want %d", tt.args, got, tt.want)
			}
		}
	})
	t.Run("list argument must be a subset", func(t *testing.T) {
		tok := oneTokenLine(t, c.ok(sess, "attenuate", "--one-of", "refund:to=bob,carol"))
		if got := verify(tok, append(refund, "--args", `{"to": ["bob", "carol"]}`)...); got != exitOK {
			t.Errorf("subset: exit %d, want 0", got)
		}
		if got := verify(tok, append(refund, "--args", `{"to": ["bob", "mallory"]}`)...); got != exitFailure {
			t.Errorf("one element outside: exit %d, want 1", got)
		}
	})
	t.Run("check and exact resource", func(t *testing.T) {
		tok := oneTokenLine(t, c.ok(sess, "attenuate", "--resource", "repo:acme/web", "--check", `check if operation("read")`, "--service", "github"))
		if got := verify(tok, "--service", "github", "--tool", "t", "--op", "read", "--resource", "repo:acme/web"); got != exitOK {
			t.Errorf("exact resource: exit %d", got)
		}
		if got := verify(tok, "--service", "github", "--tool", "t", "--op", "read", "--resource", "repo:acme/web/x"); got != exitFailure {
			t.Errorf("below the exact resource: exit %d", got)
		}
		if got := verify(tok, "--service", "github", "--tool", "t", "--op", "write", "--resource", "repo:acme/web"); got != exitFailure {
			t.Errorf("raw check: exit %d", got)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		tok := oneTokenLine(t, c.ok(sess, "attenuate", "--ttl", "2m"))
		var in token.Inspection
		if err := json.Unmarshal([]byte(c.ok(tok, "inspect", "--json")), &in); err != nil {
			t.Fatal(err)
		}
		exp, err := time.Parse(time.RFC3339, *in.ExpiresAt)
		if err != nil || time.Until(exp) > 2*time.Minute || time.Until(exp) < time.Minute {
			t.Fatalf("expires_at = %v (%v), want in about 2m", *in.ExpiresAt, err)
		}
		at := time.Now().Add(time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
		tok = oneTokenLine(t, c.ok(sess, "attenuate", "--expires", at))
		if err := json.Unmarshal([]byte(c.ok(tok, "inspect", "--json")), &in); err != nil {
			t.Fatal(err)
		}
		if in.Blocks[1].ExpiresAt == nil || *in.Blocks[1].ExpiresAt != at {
			t.Fatalf("block 1 expiry = %v, want %s", in.Blocks[1].ExpiresAt, at)
		}
	})
	t.Run("seal", func(t *testing.T) {
		sealed := oneTokenLine(t, c.ok(sess, "attenuate", "--op", "read", "--seal"))
		wantFail(t, c.run(sealed, "attenuate", "--op", "read"), exitFailure, "sealed")
		if got := verify(sealed, "--service", "github", "--tool", "t", "--op", "read", "--resource", "repo:acme/x"); got != exitOK {
			t.Errorf("sealed token: exit %d", got)
		}
		// --seal alone seals without a new block.
		only := oneTokenLine(t, c.ok(sess, "attenuate", "--seal"))
		var in token.Inspection
		if err := json.Unmarshal([]byte(c.ok(only, "inspect", "--json")), &in); err != nil {
			t.Fatal(err)
		}
		if !in.Sealed || len(in.Blocks) != 1 {
			t.Fatalf("--seal alone: sealed=%v blocks=%d", in.Sealed, len(in.Blocks))
		}
	})
}

func TestAttenuateErrors(t *testing.T) {
	key, _ := testKey(t)
	c := newCLI(t)
	sess := session(t, c, key)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"nothing", sess, nil, exitUsage, "nothing to narrow"},
		{"ttl and expires", sess, []string{"--ttl", "1m", "--expires", past}, exitUsage, "give --ttl or --expires, not both"},
		{"bad expires", sess, []string{"--expires", "tomorrow"}, exitUsage, `--expires "tomorrow": want an RFC 3339 time`},
		{"expires in the past", sess, []string{"--expires", past}, exitUsage, "--expires: "},
		{"negative ttl", sess, []string{"--ttl", "-1m"}, exitUsage, "--ttl -1m0s: must be positive"},
		{"bad check", sess, []string{"--check", "allow if true"}, exitUsage, "--check: "},
		{"wildcard tool", sess, []string{"--tool", "*"}, exitUsage, "--tool: "},
		{"max without tool", sess, []string{"--max", "amount=5"}, exitUsage, `--max "amount=5": missing TOOL: or ARG`},
		{"max not integer", sess, []string{"--max", "refund:amount=lots"}, exitUsage, `"lots" is not an integer`},
		{"one-of mixed types", sess, []string{"--one-of", "refund:n=1,two"}, exitUsage, "--one-of refund:n=1,two: "},
		{"two tokens", "", []string{"a", "b"}, exitUsage, "takes one token, got 2 arguments"},
		{"malformed token", "", []string{"--op", "read", "not-a-token!"}, exitFailure, "malformed"},
		{"empty stdin", "", []string{"--op", "read"}, exitFailure, "no token on stdin"},
		{"truncated token", sess[:len(sess)/2], []string{"--op", "read"}, exitFailure, "check that the whole token was copied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.run(tt.stdin, append([]string{"attenuate"}, tt.args...)...)
			wantFail(t, r, tt.code, tt.want)
			if r.stdout != "" {
				t.Fatalf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestInspectErrors(t *testing.T) {
	c := newCLI(t)
	wantFail(t, c.run("", "inspect", "AAAA"), exitFailure, "invalid token")
	wantFail(t, c.run("   \n", "inspect"), exitFailure, "no token on stdin")
	wantFail(t, c.run("", "inspect", "--public-key", "abc", "AAAA"), exitUsage, `--public-key "abc": public key: want 64 hex characters`)
	f := t.TempDir() + "/t.tok"
	if err := writeFile(f, "x"); err != nil {
		t.Fatal(err)
	}
	wantFail(t, c.run("", "inspect", f), exitUsage, "is a file, but the argument is the token itself; read the file on stdin: mandate inspect < "+f)
}
