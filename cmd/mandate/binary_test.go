package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary builds the mandate binary once per test run.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "mandate-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "mandate")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = errors.New("go build: " + err.Error() + ": " + string(out))
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// execCLI runs the built binary. A nil stdin leaves it at /dev/null.
func execCLI(t *testing.T, dir string, stdin *string, args ...string) result {
	t.Helper()
	return execCLIEnv(t, dir, stdin, "", args...)
}

// execCLIEnv is execCLI with MANDATE_TOKEN set to mandateToken.
func execCLIEnv(t *testing.T, dir string, stdin *string, mandateToken string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MANDATE_TOKEN="+mandateToken)
	if stdin != nil {
		cmd.Stdin = strings.NewReader(*stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func TestBinary(t *testing.T) {
	dir := t.TempDir()
	str := func(s string) *string { return &s }

	r := execCLI(t, dir, nil, "keygen", "--out", "key.pem")
	if r.code != 0 {
		t.Fatalf("keygen: exit %d: %s", r.code, r.stderr)
	}
	pub := strings.TrimSpace(r.stdout)
	wantMode(t, filepath.Join(dir, "key.pem"), 0o600)
	wantFail(t, execCLI(t, dir, nil, "keygen", "--out", "key.pem"), exitFailure, "key.pem already exists")

	r = execCLI(t, dir, nil, "mint", "--private-key", "key.pem", "--agent", "a", "--right", "service=s,tool=*,op=*,resource=doc:")
	if r.code != 0 {
		t.Fatalf("mint: exit %d: %s", r.code, r.stderr)
	}
	sess := r.stdout
	r = execCLI(t, dir, str(sess), "attenuate", "--op", "read")
	if r.code != 0 {
		t.Fatalf("attenuate: exit %d: %s", r.code, r.stderr)
	}
	reader := r.stdout

	verify := []string{"verify", "--public-key", pub, "--service", "s", "--tool", "t", "--resource", "doc:1"}
	if r = execCLI(t, dir, str(reader), append(verify, "--op", "read")...); r.code != exitOK || !strings.Contains(r.stdout, `"allowed": true`) {
		t.Fatalf("verify allowed: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	r = execCLI(t, dir, str(reader), append(verify, "--op", "write")...)
	wantFail(t, r, exitFailure, "denied: a check failed")
	if !strings.Contains(r.stdout, `"allowed": false`) {
		t.Fatalf("denied decision: %s", r.stdout)
	}
	r = execCLI(t, dir, str("garbage"), append(verify, "--op", "read")...)
	wantFail(t, r, exitFailure, "denied: invalid token")
	wantFail(t, execCLI(t, dir, str(reader), append(verify[:1], "--op", "read")...), exitUsage, "give --public-key HEX")

	// Usage errors exit 2 with one line.
	wantFail(t, execCLI(t, dir, nil, "mint", "--bogus"), exitUsage, `unknown flag: --bogus; see "mandate mint --help"`)
	wantFail(t, execCLI(t, dir, nil, "frobnicate"), exitUsage, `unknown command "frobnicate"`)
	// No argument and nothing useful on stdin (/dev/null is not a pipe).
	wantFail(t, execCLI(t, dir, nil, "inspect"), exitUsage, "no token: pass it as the argument or pipe it on stdin")
	// A bad token is exit 1.
	wantFail(t, execCLI(t, dir, str("not a token"), "inspect"), exitFailure, "invalid token")

	for _, args := range [][]string{{"--help"}, {"help"}, {"mint", "--help"}, {"version"}, {"--version"}} {
		r := execCLI(t, dir, nil, args...)
		if r.code != 0 || r.stdout == "" || r.stderr != "" {
			t.Errorf("mandate %v: exit %d, stdout %d bytes, stderr %q", args, r.code, len(r.stdout), r.stderr)
		}
	}
}

// TestBinaryAuthorityServe runs "mandate authority serve" as a process and
// drives mint, attenuate, verify --authority and revoke against it with the
// same binary, then stops it with SIGTERM.
func TestBinaryAuthorityServe(t *testing.T) {
	admin := "admin-token-for-the-binary-test-0123456789"
	srv := serveAuthority(t, admin)
	url, exited := srv.url, srv.exited
	run := func(stdin string, env string, args ...string) result {
		t.Helper()
		return execCLIEnv(t, "", &stdin, env, args...)
	}
	r := run("", admin, "mint", "--authority", url, "--agent", "a", "--org", "acme", "--right", "service=s,tool=*,op=*,resource=doc:")
	if r.code != 0 {
		t.Fatalf("mint: exit %d: %s", r.code, r.stderr)
	}
	sess := r.stdout
	// What comes next is on stderr, the token alone on stdout.
	if !strings.Contains(r.stderr, "to revoke the session: mandate revoke --authority "+url+" --session s_") {
		t.Fatalf("mint stderr: %q", r.stderr)
	}
	r = run(sess, "", "attenuate", "--op", "read")
	if r.code != 0 {
		t.Fatalf("attenuate: exit %d: %s", r.code, r.stderr)
	}
	reader := r.stdout
	pin := srv.pin
	verify := []string{"verify", "--authority", url, "--trust-key", pin, "--service", "s", "--tool", "t", "--op", "read", "--resource", "doc:1"}
	if r = run(reader, "", verify...); r.code != exitOK {
		t.Fatalf("verify: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	// As the README says: the token on stdin, like every command.
	if r = run(reader, "", "revoke", "--authority", url); r.code != 0 {
		t.Fatalf("revoke: exit %d: %s", r.code, r.stderr)
	}
	r = run(reader, "", verify...)
	wantFail(t, r, exitFailure, "denied: revoked")
	if r = run(sess, "", verify...); r.code != exitOK {
		t.Fatalf("the parent after revoking the child: exit %d: %s", r.code, r.stdout)
	}

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("authority serve after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("authority serve did not stop within 30s of SIGTERM")
	}
}
