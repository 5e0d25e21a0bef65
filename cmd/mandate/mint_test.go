package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

func TestMintOffline(t *testing.T) {
	key, pub := testKey(t)
	c := newCLI(t)
	r := c.run("", "mint", "--private-key", key, "--agent", "support-bot", "--user", "alice@acme.test",
		"--org", "acme", "--session", "s_fixed",
		"--right", "service=crm,tool=get_account,op=read,resource=account:acme/42",
		"--right", "op=*,resource=,tool=*,service=billing",
		"--ttl", "10m", "--verbose")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	tok := oneTokenLine(t, r.stdout)
	if strings.Contains(r.stderr, tok) {
		t.Fatal("--verbose printed the token on stderr")
	}
	u, err := token.ParseString(tok)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := token.ParsePublicKey(pub)
	v, err := u.Verify(token.NewKeySet(token.PublicKey{ID: token.KeyID(pk), Key: pk}), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := token.Subject{Agent: "support-bot", User: "alice@acme.test", Org: "acme", Session: "s_fixed"}
	if v.Subject() != want {
		t.Fatalf("subject = %+v, want %+v", v.Subject(), want)
	}
	rights := v.Rights()
	if len(rights) != 2 || rights[0] != (token.Right{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"}) ||
		rights[1] != (token.Right{Service: "billing", Tool: "*", Operation: "*", Resource: ""}) {
		t.Fatalf("rights = %+v", rights)
	}
	if d := time.Until(v.ExpiresAt()); d <= 9*time.Minute || d > 10*time.Minute {
		t.Fatalf("expires in %s, want about 10m", d)
	}
	if id, ok := u.RootKeyIDHint(); !ok || id != token.KeyID(pk) {
		t.Fatalf("root key ID hint = %d, %v; want %d", id, ok, token.KeyID(pk))
	}
	for _, s := range []string{"session: s_fixed", "key ID: ", "revocation ID of block 0: "} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("--verbose stderr lacks %q: %q", s, r.stderr)
		}
	}

	// Without --verbose, stderr shows what comes next but not the key ID,
	// and a session ID is generated.
	r = c.run("", "mint", "--private-key", key, "--agent", "a", "--right", "service=s,tool=t,op=o,resource=r")
	if r.code != 0 || !strings.Contains(r.stderr, "session: s_") || strings.Contains(r.stderr, "key ID") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	// --quiet: nothing on stderr.
	r = c.run("", "mint", "--private-key", key, "--agent", "a", "--right", "service=s,tool=t,op=o,resource=r", "--quiet")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("--quiet: exit %d, stderr %q", r.code, r.stderr)
	}
	u, err = token.ParseString(oneTokenLine(t, r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if in := token.Inspect(u); !strings.HasPrefix(in.Subject.Session, "s_") {
		t.Fatalf("session = %q, want a generated one", in.Subject.Session)
	}
}

func TestMintUsageErrors(t *testing.T) {
	key, _ := testKey(t)
	right := "service=s,tool=t,op=o,resource=r"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no key or authority", []string{"--agent", "a", "--right", right}, "give --private-key FILE (offline) or --authority URL"},
		{"both", []string{"--private-key", key, "--authority", "http://127.0.0.1:1", "--agent", "a", "--right", right}, "not both"},
		{"auth token offline", []string{"--private-key", key, "--auth-token", "x", "--agent", "a", "--right", right}, "--auth-token is for --authority"},
		{"no agent", []string{"--private-key", key, "--right", right}, "--agent is required"},
		{"no right", []string{"--private-key", key, "--agent", "a"}, "at least one --right"},
		{"unknown key", []string{"--private-key", key, "--agent", "a", "--right", "service=s,tool=t,op=o,resource=r,extra=1"}, `unknown key "extra"`},
		{"operation spelled out", []string{"--private-key", key, "--agent", "a", "--right", "service=s,tool=t,operation=o,resource=r"}, `unknown key "operation"`},
		{"missing keys", []string{"--private-key", key, "--agent", "a", "--right", "service=s,tool=t"}, "missing op, resource"},
		{"missing resource", []string{"--private-key", key, "--agent", "a", "--right", "service=s,tool=t,op=o"}, "missing resource (resource= with nothing"},
		{"twice", []string{"--private-key", key, "--agent", "a", "--right", "service=s,service=t,tool=t,op=o,resource=r"}, `key "service" is given twice`},
		{"not key=value", []string{"--private-key", key, "--agent", "a", "--right", "service=s,tool,op=o,resource=r"}, `"tool" is not key=value`},
		{"wildcard service", []string{"--private-key", key, "--agent", "a", "--right", "service=*,tool=t,op=o,resource=r"}, `service cannot be "*"`},
		{"empty tool", []string{"--private-key", key, "--agent", "a", "--right", "service=s,tool=,op=o,resource=r"}, "tool is empty (use tool=*"},
		{"empty op", []string{"--private-key", key, "--agent", "a", "--right", "service=s,tool=t,op=,resource=r"}, "op is empty"},
		{"zero ttl", []string{"--private-key", key, "--agent", "a", "--right", right, "--ttl", "0s"}, "--ttl 0s: must be at least 1s"},
		{"long ttl", []string{"--private-key", key, "--agent", "a", "--right", right, "--ttl", "25h"}, "over the maximum of 24h0m0s"},
		{"bad ttl", []string{"--private-key", key, "--agent", "a", "--right", right, "--ttl", "soon"}, `invalid argument "soon" for "--ttl"`},
		{"control character", []string{"--private-key", key, "--agent", "a\nb", "--right", right}, "control characters"},
		{"argument", []string{"--private-key", key, "--agent", "a", "--right", right, "extra"}, `unexpected argument "extra"`},
		{"bad authority URL", []string{"--authority", "127.0.0.1:8421", "--agent", "a", "--right", right}, "is not an http(s) URL"},
		{"no credential", []string{"--authority", "http://127.0.0.1:1", "--agent", "a", "--right", right}, "pass --auth-token or set MANDATE_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newCLI(t).run("", append([]string{"mint"}, tt.args...)...)
			wantFail(t, r, exitUsage, tt.want)
			if !strings.Contains(r.stderr, `see "mandate mint --help"`) {
				t.Errorf("usage error %q does not point at the help", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestMintKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "key.pem")
	right := "service=s,tool=t,op=o,resource=r"
	r := newCLI(t).run("", "mint", "--private-key", missing, "--agent", "a", "--right", right)
	wantFail(t, r, exitFailure, `--private-key: open `+missing+`: no such file or directory; create one with "mandate keygen --out `+missing+`"`)
	r = newCLI(t).run("", "mint", "--private-key", bad, "--agent", "a", "--right", right)
	wantFail(t, r, exitFailure, "neither PEM nor hex")
}

func TestParseRight(t *testing.T) {
	tests := []struct {
		in      string
		want    token.Right
		wantErr string
	}{
		{in: "service=crm,tool=get,op=read,resource=account:acme/42", want: token.Right{Service: "crm", Tool: "get", Operation: "read", Resource: "account:acme/42"}},
		{in: "resource=x=y,op=*,tool=*,service=s", want: token.Right{Service: "s", Tool: "*", Operation: "*", Resource: "x=y"}},
		{in: "service=s,tool=t,op=o,resource=", want: token.Right{Service: "s", Tool: "t", Operation: "o"}},
		{in: "", wantErr: `"" is not key=value`},
		{in: "service=s,tool=t,op=o,resource=r,", wantErr: `"" is not key=value`},
		{in: "Service=s,tool=t,op=o,resource=r", wantErr: `unknown key "Service"`},
		{in: "service=,tool=t,op=o,resource=r", wantErr: "service is empty"},
	}
	for _, tt := range tests {
		got, err := parseRight(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseRight(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseRight(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}
