package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an authority and a tool server")
	}
	r := newCLI(t).run("", "demo")
	if r.code != 0 {
		t.Fatalf("demo: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	out := r.stdout
	want := []string{
		`(?m)^1\. Start an authority on http://127\.0\.0\.1:\d+`,
		`(?m)^2\. Start a tool server on http://127\.0\.0\.1:\d+ with mandate's verifier embedded`,
		`(?m)^3\. The admin registers the platform backend as client "platform", with a ceiling`,
		`right\("github", "\*", "\*", "repo:globex/"\)  ->  403`,
		`(?m)^4\. The platform mints a session token for agent "orchestrator"`,
		`(?m)^5\. The orchestrator delegates to two sub-agents, offline`,
		`check if operation\(\$o\), \["read"\]\.contains\(\$o\)`,
		`arg\("amount", \$a\), \$a <= 500`,
		`(?m)^6\. The agents call tools`,
		`reader +get_file repo:acme/web/README\.md +allowed \(200\)`,
		`reader +create_pull_request repo:acme/web +denied \(403\)\n +a check failed: block 1`,
		`reader +get_file repo:acme/website/index\.html +denied \(403\)`,
		`refunder +refund order:acme/1001 amount=200 +allowed \(200\)`,
		`refunder +refund order:acme/1002 amount=900 +denied \(403\)`,
		`orchestrator +get_file repo:globex/secrets +denied \(403\)\n +no right covers the request`,
		`(?m)^7\. A refund of 400 is above the refunder's approval threshold`,
		`refunder +refund order:acme/1005 amount=400 +denied \(403\)\n +approval required`,
		`request ap_\w+`,
		`refunder +refund order:acme/1005 amount=400 \+approval +allowed \(200\)`,
		`refunder +refund order:acme/1005 amount=400 \+approval +denied \(403\)`,
		`(?m)^8\. Revoke the reader by possession of its token`,
		`POST /v1/revocations  ->  1 log entry, durable \(seq \d+\)`,
		`reader +get_file repo:acme/web/README\.md +denied \(401\)\n +revoked: block 1`,
		`refunder +refund order:acme/1003 amount=200 +allowed \(200\)`,
		`(?m)^9\. The platform revokes the whole session \S+/s_`,
		`orchestrator +get_file repo:acme/web/README\.md +denied \(401\)\n +revoked: block 0`,
		`refunder +refund order:acme/1004 amount=200 +denied \(401\)`,
		`(?m)^Done\.`,
	}
	pos := 0
	for _, w := range want {
		loc := regexp.MustCompile(w).FindStringIndex(out[pos:])
		if loc == nil {
			t.Fatalf("the narration lacks %s after offset %d:\n%s", w, pos, out)
		}
		pos += loc[1]
	}
	if n := len(regexp.MustCompile(`(?m)^\d+\. `).FindAllString(out, -1)); n != 9 {
		t.Errorf("%d numbered steps, want 9", n)
	}
	// No token, key or full revocation ID is printed, and no colour codes.
	for _, f := range strings.Fields(out) {
		if len(f) > 100 {
			t.Fatalf("the narration prints a long blob (a token?): %.40s…", f)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Fatal("the narration has terminal escape codes")
	}
	// The temporary folder is gone.
	m := regexp.MustCompile(`Temporary data folder: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("the narration does not name its temporary folder")
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Fatalf("the temporary folder %s is still there (%v)", m[1], err)
	}
}

func TestDemoKeep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an authority and a tool server")
	}
	r := newCLI(t).run("", "demo", "--keep")
	if r.code != 0 {
		t.Fatalf("demo --keep: exit %d: %s", r.code, r.stderr)
	}
	m := regexp.MustCompile(`The authority's data is kept in (\S+)\.`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("demo --keep does not say where the data is:\n%s", r.stdout)
	}
	t.Cleanup(func() { _ = os.RemoveAll(m[1]) })
	if st, err := os.Stat(m[1]); err != nil || !st.IsDir() {
		t.Fatalf("the kept folder %s: %v", m[1], err)
	}
}
