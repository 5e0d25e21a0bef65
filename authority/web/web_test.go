package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/authority/web"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	srv  *httptest.Server
	clk  *clock
	dir  *people.Directory
	w    *web.Web
	cred string
	name string
}

// newFixture serves a Web under /console with one page, /console/, that
// shows the person, and one form target, POST /console/act.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}
	dir := people.NewDirectory(kv.NewMemory(clk.now), clk.now)
	cred, err := dir.Create(context.Background(), people.Person{Name: "ann@acme.test", Role: people.RoleViewer, Orgs: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := web.New(web.Config{Sessions: kv.NewMemory(clk.now), People: dir, Prefix: "/console", Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clk: clk, dir: dir, w: w, cred: cred, name: "ann@acme.test"}
	mux := http.NewServeMux()
	mux.Handle("/console/", w.Handler())
	mux.Handle("GET /console/{$}", w.Page(func(rw http.ResponseWriter, r *web.Request) {
		io.WriteString(rw, "hello "+r.Person.Name+" csrf="+r.CSRF)
	}))
	mux.Handle("POST /console/act", w.Page(func(rw http.ResponseWriter, r *web.Request) {
		io.WriteString(rw, "acted")
	}))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var preRE = regexp.MustCompile(`name="pre" value="([^"]+)"`)

// signIn gets the form and posts it; it returns the POST's response.
func (f *fixture) signIn(t *testing.T, c *http.Client, name, cred string) *http.Response {
	t.Helper()
	resp, err := c.Get(f.srv.URL + "/console/signin")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := preRE.FindSubmatch(body)
	if m == nil {
		t.Fatalf("sign-in form without its pre-session token:\n%s", body)
	}
	resp, err = c.PostForm(f.srv.URL+"/console/signin", url.Values{"name": {name}, "credential": {cred}, "pre": {string(m[1])}, "next": {"/console/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestSignInAndOut(t *testing.T) {
	f := newFixture(t)
	c := client(t)
	resp, _ := get(t, c, f.srv.URL+"/console/")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/signin?next=") {
		t.Fatalf("unsigned GET: %d %s, want a redirect to sign-in", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = f.signIn(t, c, f.name, f.cred)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sc *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "mandate_web" {
			sc = ck
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/", sc)
	}
	if strings.Contains(sc.Value, f.cred) {
		t.Fatal("the cookie holds the credential")
	}
	resp, body := get(t, c, f.srv.URL+"/console/")
	if resp.StatusCode != 200 || !strings.Contains(body, "hello ann@acme.test") {
		t.Fatalf("signed-in GET: %d %q", resp.StatusCode, body)
	}
	csrf := strings.TrimSpace(body[strings.Index(body, "csrf=")+5:])
	resp, err := c.PostForm(f.srv.URL+"/console/signout", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	resp, _ = get(t, c, f.srv.URL+"/console/")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d, want a redirect to sign-in", resp.StatusCode)
	}
	// The old cookie, replayed, is dead too.
	c2 := client(t)
	u, _ := url.Parse(f.srv.URL)
	c2.Jar.SetCookies(u, []*http.Cookie{{Name: "mandate_web", Value: sc.Value, Path: "/"}})
	if resp, _ = get(t, c2, f.srv.URL+"/console/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("replayed cookie after sign-out: %d", resp.StatusCode)
	}
}

func TestSignInRefused(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ name, user, cred string }{
		{"wrong credential", f.name, "mp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"right credential, wrong name", "bob@acme.test", f.cred},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.signIn(t, client(t), tc.user, tc.cred)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
		})
	}
	// Without the pre-session token (a forged sign-in form).
	resp, err := client(t).PostForm(f.srv.URL+"/console/signin", url.Values{"name": {f.name}, "credential": {f.cred}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-in without the form token: %d, want 403", resp.StatusCode)
	}
}

func TestSignInRateLimitedPerName(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < web.MaxFailuresPerName; i++ {
		if resp := f.signIn(t, client(t), f.name, "mp_wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
	}
	// Now even the right credential waits.
	resp := f.signIn(t, client(t), f.name, f.cred)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after %d failures: %d, want 429 with Retry-After", web.MaxFailuresPerName, resp.StatusCode)
	}
	f.clk.add(web.FailureWindow)
	if resp := f.signIn(t, client(t), f.name, f.cred); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the window: %d, want a sign-in", resp.StatusCode)
	}
}

func TestSignInRateLimitedPerIP(t *testing.T) {
	f := newFixture(t)
	c := client(t)
	var last int
	for i := 0; i <= web.MaxAttemptsPerIP; i++ {
		last = f.signIn(t, c, "x"+strings.Repeat("y", i)+"@acme.test", "mp_wrong").StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("attempt %d from one IP: %d, want 429", web.MaxAttemptsPerIP+1, last)
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t)
	c := client(t)
	f.signIn(t, c, f.name, f.cred)
	_, body := get(t, c, f.srv.URL+"/console/")
	csrf := strings.TrimSpace(body[strings.Index(body, "csrf=")+5:])
	post := func(form url.Values, hdr map[string]string) int {
		req, _ := http.NewRequest("POST", f.srv.URL+"/console/act", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(url.Values{"csrf": {csrf}}, nil); got != 200 {
		t.Fatalf("same-site form with its token: %d", got)
	}
	// Cross-origin, even with the token (stolen or not): refused by
	// http.CrossOriginProtection.
	if got := post(url.Values{"csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}); got != http.StatusForbidden {
		t.Fatalf("cross-site post: %d, want 403", got)
	}
	if got := post(url.Values{"csrf": {csrf}}, map[string]string{"Origin": "https://evil.test"}); got != http.StatusForbidden {
		t.Fatalf("foreign Origin post: %d, want 403", got)
	}
	// No Sec-Fetch-Site, no Origin (an old browser): the token decides.
	if got := post(url.Values{}, nil); got != http.StatusForbidden {
		t.Fatalf("post without the token: %d, want 403", got)
	}
	if got := post(url.Values{"csrf": {csrf + "x"}}, nil); got != http.StatusForbidden {
		t.Fatalf("post with a wrong token: %d, want 403", got)
	}
}

func TestTimeouts(t *testing.T) {
	f := newFixture(t)
	c := client(t)
	f.signIn(t, c, f.name, f.cred)
	// Active every 20 minutes: the idle timeout never fires...
	for range 5 {
		f.clk.add(20 * time.Minute)
		if resp, _ := get(t, c, f.srv.URL+"/console/"); resp.StatusCode != 200 {
			t.Fatalf("active session: %d", resp.StatusCode)
		}
	}
	// ...idle past it, the session ends.
	f.clk.add(web.DefaultIdleTimeout)
	if resp, _ := get(t, c, f.srv.URL+"/console/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("idle session: %d, want a redirect to sign-in", resp.StatusCode)
	}
	// The absolute limit holds however busy the person is.
	f.signIn(t, c, f.name, f.cred)
	for elapsed := time.Duration(0); elapsed < web.DefaultMaxAge-20*time.Minute; elapsed += 20 * time.Minute {
		f.clk.add(20 * time.Minute)
		if resp, _ := get(t, c, f.srv.URL+"/console/"); resp.StatusCode != 200 {
			t.Fatalf("busy session at %s: %d", elapsed, resp.StatusCode)
		}
	}
	f.clk.add(30 * time.Minute)
	if resp, _ := get(t, c, f.srv.URL+"/console/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("session past its max age: %d, want a redirect", resp.StatusCode)
	}
}

func TestRemovedPersonSignedOut(t *testing.T) {
	f := newFixture(t)
	c := client(t)
	f.signIn(t, c, f.name, f.cred)
	if err := f.dir.Delete(context.Background(), f.name); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, c, f.srv.URL+"/console/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("removed person: %d, want a redirect to sign-in", resp.StatusCode)
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/console/signin", "/console/assets/web.css"} {
		resp, _ := get(t, client(t), f.srv.URL+path)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP allows inline code", path)
		}
		for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", path, h, got, want)
			}
		}
	}
}

func TestSecureCookieOverTLS(t *testing.T) {
	clk := &clock{t: time.Now()}
	dir := people.NewDirectory(kv.NewMemory(clk.now), clk.now)
	cred, _ := dir.Create(context.Background(), people.Person{Name: "ann", Role: people.RoleAdmin})
	w, err := web.New(web.Config{Sessions: kv.NewMemory(clk.now), People: dir, Prefix: "/console", Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(w.Handler())
	defer srv.Close()
	c := srv.Client()
	jar, _ := cookiejar.New(nil)
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	f := &fixture{srv: srv}
	resp := f.signIn(t, c, "ann", cred)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in over TLS: %d", resp.StatusCode)
	}
	found := false
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-mandate_web" {
			found = ck.Secure && ck.HttpOnly && ck.Path == "/" && ck.Domain == ""
		}
	}
	if !found {
		t.Fatalf("over TLS the session cookie must be __Host-, Secure, HttpOnly, Path=/: %v", resp.Cookies())
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/console/sessions?q=a": "/console/sessions?q=a",
		"/oauth2/authorize?x=1": "/oauth2/authorize?x=1",
		"https://evil.test/":    "/console/",
		"//evil.test/":          "/console/",
		"/\\evil.test":          "/console/",
		"":                      "/console/",
		"console":               "/console/",
	} {
		if got := web.LocalPath(in, "/console/"); got != want {
			t.Errorf("LocalPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAllowFormAction(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Security-Policy", web.CSP)
	web.AllowFormAction(rec, "https://client.test/cb?x=1", "bad value; script-src *")
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "form-action 'self' https://client.test;") || strings.Contains(csp, "script-src *") {
		t.Fatalf("CSP %q", csp)
	}
}

// A new sign-in in the same browser ends the session it held.
func TestSignInReplacesSession(t *testing.T) {
	f := newFixture(t)
	u, _ := url.Parse(f.srv.URL)
	a := client(t)
	f.signIn(t, a, f.name, f.cred)
	held := a.Jar.Cookies(u)
	// Another sign-in from a browser that sends the session it holds.
	b := client(t)
	resp, body := get(t, b, f.srv.URL+"/console/signin")
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	b.Jar.SetCookies(u, held)
	m := preRE.FindStringSubmatch(body)
	resp, err := b.PostForm(f.srv.URL+"/console/signin", url.Values{"name": {f.name}, "credential": {f.cred}, "pre": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	if resp, _ := get(t, a, f.srv.URL+"/console/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the session replaced by a new sign-in still works: %d", resp.StatusCode)
	}
	if resp, _ := get(t, b, f.srv.URL+"/console/"); resp.StatusCode != 200 {
		t.Fatalf("the new session: %d", resp.StatusCode)
	}
}

// SignOutAll ends every session of one person, and only theirs.
func TestSignOutAll(t *testing.T) {
	f := newFixture(t)
	bobCred, err := f.dir.Create(context.Background(), people.Person{Name: "bob@acme.test", Role: people.RoleViewer, Orgs: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	a1, a2, bob := client(t), client(t), client(t)
	f.signIn(t, a1, f.name, f.cred)
	f.signIn(t, a2, f.name, f.cred)
	f.signIn(t, bob, "bob@acme.test", bobCred)
	n, err := f.w.SignOutAll(context.Background(), f.name)
	if err != nil || n != 2 {
		t.Fatalf("SignOutAll = %d, %v; want 2", n, err)
	}
	for _, c := range []*http.Client{a1, a2} {
		if resp, _ := get(t, c, f.srv.URL+"/console/"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("a signed-out session still works: %d", resp.StatusCode)
		}
	}
	if resp, _ := get(t, bob, f.srv.URL+"/console/"); resp.StatusCode != 200 {
		t.Fatalf("another person's session ended: %d", resp.StatusCode)
	}
}
