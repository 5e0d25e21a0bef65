package console_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/console"
	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/token"
)

// env is an authority (Badger on disk) with the console mounted, served on
// 127.0.0.1, and one person of each role.
type env struct {
	t     *testing.T
	a     *authority.Authority
	url   string
	admin authority.Principal
	creds map[string]string // person name → credential
}

const adminToken = "console-test-admin-token-0123456789abcdef"

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	a, err := authority.Open(ctx, authority.Config{DataDir: t.TempDir(), AdminToken: adminToken, AdminTokenOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	base := serveConsole(t, a)
	e := &env{t: t, a: a, url: base, admin: authority.Principal{Admin: true}, creds: map[string]string{}}
	for _, p := range []people.Person{
		{Name: "root@acme.test", Role: people.RoleAdmin},
		{Name: "ann@acme.test", Role: people.RoleApprover, Orgs: []string{"acme"}},
		{Name: "vic@acme.test", Role: people.RoleViewer, Orgs: []string{"acme"}},
		{Name: "olga@other.test", Role: people.RoleViewer, Orgs: []string{"other"}},
	} {
		_, cred, err := a.AddPerson(ctx, e.admin, p)
		if err != nil {
			t.Fatal(err)
		}
		e.creds[p.Name] = cred
	}
	return e
}

// serveConsole serves a's API and console on 127.0.0.1 until the test
// ends, then closes a; it returns the base URL.
func serveConsole(tb testing.TB, a *authority.Authority) string {
	tb.Helper()
	c, err := console.New(console.Config{Authority: a})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: authority.NewHandler(a, c.Mount()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() {
		a.Shutdown()
		_ = srv.Close()
		_ = a.Close()
	})
	return "http://" + ln.Addr().String()
}

// mint mints a session token as the admin.
func (e *env) mint(session, agent, org string) *authority.MintResult {
	e.t.Helper()
	m, err := e.a.Mint(context.Background(), e.admin, authority.MintRequest{
		Session: session, Agent: agent, User: "alice@" + org + ".test", Org: org, TTL: time.Hour,
		Rights: []token.Right{{Service: "github", Tool: "*", Operation: "read", Resource: "repo:" + org + "/"}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// browser is a cookie-keeping HTTP client signed in as a person.
type browser struct {
	e    *env
	c    *http.Client
	csrf string
}

var (
	preRE  = regexp.MustCompile(`name="pre" value="([^"]+)"`)
	csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

func (e *env) signIn(name string) *browser {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	_, body := b.get("/console/signin")
	m := preRE.FindStringSubmatch(body)
	if m == nil {
		e.t.Fatalf("no sign-in form:\n%s", body)
	}
	resp, err := b.c.PostForm(e.url+"/console/signin", url.Values{"name": {name}, "credential": {e.creds[name]}, "pre": {m[1]}})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("sign-in as %s: %d", name, resp.StatusCode)
	}
	_, body = b.get("/console/sessions")
	if m := csrfRE.FindStringSubmatch(body); m != nil {
		b.csrf = m[1]
	}
	return b
}

func (b *browser) get(path string) (int, string) {
	b.e.t.Helper()
	resp, err := b.c.Get(b.e.url + path)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) post(path string, form url.Values) int {
	b.e.t.Helper()
	if form.Get("csrf") == "" {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.e.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
