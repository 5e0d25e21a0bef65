package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// result is the outcome of one in-process command line.
type result struct {
	stdout, stderr string
	code           int
}

// cli runs commands in-process, through the same cobra root as the binary.
type cli struct {
	t   *testing.T
	env map[string]string
	now func() time.Time
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, env: map[string]string{}}
}

// run executes args with stdin as standard input.
func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	var out, errb bytes.Buffer
	now := c.now
	if now == nil {
		now = time.Now
	}
	a := &app{
		getenv: func(k string) string { return c.env[k] },
		client: &http.Client{Timeout: 10 * time.Second},
		now:    now,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := runApp(ctx, a, args, strings.NewReader(stdin), &out, &errb)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// ok runs a command that must succeed and returns its stdout.
func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != 0 {
		c.t.Fatalf("mandate %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// wantFail checks the exit code and that stderr ends with exactly one
// "mandate: " error line containing want.
func wantFail(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code = %d, want %d; stderr %q", r.code, code, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "mandate: ") {
		t.Fatalf("last stderr line %q does not start with \"mandate: \" (stderr %q)", last, r.stderr)
	}
	errLines := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "mandate: ") && !strings.HasPrefix(l, "mandate: note: ") {
			errLines++
		}
	}
	if errLines != 1 {
		t.Fatalf("stderr has %d error lines, want 1: %q", errLines, r.stderr)
	}
	if !strings.Contains(last, want) {
		t.Fatalf("error %q does not contain %q", last, want)
	}
}

// testKey writes a fresh key file and returns its path and public key hex.
func testKey(t *testing.T) (path, pub string) {
	t.Helper()
	k, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := token.MarshalPrivateKeyPEM(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, token.FormatPublicKey(k.Public().Key)
}

// firstLine returns s without its trailing newline, failing unless s is one line.
func oneTokenLine(t *testing.T, s string) string {
	t.Helper()
	if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		t.Fatalf("stdout %q is not exactly one line", s)
	}
	return strings.TrimSuffix(s, "\n")
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
