package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mandate-dev/mandate/internal/browsertest"
)

// TestBrowserConsent: the OAuth consent page of "mandate authority serve",
// in headless Chromium. A person sent to /oauth2/authorize signs in through
// the console's form, sees the client and its rights, approves, and the
// browser lands on the client's loopback redirect with a code that the
// client exchanges (with its PKCE verifier) for a mandate token bound to
// the resource.
func TestBrowserConsent(t *testing.T) {
	bctx := browsertest.Start(t)
	const admin = "admin-token-for-the-consent-test-0123456789"
	p := startServe(t, []string{"MANDATE_ADMIN_TOKEN=" + admin}, "--data", filepath.Join(t.TempDir(), "data"), "--addr", "127.0.0.1:0")

	call := func(method, path string, body any) []byte {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, p.URL+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		_, _ = out.ReadFrom(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out.String())
		}
		return out.Bytes()
	}
	const resource = "http://127.0.0.1:8082/mcp"
	call(http.MethodPut, "/v1/oauth/services/github", map[string]any{
		"resource": resource, "title": "Repositories",
		"scopes": map[string]any{"github:read": map[string]any{"description": "Read your org's repositories",
			"rights": []map[string]string{{"tool": "*", "operation": "read", "resource": "repo:{org}/"}}}},
	})
	call(http.MethodPost, "/v1/oauth/clients", map[string]any{"client_id": "desktop-agent", "client_name": "My agent", "redirect_uris": []string{"http://127.0.0.1/callback"}})
	var person struct{ Credential string }
	_ = json.Unmarshal(call(http.MethodPost, "/v1/people", map[string]any{"name": "alice@acme.test", "role": "approver", "orgs": []string{"acme"}}), &person)

	// The client's loopback redirect (any port, RFC 8252).
	codes := make(chan url.Values, 1)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		codes <- r.URL.Query()
		_, _ = w.Write([]byte("<p id=done>done</p>"))
	}))
	defer cb.Close()
	verifier := "a-pkce-verifier-of-more-than-43-characters-0123456789"
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {"desktop-agent"}, "redirect_uri": {cb.URL + "/callback"},
		"scope": {"github:read"}, "state": {"state-0123456789"}, "resource": {resource},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}

	ctx, cancel := chromedp.NewContext(bctx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/oauth2/authorize?"+q.Encode()),
		chromedp.WaitVisible("#signin-form"),
		chromedp.SendKeys("#name", "alice@acme.test"),
		chromedp.SendKeys("#credential", person.Credential),
		chromedp.Click("#signin"),
		chromedp.WaitVisible(`button[value="approve"]`),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	page, err := chromedp.Run(ctx, chromedp.Text("body"))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	for _, want := range []string{"desktop-agent", "Repositories", "github:read", "every tool, read, on resources starting with repo:", "alice@acme.test"} {
		if !strings.Contains(page, want) {
			t.Errorf("the consent page does not show %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, person.Credential) || strings.Contains(page, admin) {
		t.Fatal("the consent page shows a secret")
	}
	if err := chromedp.Do(ctx, chromedp.Click(`button[value="approve"]`), chromedp.WaitVisible("#done")); err != nil {
		t.Fatalf("approve: %v", err)
	}
	got := <-codes
	if got.Get("state") != "state-0123456789" || got.Get("code") == "" || got.Get("iss") == "" {
		t.Fatalf("redirect query %v: want code, the same state and iss (RFC 9207)", got)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {got.Get("code")}, "redirect_uri": {cb.URL + "/callback"},
		"client_id": {"desktop-agent"}, "code_verifier": {verifier}, "resource": {resource}}
	resp, err := http.PostForm(p.URL+"/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("code exchange: %d %v %+v", resp.StatusCode, err, tok)
	}
	// The access token is a mandate token: inspect reads it.
	if out := execCLIOK(t, tok.AccessToken, "inspect", "--json"); !strings.Contains(out, `"acme"`) || !strings.Contains(out, "repo:acme/") {
		t.Fatalf("inspect of the access token: %s", out)
	}
}

// execCLIOK runs the binary with stdin and returns its stdout, failing the
// test on a non-zero exit.
func execCLIOK(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := execCLI(t, "", &stdin, args...)
	if r.code != 0 {
		t.Fatalf("mandate %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}
