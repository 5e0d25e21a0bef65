package main

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serveProc is "mandate authority serve" running as a process.
type serveProc struct {
	URL    string
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr strings.Builder
	exited chan error
}

// Stderr returns what the process printed on stderr so far.
func (p *serveProc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// startServe runs the binary's "authority serve" with env added to the
// environment, and waits for its "listening on" line.
func startServe(t *testing.T, env []string, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{exited: make(chan error, 1)}
	p.cmd = exec.Command(binary(t), append([]string{"authority", "serve", "--log-level", "warn"}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		p.exited <- p.cmd.Wait()
	}()
	select {
	case p.URL = <-urls:
	case err := <-p.exited:
		t.Fatalf("authority serve exited before listening: %v; stderr %q", err, p.Stderr())
	case <-time.After(60 * time.Second):
		t.Fatal("authority serve did not print its address within 60s")
	}
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("authority serve after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("authority serve did not stop within 60s of SIGTERM")
	}
}

// adminStatus is the status of GET /v1/clients with bearer.
func adminStatus(t *testing.T, url, bearer string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/v1/clients", nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

var generatedAdmin = regexp.MustCompile(`generated the admin token[^\n]*\n\n    (mda_\S+)\n`)

// TestBinaryAdminToken: a first start that cannot bind its address
// generates no admin token (so none is lost); the first start that serves
// prints one; later starts say how to replace it, and
// "authority admin-token --reset" does.
func TestBinaryAdminToken(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	r := execCLIEnv(t, dir, nil, "", "authority", "serve", "--data", data, "--addr", busy.Addr().String(), "--log-level", "warn")
	wantFail(t, r, exitFailure, "listen on "+busy.Addr().String())
	if strings.Contains(r.stderr, "admin token") {
		t.Fatalf("a start that could not listen printed an admin token: %q", r.stderr)
	}

	// The first start that serves generates and prints the token.
	env := []string{"MANDATE_ADMIN_TOKEN="}
	p := startServe(t, env, "--data", data, "--addr", "127.0.0.1:0")
	m := generatedAdmin.FindStringSubmatch(p.Stderr())
	if m == nil {
		t.Fatalf("no generated admin token in %q", p.Stderr())
	}
	first := m[1]
	if !strings.Contains(p.Stderr(), `mandate authority admin-token --reset --data `+data) {
		t.Fatalf("the token's banner does not say how to replace it: %q", p.Stderr())
	}
	if got := adminStatus(t, p.URL, first); got != http.StatusOK {
		t.Fatalf("GET /v1/clients with the printed token: %d", got)
	}
	// admin-token refuses to run while the authority holds the database.
	wantFail(t, execCLI(t, dir, nil, "authority", "admin-token", "--reset", "--data", data), exitFailure, "is the authority running? stop it first")
	p.stop(t)

	// A later start does not print it again, but says how to replace it.
	p = startServe(t, env, "--data", data, "--addr", "127.0.0.1:0")
	if strings.Contains(p.Stderr(), "generated the admin token") || !strings.Contains(p.Stderr(), "admin-token --reset --data "+data) {
		t.Fatalf("later start: %q", p.Stderr())
	}
	p.stop(t)

	wantFail(t, execCLI(t, dir, nil, "authority", "admin-token", "--data", data), exitUsage, "pass --reset")
	wantFail(t, execCLI(t, dir, nil, "authority", "admin-token", "--reset", "--data", filepath.Join(dir, "nothing")), exitFailure, "holds no authority")
	r = execCLI(t, dir, nil, "authority", "admin-token", "--reset", "--data", data)
	if r.code != 0 {
		t.Fatalf("admin-token --reset: exit %d: %s", r.code, r.stderr)
	}
	second := oneTokenLine(t, r.stdout)
	if second == first || !strings.HasPrefix(second, "mda_") || strings.Contains(r.stderr, second) {
		t.Fatalf("admin-token --reset: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	p = startServe(t, env, "--data", data, "--addr", "127.0.0.1:0")
	if got := adminStatus(t, p.URL, second); got != http.StatusOK {
		t.Fatalf("the new token: %d", got)
	}
	if got := adminStatus(t, p.URL, first); got != http.StatusUnauthorized {
		t.Fatalf("the old token: %d, want 401", got)
	}
	p.stop(t)
}

// TestBinaryServesConsole: "authority serve" serves the console on its own
// address and prints its URL; --no-console leaves it out.
func TestBinaryServesConsole(t *testing.T) {
	admin := "MANDATE_ADMIN_TOKEN=admin-token-for-the-console-test-0123456789"
	p := startServe(t, []string{admin}, "--data", filepath.Join(t.TempDir(), "data"), "--addr", "127.0.0.1:0")
	if want := "mandate console on " + p.URL + "/console/"; !strings.Contains(p.Stderr(), want) {
		t.Fatalf("stderr lacks %q:\n%s", want, p.Stderr())
	}
	resp, err := http.Get(p.URL + "/console/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the console's sign-in page: %d", resp.StatusCode)
	}
	// The OAuth consent page is a page of the console: a person not
	// signed in is sent to the console's sign-in, and comes back after.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(p.URL + "/oauth2/authorize?client_id=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/console/signin?next="+url.QueryEscape("/oauth2/authorize?client_id=x") {
		t.Fatalf("GET /oauth2/authorize signed out: %d %q, want a redirect to the console's sign-in", resp.StatusCode, loc)
	}
	p.stop(t)

	q := startServe(t, []string{admin}, "--data", filepath.Join(t.TempDir(), "data"), "--addr", "127.0.0.1:0", "--no-console")
	resp, err = http.Get(q.URL + "/console/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || strings.Contains(q.Stderr(), "mandate console on") {
		t.Fatalf("--no-console: GET /console/signin %d, stderr %q", resp.StatusCode, q.Stderr())
	}
	q.stop(t)
}
