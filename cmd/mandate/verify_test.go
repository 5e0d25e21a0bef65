package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestVerifyExitCodes(t *testing.T) {
	key, pub := testKey(t)
	c := newCLI(t)
	sess := session(t, c, key)
	otherKey, _ := testKey(t)
	foreign := session(t, c, otherKey)
	old := newCLI(t)
	old.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expired := session(t, old, key, "--ttl", "1h")
	call := []string{"--service", "github", "--tool", "get_file", "--op", "read", "--resource", "repo:acme/web"}

	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		reason string // in the decision's reason (allowed/denied)
	}{
		{"allowed", sess, call, exitOK, "allowed"},
		{"allowed with dash", sess, append(call, "-"), exitOK, "allowed"},
		{"allowed as argument", "", append(call, sess), exitOK, "allowed"},
		{"no right", sess, []string{"--service", "github", "--tool", "t", "--op", "read", "--resource", "repo:other/x"}, exitFailure, "no right covers the request"},
		{"other service", sess, []string{"--service", "crm", "--tool", "t", "--op", "read"}, exitFailure, "no right covers the request"},
		{"expired", expired, call, exitFailure, "token expired"},
		{"unknown key", foreign, call, exitFailure, "unknown root key"},
		{"malformed", "", append(call, "bm90IGEgdG9rZW4"), exitFailure, "malformed"},
		{"not base64", "", append(call, "%%%"), exitFailure, "malformed"},
		{"empty stdin", "", call, exitFailure, "empty token"},
		{"oversized", strings.Repeat("A", 1<<20), call, exitFailure, "over"},
		{"second key", sess, append([]string{"--public-key", strings.Repeat("ab", 32)}, call...), exitOK, "allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.run(tt.stdin, append([]string{"verify", "--public-key", pub}, tt.args...)...)
			d := decision(t, r)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d: %s %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if d["allowed"] != (tt.code == exitOK) {
				t.Fatalf("allowed = %v with exit %d", d["allowed"], r.code)
			}
			if reason, _ := d["reason"].(string); !strings.Contains(reason, tt.reason) {
				t.Fatalf("reason %q does not contain %q", reason, tt.reason)
			}
			if tt.code != exitOK {
				wantFail(t, r, exitFailure, "denied: ")
			}
			if tt.stdin != "" && strings.Contains(r.stderr, strings.TrimSpace(tt.stdin)[:20]) {
				t.Fatal("the token was printed on stderr")
			}
		})
	}
}

func TestVerifyUsageErrors(t *testing.T) {
	_, pub := testKey(t)
	call := []string{"--service", "s", "--tool", "t", "--op", "o"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no keys", call, "give --public-key HEX (offline) or --authority URL"},
		{"both", append([]string{"--public-key", pub, "--authority", "http://127.0.0.1:1"}, call...), "not both"},
		{"bad key", append([]string{"--public-key", "xyz"}, call...), `--public-key "xyz"`},
		{"no service", []string{"--public-key", pub, "--tool", "t", "--op", "o"}, "--service is required"},
		{"no tool", []string{"--public-key", pub, "--service", "s", "--op", "o"}, "--tool is required"},
		{"no op", []string{"--public-key", pub, "--service", "s", "--tool", "t"}, "--op is required"},
		{"arg without =", append([]string{"--public-key", pub, "--arg", "amount"}, call...), `--arg "amount": want NAME=VALUE`},
		{"arg twice", append([]string{"--public-key", pub, "--arg", "a=1", "--arg", "a=2"}, call...), "--arg a: given twice"},
		{"arg in both", append([]string{"--public-key", pub, "--arg", "a=1", "--args", `{"a": 2}`}, call...), `"a" is given by both --arg and --args`},
		{"args float", append([]string{"--public-key", pub, "--args", `{"amount": 12.5}`}, call...), "12.5 is not an integer"},
		{"args object", append([]string{"--public-key", pub, "--args", `{"a": {"b": 1}}`}, call...), "objects are not supported"},
		{"args nested list", append([]string{"--public-key", pub, "--args", `{"a": [[1]]}`}, call...), "a list cannot hold lists"},
		{"args null", append([]string{"--public-key", pub, "--args", `{"a": null}`}, call...), "null is not supported"},
		{"args not object", append([]string{"--public-key", pub, "--args", `[1]`}, call...), "not a JSON object"},
		{"args trailing", append([]string{"--public-key", pub, "--args", `{} {}`}, call...), "unexpected data after the JSON object"},
		{"args top null", append([]string{"--public-key", pub, "--args", `null`}, call...), "got null"},
		{"bad authority", append([]string{"--authority", "ftp://x"}, call...), "not an http(s) URL"},
		{"two tokens", append([]string{"--public-key", pub}, append(call, "a", "b")...), "takes one token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newCLI(t).run("", append([]string{"verify"}, tt.args...)...)
			wantFail(t, r, exitUsage, tt.want)
			if r.stdout != "" {
				t.Fatalf("stdout = %q, want nothing on a usage error", r.stdout)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	date := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	got, err := parseArgs(
		[]string{"n=42", "neg=-7", "yes=true", "no=false", "when=2026-11-22T10:00:00Z", "s=hello", "f=1.5", "empty=", "eq=a=b", "True=True"},
		`{"list": ["a", "b"], "nums": [1, 2], "amount": 500, "flag": true, "to": "bob"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"n": int64(42), "neg": int64(-7), "yes": true, "no": false, "when": date, "s": "hello", "f": "1.5",
		"empty": "", "eq": "a=b", "True": "True",
		"list": []any{"a", "b"}, "nums": []any{int64(1), int64(2)}, "amount": int64(500), "flag": true, "to": "bob",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseArgs =\n%#v\nwant\n%#v", got, want)
	}
	if got, err := parseArgs(nil, ""); err != nil || got != nil {
		t.Fatalf("no arguments: %v, %v", got, err)
	}
	many := make([]string, 65)
	for i := range many {
		many[i] = "a" + strings.Repeat("x", i) + "=1"
	}
	if _, err := parseArgs(many, ""); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("65 arguments: %v", err)
	}
	b, _ := json.Marshal(want)
	if _, err := parseArgsJSON(string(b)); err != nil {
		t.Fatalf("round trip: %v", err)
	}
}
