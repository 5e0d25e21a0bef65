package main

import (
	"bufio"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
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

// TestDemoKeep: "demo --keep" leaves the authority and its console
// running, says where and how to sign in (a demo admin), and the console
// answers that sign-in with the demo's session; Ctrl-C stops it and the
// data folder stays.
func TestDemoKeep(t *testing.T) {
	cmd := exec.Command(binary(t), "demo", "--keep")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var mu sync.Mutex
	var out strings.Builder
	signIn := make(chan []string, 1)
	done := make(chan error, 1)
	consoleRE := regexp.MustCompile(`The console is running on (http://127\.0\.0\.1:\d+/console/)`)
	credRE := regexp.MustCompile(`Sign in with name (\S+) and credential (mp_\S+)`)
	go func() {
		sc := bufio.NewScanner(stdout)
		var url string
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := consoleRE.FindStringSubmatch(sc.Text()); m != nil {
				url = m[1]
			}
			if m := credRE.FindStringSubmatch(sc.Text()); m != nil {
				signIn <- []string{url, m[1], m[2]}
			}
		}
		done <- cmd.Wait()
	}()
	var got []string
	select {
	case got = <-signIn:
	case err := <-done:
		t.Fatalf("demo --keep exited (%v) without leaving the console running:\n%s", err, out.String())
	case <-time.After(2 * time.Minute):
		t.Fatal("demo --keep did not print where to sign in within 2 minutes")
	}
	base, name, cred := strings.TrimSuffix(got[0], "/console/"), got[1], got[2]
	if base == "" {
		t.Fatal("the console's URL was not printed before the credential")
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	body := httpGet(t, hc, base+"/console/signin")
	pre := regexp.MustCompile(`name="pre" value="([^"]+)"`).FindStringSubmatch(body)
	if pre == nil {
		t.Fatalf("no sign-in form:\n%s", body)
	}
	resp, err := hc.PostForm(base+"/console/signin", url.Values{"name": {name}, "credential": {cred}, "pre": {pre[1]}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `data-session="`) || !strings.Contains(string(page), "orchestrator") {
		t.Fatalf("signed in, the sessions page (%d) does not list the demo's session:\n%s", resp.StatusCode, page)
	}
	// The demo's tool server ships its decisions (in the background, so
	// wait for them): the session's tree gets the two sub-agents' hops.
	sess := regexp.MustCompile(`data-session="([^"]+)"`).FindStringSubmatch(string(page))
	deadline := time.Now().Add(time.Minute)
	for {
		tree := httpGet(t, hc, base+"/console/session?id="+url.QueryEscape(sess[1]))
		if strings.Contains(tree, `data-holder="reader"`) && strings.Contains(tree, `data-holder="refunder"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo session's tree has no reader and refunder hops after a minute:\n%s", tree)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo --keep after Ctrl-C: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("demo --keep did not stop within a minute of SIGINT")
	}
	mu.Lock()
	text := out.String()
	mu.Unlock()
	m := regexp.MustCompile(`The authority's data is kept in (\S+)\.`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("demo --keep does not say where the data is:\n%s", text)
	}
	t.Cleanup(func() { _ = os.RemoveAll(m[1]) })
	if st, err := os.Stat(m[1]); err != nil || !st.IsDir() {
		t.Fatalf("the kept folder %s: %v", m[1], err)
	}
}

func httpGet(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
