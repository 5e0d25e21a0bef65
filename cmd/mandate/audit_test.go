package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/decisionlog"
)

// serveBinaryAuthority runs "mandate authority serve" and returns its URL
// and root public key.
func serveBinaryAuthority(t *testing.T, admin string) (url, rootKey string) {
	t.Helper()
	s := serveAuthority(t, admin)
	return s.url, s.pin
}

func TestBinaryAuditVerify(t *testing.T) {
	admin := "admin-token-for-the-audit-test-0123456789"
	url, root := serveBinaryAuthority(t, admin)
	dir := t.TempDir()
	run := func(env string, args ...string) result {
		t.Helper()
		return execCLIEnv(t, dir, nil, env, args...)
	}

	// The admin creates a verifier credential; it is printed once.
	r := run(admin, "authority", "verifier", "add", "shop", "--authority", url)
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "mdv_shop.") {
		t.Fatalf("verifier add: exit %d: %q %q", r.code, r.stdout, r.stderr)
	}
	cred := strings.TrimSpace(r.stdout)
	wantFail(t, run(admin, "authority", "verifier", "add", "shop", "--authority", url), exitFailure, "already_exists")
	wantFail(t, run("", "authority", "verifier", "list", "--authority", url), exitFailure, "401")
	if r := run(admin, "authority", "verifier", "list", "--authority", url); r.code != exitOK || !strings.HasPrefix(r.stdout, "shop\t") {
		t.Fatalf("verifier list: %q %q", r.stdout, r.stderr)
	}

	// A verifier ships three decisions with it.
	m := run(admin, "mint", "--authority", url, "--agent", "a", "--org", "acme", "--session", "s_audit", "--right", "service=s,tool=*,op=read,resource=doc:")
	if m.code != exitOK {
		t.Fatalf("mint: %s", m.stderr)
	}
	pub, _ := token.ParsePublicKey(root)
	sh, err := decisionlog.New(decisionlog.Config{URL: url, Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := verifier.New(verifier.Config{Keys: token.NewKeySet(token.PublicKey{ID: token.KeyID(pub), Key: pub}), InsecureNoRevocation: true, Decisions: sh})
	for _, op := range []string{"read", "write", "read"} {
		v.Authorize(context.Background(), strings.TrimSpace(m.stdout), verifier.Request{Service: "s", Tool: "t", Operation: op, Resource: "doc:1"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sh.Close(ctx); err != nil || sh.Stats().Shipped != 3 {
		t.Fatalf("ship: %v %+v", err, sh.Stats())
	}

	// Export, as the README does with curl.
	req, _ := http.NewRequest(http.MethodGet, url+"/v1/decisions/export", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	good := filepath.Join(dir, "decisions.jsonl")
	if err := os.WriteFile(good, body, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, keyArgs := range [][]string{{"--key", root}, {"--authority", url}} {
		r := run("", append(append([]string{"audit", "verify"}, keyArgs...), good)...)
		if r.code != exitOK || !strings.HasPrefix(r.stdout, "verified: 3 decisions (1 to 3), 1 signed heads") {
			t.Fatalf("audit verify %v: exit %d: %q %q", keyArgs, r.code, r.stdout, r.stderr)
		}
	}
	stdin := string(body)
	if r := execCLI(t, dir, &stdin, "audit", "verify", "--key", root, "-"); r.code != exitOK {
		t.Fatalf("from stdin: %q", r.stderr)
	}

	lines := strings.SplitAfter(string(body), "\n")
	for name, tc := range map[string]struct {
		content, want string
	}{
		"changed":   {strings.Replace(string(body), `"operation":"write"`, `"operation":"read"`, 1), "decision 2 does not match its hash: it was changed"},
		"removed":   {lines[0] + strings.Join(lines[2:], ""), "decision 3 follows decision 1"},
		"reordered": {lines[1] + lines[0] + strings.Join(lines[2:], ""), "decision 1 follows decision 2"},
	} {
		path := filepath.Join(dir, name+".jsonl")
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		wantFail(t, run("", "audit", "verify", "--key", root, path), exitFailure, tc.want)
	}
	other, _ := token.GenerateKey()
	wantFail(t, run("", "audit", "verify", "--key", token.FormatPublicKey(other.Public().Key), good), exitFailure, "not among the trusted keys")
	wantFail(t, run("", "audit", "verify", good), exitUsage, "--key PUBLIC_KEY or --authority URL")
	wantFail(t, run("", "audit", "verify", "--key", "zz", good), exitUsage, "--key")
	wantFail(t, run("", "audit", "verify", "--key", root, filepath.Join(dir, "missing.jsonl")), exitFailure, "open the export")

	if r := run(admin, "authority", "verifier", "delete", "shop", "--authority", url); r.code != exitOK {
		t.Fatalf("verifier delete: %q", r.stderr)
	}
}
