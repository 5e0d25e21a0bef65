package approvals_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/approvals"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier/approval"
)

// The child authority: when childEnv is set, the test binary serves an
// authority on Badger in that folder instead of running tests; with
// hangEnv set too, it prints "SPENT id" after a use is durably spent and
// never answers, so that the parent can kill it between redeem and
// answer.
const (
	childEnv = "MANDATE_APPROVALS_TEST_CHILD_DIR"
	hangEnv  = "MANDATE_APPROVALS_TEST_HANG_AFTER_SPEND"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(runChild(dir, os.Getenv(hangEnv) != ""))
	}
	os.Exit(m.Run())
}

func runChild(dir string, hang bool) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := authority.Config{DataDir: dir, AdminToken: adminToken, AdminTokenOutput: io.Discard}
	if hang {
		cfg.Approvals.AfterSpend = func(id string) {
			fmt.Printf("SPENT %s\n", id)
			select {} // the answer never leaves: the parent kills us here
		}
	}
	err := authority.Serve(ctx, authority.ServeConfig{
		Config: cfg,
		Addr:   "127.0.0.1:0",
		Ready:  func(a net.Addr) { fmt.Printf("LISTENING %s\n", a) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

type child struct {
	cmd    *exec.Cmd
	base   string
	lines  chan string
	stderr *bytes.Buffer
}

func startChild(t *testing.T, dir string, hang bool) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	if hang {
		cmd.Env = append(cmd.Env, hangEnv+"=1")
	}
	c := &child{cmd: cmd, lines: make(chan string, 16), stderr: &bytes.Buffer{}}
	cmd.Stderr = c.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.kill)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	line := c.next(t)
	addr, ok := strings.CutPrefix(line, "LISTENING ")
	if !ok {
		t.Fatalf("child authority said %q: %s", line, c.stderr)
	}
	c.base = "http://" + addr
	return c
}

// next returns the child's next line of output.
func (c *child) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			t.Fatalf("the child exited: %s", c.stderr)
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatalf("the child said nothing in 30s: %s", c.stderr)
	}
	return ""
}

// kill sends SIGKILL: no shutdown code runs, nothing is flushed.
func (c *child) kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
}

func (c *child) call(t *testing.T, method, path, bearer string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCrashBetweenRedeemAndAnswer kills the authority process after it
// durably spent a use and before it answered: the verifier gets no answer
// (and denies the call); after a restart the spent use stays spent, so an
// approval for two uses allows exactly one more call, never two.
func TestCrashBetweenRedeemAndAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts authority processes")
	}
	dir := t.TempDir()
	c := startChild(t, dir, true)
	var person struct{ Credential string }
	c.call(t, "POST", "/v1/people", adminToken, map[string]any{"name": "alice@acme.test", "role": "approver", "orgs": []string{"acme"}}, &person)
	var minted struct{ Token string }
	c.call(t, "POST", "/v1/tokens", adminToken, map[string]any{"agent": "support-bot", "org": "acme", "session": "s_crash",
		"rights": []token.Right{{Service: "payments", Tool: "*", Operation: "*", Resource: "order:acme/"}}, "ttl_seconds": 3600}, &minted)
	b, err := attenuate.New(minted.Token)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := b.RequireApproval("refund", attenuate.ApprovedByOrg()).Build()
	if err != nil {
		t.Fatal(err)
	}
	var q approvals.Request
	c.call(t, "POST", "/v1/approvals", tok, askBody(refund("7", 10), 2), &q)
	c.call(t, "POST", "/v1/approvals/"+q.ID+"/approve", person.Credential, map[string]any{}, &q)
	u, err := token.ParseApproval(q.Approval)
	if err != nil {
		t.Fatal(err)
	}
	a := u.UnsafeClaims() // the redeemer trusts what the verifier verified
	red := approval.Redemption{Approval: &a, Encoded: q.Approval, CallDigest: a.CallDigest, Token: tok}

	r, err := approval.NewAuthorityRedeemer(c.base, nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- r.Redeem(context.Background(), red) }()
	if l := c.next(t); l != "SPENT "+q.ID {
		t.Fatalf("child said %q, want SPENT %s", l, q.ID)
	}
	c.kill()
	if err := <-errc; err == nil || errors.Is(err, approval.ErrUsedUp) {
		t.Fatalf("the redemption cut short answered %v; want a transport error (the verifier denies)", err)
	}

	c = startChild(t, dir, false)
	r, _ = approval.NewAuthorityRedeemer(c.base, nil)
	if err := r.Redeem(context.Background(), red); err != nil {
		t.Fatalf("the second use after the restart: %v", err)
	}
	if err := r.Redeem(context.Background(), red); !errors.Is(err, approval.ErrUsedUp) {
		t.Fatalf("a third use: %v, want ErrUsedUp (the crashed use stays spent)", err)
	}
	var got approvals.Request
	c.call(t, "GET", "/v1/approvals/"+q.ID, adminToken, nil, &got)
	if len(got.Uses) != 2 {
		t.Fatalf("recorded uses %d, want 2", len(got.Uses))
	}
}
