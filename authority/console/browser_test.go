package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mandate-dev/mandate/internal/browsertest"
)

// The browser tests drive a real headless Chromium (Debian's chromium
// package; .ci/run installs it) through the console with chromedp. They
// skip when no Chromium is found, unless MANDATE_REQUIRE_BROWSER is set
// (CI sets it), when they fail instead. Screenshots of the main pages go
// to MANDATE_SCREENSHOTS (default: a temporary folder of the test).

// tab is one browser tab and the folder its screenshots go to.
type tab struct {
	t    *testing.T
	ctx  context.Context
	shot string
}

// newBrowser starts a headless Chromium with its own profile; each call to
// tab opens a new incognito-like context (its own cookies).
func newBrowser(t *testing.T) func() *tab {
	t.Helper()
	bctx := browsertest.Start(t)
	dir := os.Getenv("MANDATE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return func() *tab {
		ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		ctx, cancel2 := context.WithTimeout(ctx, 60*time.Second)
		t.Cleanup(cancel2)
		return &tab{t: t, ctx: ctx, shot: dir}
	}
}

func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML("html"))
		b.t.Fatalf("browser: %v\npage:\n%s", err, clipHTML(html))
	}
}

func clipHTML(s string) string {
	if len(s) > 4000 {
		return s[:4000] + "…"
	}
	return s
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(sel))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *tab) html() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.OuterHTML("html"))
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

func (b *tab) count(sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

// waitLoaded waits until the tab has navigated to a URL holding part and
// the page has loaded (after a click that submits a form, the old page is
// still there for a moment).
func (b *tab) waitLoaded(part string) {
	b.t.Helper()
	js := fmt.Sprintf(`location.href.includes(%q) && document.readyState === "complete"`, part)
	deadline := time.Now().Add(30 * time.Second)
	for {
		// An evaluation the navigation interrupts fails: ask again.
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the page with %q did not load: %v", part, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// screenshot saves the page as NAME.png.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shot, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// signIn signs in through the form, as a person types it.
func (b *tab) signIn(e *env, name string) {
	b.t.Helper()
	b.do(chromedp.Navigate(e.url+"/console/"),
		chromedp.WaitVisible("#signin-form"),
		chromedp.SendKeys("#name", name),
		chromedp.SendKeys("#credential", e.creds[name]),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("#who"))
	if got := b.text("#who"); !strings.Contains(got, name) {
		b.t.Fatalf("signed in as %q, want %s", got, name)
	}
}

// A viewer sees no buttons; a forged cross-origin form post is refused.
func TestBrowserViewerAndForgedPost(t *testing.T) {
	e := newEnv(t)
	m := e.mint("ops/s1", "orchestrator", "acme")
	newTab := newBrowser(t)

	viewer := newTab()
	viewer.signIn(e, "vic@acme.test")
	viewer.do(chromedp.Navigate(e.url+"/console/session?id=ops/s1"), chromedp.WaitVisible("#tree"))
	for _, sel := range []string{"#revoke-session", "[data-revoke]", "form[action$='/revoke']", "#rotate"} {
		if n := viewer.count(sel); n != 0 {
			t.Errorf("the viewer sees %d %s", n, sel)
		}
	}
	viewer.do(chromedp.Navigate(e.url+"/console/keys"), chromedp.WaitVisible("#keys"))
	if n := viewer.count("#rotate"); n != 0 {
		t.Error("the viewer sees the rotate button")
	}

	// An admin signed in, lured to another site whose form posts to the
	// console: the browser marks the request Sec-Fetch-Site: cross-site
	// (and, SameSite=Lax, withholds the cookie), and the console refuses
	// it before it looks for a session.
	admin := newTab()
	admin.signIn(e, "root@acme.test")
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/console/revoke" id="f">
<input type="hidden" name="session" value="ops/s1"><input type="hidden" name="confirm" value="yes">
<input type="hidden" name="csrf" value="guessed"><button id="go">win a prize</button></form>`, e.url)
	}))
	defer evil.Close()
	// "localhost" is another site than "127.0.0.1" for the browser.
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
	admin.do(chromedp.Navigate(evilURL), chromedp.WaitVisible("#go"), chromedp.Click("#go"), chromedp.WaitVisible("h1"))
	body := admin.html()
	if !strings.Contains(body, "403") {
		t.Errorf("the forged post was not refused with 403:\n%s", clipHTML(body))
	}
	if e.a.Revoked(m.RevocationIDs) >= 0 {
		t.Fatal("the forged post revoked the session")
	}
}

// The story of examples/delegation, seen and acted on in the console: sign
// in, find the session, see its tree with the right hops, approve a
// pending request and watch the agent's retry succeed, revoke one hop and
// watch that sub-agent's next call be denied while its sibling still
// works, then revoke the whole session.
func TestBrowserStory(t *testing.T) {
	e := newEnv(t)
	s := newStory(t, e)
	for _, c := range []struct {
		who  string
		got  int
		want int
	}{
		{"reviewer reads acme/api", s.read(t, s.reviewer), 200},
		{"refunder refunds 200", s.refund(t, s.refunder, 200), 200},
		{"refunder refunds 900", s.refund(t, s.refunder, 900), 403},
		{"refunder refunds 400 without approval", s.refund(t, s.refunder, 400), 403},
		{"orchestrator reads", s.read(t, s.orchestrator), 200},
	} {
		if c.got != c.want {
			t.Fatalf("%s: %d, want %d", c.who, c.got, c.want)
		}
	}
	s.shipped(t)
	// The refunder asks for a person's approval of its 400 refund.
	reqID := s.askApproval(t, s.refunder, 400)

	newTab := newBrowser(t)
	b := newTab()
	b.do(chromedp.Navigate(e.url+"/console/"), chromedp.WaitVisible("#signin-form"),
		chromedp.SendKeys("#name", "root@acme.test"))
	b.screenshot("signin")
	b.do(chromedp.SendKeys("#credential", e.creds["root@acme.test"]), chromedp.Click("#signin"), chromedp.WaitVisible("#sessions"))

	// The sessions list shows the story's session; search finds it.
	b.do(chromedp.SendKeys("#q", "orchestrator"), chromedp.Click("#filter"))
	b.waitLoaded("q=orchestrator")
	row := fmt.Sprintf(`tr[data-session=%q]`, s.session)
	if b.count(row) != 1 {
		t.Fatalf("the sessions list has no row for %s:\n%s", s.session, clipHTML(b.html()))
	}
	if got := b.text(row); !strings.Contains(got, "orchestrator") || !strings.Contains(got, "agent-platform") || !strings.Contains(got, "active") {
		t.Fatalf("session row %q: want agent, minting client and status", got)
	}
	b.screenshot("sessions")
	b.do(chromedp.Click(row+" a"), chromedp.WaitVisible("#tree"))

	// The tree: the authority block the platform minted, its rights in
	// words, and below it exactly the two hops the verifier reported,
	// each with its holder and revocation ID.
	rootSel := fmt.Sprintf(`.hop[data-hop=%q][data-block="0"]`, s.orchestratorIDs[0])
	if b.count(rootSel) != 1 {
		t.Fatalf("the tree has no authority block %s:\n%s", s.orchestratorIDs[0], clipHTML(b.html()))
	}
	if got := b.text(rootSel); !strings.Contains(got, `may call tool create_refund of service payments`) {
		t.Errorf("the authority block's caveats are not in words: %q", got)
	}
	reviewerHop := fmt.Sprintf(`li.node > .hop[data-hop=%q][data-block="1"][data-holder="reviewer"]`, s.reviewerIDs[1])
	refunderHop := fmt.Sprintf(`li.node > .hop[data-hop=%q][data-block="1"][data-holder="refunder"]`, s.refunderIDs[1])
	for _, sel := range []string{reviewerHop, refunderHop} {
		if b.count(sel) != 1 {
			t.Fatalf("the tree lacks %s:\n%s", sel, clipHTML(b.html()))
		}
	}
	if n := b.count(`ul.tree > li.node > ul.children > li.node`); n != 2 {
		t.Fatalf("the authority block has %d hops below it, want 2", n)
	}
	if got := b.text(refunderHop); !strings.Contains(got, "allowed") || !strings.Contains(got, "denied") {
		t.Errorf("the refunder's hop does not count its decisions: %q", got)
	}
	if b.count(fmt.Sprintf(`tr[data-approval=%q][data-status="pending"]`, reqID)) != 1 {
		t.Errorf("the session page does not list the pending approval request %s", reqID)
	}
	b.screenshot("session")

	// An approver for acme approves the request from the queue, with a
	// comment; the agent's retry with the approval goes through, once.
	ann := newTab()
	ann.signIn(e, "ann@acme.test")
	ann.do(chromedp.Navigate(e.url+"/console/approvals"), chromedp.WaitVisible("#approval-requests"))
	reqRow := fmt.Sprintf(`tr[data-approval=%q]`, reqID)
	if got := ann.text(reqRow); !strings.Contains(got, "create_refund") || !strings.Contains(got, "amount = 400") || !strings.Contains(got, "refunder") {
		t.Fatalf("the queue's row %q: want the call, its arguments and the asking hop", got)
	}
	ann.screenshot("approvals")
	ann.do(chromedp.SendKeys(reqRow+" input.comment", "checked the photos"), chromedp.Click(reqRow+" button.approve"), chromedp.WaitVisible("#flash"))
	ap := s.fetchApproval(t, s.refunder, reqID)
	if got := s.refundApproved(t, s.refunder, 400, ap); got != 200 {
		t.Fatalf("the refunder's retry with the approval: %d, want 200", got)
	}
	if got := s.refundApproved(t, s.refunder, 400, ap); got != 403 {
		t.Fatalf("a replay of the one-use approval: %d, want 403", got)
	}
	// A viewer sees the queue without buttons.
	vic := newTab()
	vic.signIn(e, "vic@acme.test")
	vic.do(chromedp.Navigate(e.url+"/console/approvals?status=any"), chromedp.WaitVisible("#approval-requests"))
	if n := vic.count("form.decide"); n != 0 {
		t.Errorf("the viewer sees %d approve/deny forms", n)
	}

	// Revoke the refunder's hop, through the confirmation step.
	b.do(chromedp.Navigate(e.url+"/console/session?id="+s.session), chromedp.WaitVisible("#tree"),
		chromedp.Click(fmt.Sprintf(`a[data-revoke=%q]`, s.refunderIDs[1])), chromedp.WaitVisible("#revoke-form"))
	if got := b.text(".confirm"); !strings.Contains(got, "refunder") {
		t.Errorf("the confirmation does not name the hop's holder: %q", got)
	}
	b.screenshot("revoke")
	b.do(chromedp.Click("#confirm-revoke"), chromedp.WaitVisible("#flash"))
	if got := b.text(refunderHop); !strings.Contains(got, "revoked") {
		t.Errorf("the refunder's hop does not show as revoked: %q", got)
	}
	s.waitRevoked(t)
	if got := s.refund(t, s.refunder, 100); got != http.StatusUnauthorized {
		t.Errorf("the refunder after its hop was revoked: %d, want 401", got)
	}
	if got := s.read(t, s.reviewer); got != http.StatusOK {
		t.Errorf("the reviewer, its sibling, after the refunder's hop was revoked: %d, want 200", got)
	}
	if got := s.read(t, s.orchestrator); got != http.StatusOK {
		t.Errorf("the orchestrator, its parent, after the refunder's hop was revoked: %d, want 200", got)
	}

	// The decisions timeline shows the denial reasons.
	s.shipped(t)
	b.do(chromedp.Navigate(e.url+"/console/decisions?session="+s.session), chromedp.WaitVisible("#decisions"))
	if got := b.text("#decisions"); !strings.Contains(got, "denied") || !strings.Contains(got, "revoked") {
		t.Errorf("the timeline lacks the denials and their reasons: %q", got)
	}
	// The live stream: a new decision appears at the top without a
	// reload.
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`document.getElementById("stream-status").textContent === "live: on"`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the live stream did not open: %v", err)
	}
	if got := s.read(t, s.reviewer); got != http.StatusOK {
		t.Fatalf("reviewer: %d", got)
	}
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`document.querySelectorAll("#decision-rows tr.live.allowed").length > 0`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the reviewer's new decision did not arrive on the live stream: %v", err)
	}
	if got := b.text("#decision-rows tr.live"); !strings.Contains(got, "read_file") || !strings.Contains(got, "reviewer") {
		t.Errorf("the live row %q lacks the call or the hop", got)
	}
	b.screenshot("decisions")

	// Revoke the whole session.
	b.do(chromedp.Navigate(e.url+"/console/session?id="+s.session), chromedp.WaitVisible("#tree"),
		chromedp.Click("#revoke-session"), chromedp.WaitVisible("#revoke-form"),
		chromedp.Click("#confirm-revoke"), chromedp.WaitVisible("#flash"))
	if got := b.text("#session-status"); got != "revoked" {
		t.Fatalf("session status after revoking: %q", got)
	}
	s.waitRevoked(t)
	for who, tok := range map[string]string{"orchestrator": s.orchestrator, "reviewer": s.reviewer} {
		if got := s.read(t, tok); got != http.StatusUnauthorized {
			t.Errorf("%s after the session was revoked: %d, want 401", who, got)
		}
	}
	b.do(chromedp.Navigate(e.url+"/console/revocations"), chromedp.WaitVisible("#revocations"))
	b.screenshot("revocations")
	b.do(chromedp.Navigate(e.url+"/console/keys"), chromedp.WaitVisible("#keys"))
	b.screenshot("keys")
}
