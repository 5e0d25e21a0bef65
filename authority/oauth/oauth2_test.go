package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/oauth"
	"github.com/mandate-dev/mandate/token"
)

// The tests in this file drive the code flow by hand with
// golang.org/x/oauth2, an OAuth client library independent of the MCP
// SDK, for what the SDK does not exercise.

func (e *env) oauth2Config(scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    clientID,
		Endpoint:    oauth2.Endpoint{AuthURL: e.iss + "/oauth2/authorize", TokenURL: e.iss + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirect,
		Scopes:      scopes,
	}
}

func (e *env) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, e.http)
}

// authorize runs the authorization request through the consent page and
// returns the redirect's query.
func (e *env) authorize(t testing.TB, cfg *oauth2.Config, c consent, opts ...oauth2.AuthCodeOption) url.Values {
	t.Helper()
	if c.Credential == "" {
		c.Credential = e.person
	}
	loc, err := e.consent(context.Background(), cfg.AuthCodeURL("state-42", opts...), c)
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != cfg.RedirectURL {
		t.Fatalf("redirected to %s, want the registered %s", got, cfg.RedirectURL)
	}
	q := loc.Query()
	if q.Get("state") != "state-42" {
		t.Errorf("state = %q, want it returned unchanged", q.Get("state"))
	}
	if q.Get("iss") != e.iss {
		t.Errorf("iss = %q, want %q (RFC 9207)", q.Get("iss"), e.iss)
	}
	return q
}

// codeFlow gets a token for the github tool server the ordinary way.
func (e *env) codeFlow(t testing.TB, scopes ...string) (*oauth2.Config, *oauth2.Token) {
	t.Helper()
	cfg := e.oauth2Config(scopes...)
	v := oauth2.GenerateVerifier()
	q := e.authorize(t, cfg, consent{}, oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("resource", e.github.url))
	if q.Get("code") == "" {
		t.Fatalf("no code: %v", q)
	}
	tok, err := cfg.Exchange(e.ctx(), q.Get("code"), oauth2.VerifierOption(v), oauth2.SetAuthURLParam("resource", e.github.url))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, tok
}

func errorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func refresh(e *env, cfg *oauth2.Config, rt string) (*oauth2.Token, error) {
	return cfg.TokenSource(e.ctx(), &oauth2.Token{RefreshToken: rt, Expiry: time.Unix(1, 0)}).Token()
}

// callWith calls a tool with an access token through the MCP SDK client
// (no OAuth handler: a refusal is an error).
func callWith(t *testing.T, endpoint, tok, tool string, args map[string]any) (*mcp.CallToolResult, error) {
	t.Helper()
	hc := oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"}))
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v0.0.1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
}

// rawStatus posts a tools/call and returns the HTTP status the guard
// answers (401: the token is refused).
func rawStatus(t *testing.T, endpoint, tok string) int {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"repo":"acme/api"}}}`
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitRefused waits (up to 30 s, for the revocation feed) until the tool
// server refuses tok.
func waitRefused(t *testing.T, endpoint, tok string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for rawStatus(t, endpoint, tok) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the tool server still accepts the token 30 s after its grant was revoked")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRefreshRotationAndReuse: every refresh returns a new refresh token
// and a new access token (a mandate token of the same grant); presenting a
// rotated refresh token again revokes the whole grant: its latest refresh
// token stops working, and its access tokens are revoked through the
// authority's revocation feed, so the tool server refuses them.
func TestRefreshRotationAndReuse(t *testing.T) {
	e := newEnv(t)
	cfg, tok1 := e.codeFlow(t, "github:read")
	if tok1.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	if res, err := callWith(t, e.github.url, tok1.AccessToken, "read_file", map[string]any{"repo": "acme/api"}); err != nil || res.IsError {
		t.Fatalf("first access token: %v %+v", err, res)
	}
	tok2, err := refresh(e, cfg, tok1.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if tok2.RefreshToken == "" || tok2.RefreshToken == tok1.RefreshToken || tok2.AccessToken == tok1.AccessToken {
		t.Fatal("refresh did not rotate the refresh token and mint a new access token")
	}
	tok3, err := refresh(e, cfg, tok2.RefreshToken)
	if err != nil {
		t.Fatalf("refresh with the rotated token: %v", err)
	}
	if res, err := callWith(t, e.github.url, tok3.AccessToken, "read_file", map[string]any{"repo": "acme/api"}); err != nil || res.IsError {
		t.Fatalf("refreshed access token: %v %+v", err, res)
	}
	in1, err := e.a.Introspect(context.Background(), authority.Principal{Admin: true}, tok1.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	in3, err := e.a.Introspect(context.Background(), authority.Principal{Admin: true}, tok3.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if !in1.Active || !in3.Active || in1.Subject.Session != in3.Subject.Session || in3.Subject.User != "alice@acme.test" || in3.Subject.Agent != clientID {
		t.Fatalf("introspection: %+v / %+v; want two active tokens of one session for alice, agent %s", in1, in3, clientID)
	}

	// Reuse of tok1's refresh token, rotated long ago.
	if _, err := refresh(e, cfg, tok1.RefreshToken); errorCode(err) != "invalid_grant" {
		t.Fatalf("reused refresh token: %v, want invalid_grant", err)
	}
	if _, err := refresh(e, cfg, tok3.RefreshToken); errorCode(err) != "invalid_grant" {
		t.Fatalf("latest refresh token after a reuse: %v, want invalid_grant (the grant is revoked)", err)
	}
	sess, err := e.a.Session(context.Background(), authority.Principal{Admin: true}, in3.Subject.Session)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Status != authority.SessionRevoked || sess.RevokedAt.IsZero() {
		t.Fatalf("session %s is %s, want revoked as a whole", sess.ID, sess.Status)
	}
	for _, tok := range []string{tok1.AccessToken, tok2.AccessToken, tok3.AccessToken} {
		waitRefused(t, e.github.url, tok)
	}
}

// TestCodeErrors: each way an authorization code exchange can go wrong is
// refused with the RFC's error code.
func TestCodeErrors(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	res := oauth2.SetAuthURLParam("resource", e.github.url)

	t.Run("wrong PKCE verifier", func(t *testing.T) {
		cfg := e.oauth2Config("github:read")
		q := e.authorize(t, cfg, consent{}, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), res)
		_, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()), res)
		if errorCode(err) != "invalid_grant" {
			t.Fatalf("wrong verifier: %v, want invalid_grant", err)
		}
	})
	t.Run("no verifier", func(t *testing.T) {
		cfg := e.oauth2Config("github:read")
		q := e.authorize(t, cfg, consent{}, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), res)
		_, err := cfg.Exchange(ctx, q.Get("code"), res)
		if code := errorCode(err); code != "invalid_grant" && code != "invalid_request" {
			t.Fatalf("no verifier: %v, want invalid_grant or invalid_request", err)
		}
	})
	t.Run("replayed code revokes what it gave", func(t *testing.T) {
		cfg := e.oauth2Config("github:read")
		v := oauth2.GenerateVerifier()
		q := e.authorize(t, cfg, consent{}, oauth2.S256ChallengeOption(v), res)
		tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(v), res)
		if err != nil {
			t.Fatal(err)
		}
		_, err = cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(v), res)
		if errorCode(err) != "invalid_grant" {
			t.Fatalf("replayed code: %v, want invalid_grant", err)
		}
		if _, err := refresh(e, cfg, tok.RefreshToken); errorCode(err) != "invalid_grant" {
			t.Fatalf("refresh token of a replayed code: %v, want invalid_grant", err)
		}
		waitRefused(t, e.github.url, tok.AccessToken)
	})
	t.Run("redirect URI differs at the token endpoint", func(t *testing.T) {
		cfg := e.oauth2Config("github:read")
		v := oauth2.GenerateVerifier()
		q := e.authorize(t, cfg, consent{}, oauth2.S256ChallengeOption(v), res)
		other := *cfg
		other.RedirectURL = "http://127.0.0.1/other"
		_, err := other.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(v), res)
		if errorCode(err) != "invalid_grant" {
			t.Fatalf("other redirect_uri: %v, want invalid_grant", err)
		}
	})
	t.Run("resource differs at the token endpoint", func(t *testing.T) {
		cfg := e.oauth2Config("github:read")
		v := oauth2.GenerateVerifier()
		q := e.authorize(t, cfg, consent{}, oauth2.S256ChallengeOption(v), res)
		_, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(v), oauth2.SetAuthURLParam("resource", e.crm.url))
		if errorCode(err) != "invalid_target" {
			t.Fatalf("other resource: %v, want invalid_target", err)
		}
	})
	t.Run("public client may not use client credentials", func(t *testing.T) {
		resp, err := e.http.PostForm(e.iss+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {"github:read"}})
		if err != nil {
			t.Fatal(err)
		}
		checkOAuthError(t, resp, http.StatusBadRequest, "unauthorized_client", "invalid_client")
	})
	t.Run("wrong client secret", func(t *testing.T) {
		resp, err := e.http.PostForm(e.iss+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"backend"}, "client_secret": {"backend.wrong"}, "scope": {"github:read"}})
		if err != nil {
			t.Fatal(err)
		}
		checkOAuthError(t, resp, http.StatusUnauthorized, "invalid_client")
	})
	t.Run("oversized body", func(t *testing.T) {
		resp, err := e.http.PostForm(e.iss+"/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {strings.Repeat("x", 70<<10)}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Fatalf("oversized body: %d, want a 4xx", resp.StatusCode)
		}
		resp.Body.Close()
	})
}

// checkOAuthError checks a JSON OAuth error: the status and one of the
// codes, with a description, which it returns.
func checkOAuthError(t *testing.T, resp *http.Response, status int, codes ...string) string {
	t.Helper()
	defer resp.Body.Close()
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("error body: %v", err)
	}
	t.Logf("%d %s: %s", resp.StatusCode, body.Error, body.Description)
	if resp.StatusCode != status || !slices.Contains(codes, body.Error) || body.Description == "" {
		t.Fatalf("got %d %+v, want %d with error in %q and a description", resp.StatusCode, body, status, codes)
	}
	if resp.Header.Get("Location") != "" {
		t.Fatalf("an error answered with a redirect to %s", resp.Header.Get("Location"))
	}
	return body.Description
}

// TestAuthorizeErrors: the authorization endpoint refuses bad requests;
// errors about the client or its redirect URI are shown to the person and
// never redirected; other errors go back to the client with the RFC's
// code, the state and the issuer.
func TestAuthorizeErrors(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth2Config("github:read")
	v := oauth2.GenerateVerifier()
	pkce := oauth2.S256ChallengeOption(v)
	res := oauth2.SetAuthURLParam("resource", e.github.url)

	shown := func(t *testing.T, u string, codes ...string) {
		t.Helper()
		resp, err := e.http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		checkOAuthError(t, resp, http.StatusBadRequest, codes...)
	}
	t.Run("unregistered redirect URI", func(t *testing.T) {
		other := *cfg
		other.RedirectURL = "https://evil.example/callback"
		shown(t, other.AuthCodeURL("state-42", pkce, res), "invalid_request")
	})
	t.Run("unknown client", func(t *testing.T) {
		other := *cfg
		other.ClientID = "nobody"
		resp, err := e.http.Get(other.AuthCodeURL("state-42", pkce, res))
		if err != nil {
			t.Fatal(err)
		}
		checkOAuthError(t, resp, http.StatusUnauthorized, "invalid_client")
	})
	t.Run("loopback redirect on another port", func(t *testing.T) {
		other := *cfg
		other.RedirectURL = "http://127.0.0.1:49152/callback"
		loc, err := e.consent(context.Background(), other.AuthCodeURL("state-42", pkce, res), consent{Credential: e.person})
		if err != nil {
			t.Fatal(err)
		}
		if loc.Host != "127.0.0.1:49152" || loc.Query().Get("code") == "" {
			t.Fatalf("redirected to %s, want a code at the loopback port (RFC 8252)", loc)
		}
	})
	redirected := func(t *testing.T, q url.Values, code string) {
		t.Helper()
		if q.Get("error") != code || q.Get("error_description") == "" || q.Get("code") != "" {
			t.Fatalf("redirect query %v, want error=%s with a description", q, code)
		}
	}
	for _, c := range []struct {
		name string
		opts []oauth2.AuthCodeOption
		code string
	}{
		{"plain PKCE", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", v), oauth2.SetAuthURLParam("code_challenge_method", "plain"), res}, "invalid_request"},
		{"no PKCE", []oauth2.AuthCodeOption{res}, "invalid_request"},
		{"unknown resource", []oauth2.AuthCodeOption{pkce, oauth2.SetAuthURLParam("resource", "https://unknown.example/mcp")}, "invalid_target"},
		{"two resources", []oauth2.AuthCodeOption{pkce, oauth2.SetAuthURLParam("resource", e.github.url+"&resource="+url.QueryEscape(e.crm.url))}, "invalid_target"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := cfg.AuthCodeURL("state-42", c.opts...)
			u = strings.ReplaceAll(u, "%26resource%3D", "&resource=")
			resp, err := e.http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || resp.StatusCode/100 != 3 {
				t.Fatalf("%d, want a redirect with the error", resp.StatusCode)
			}
			q := loc.Query()
			redirected(t, q, c.code)
			if q.Get("state") != "state-42" || q.Get("iss") != e.iss {
				t.Errorf("error redirect: state %q iss %q, want state-42 and %s", q.Get("state"), q.Get("iss"), e.iss)
			}
		})
	}
	t.Run("unknown scope", func(t *testing.T) {
		q := e.authorizeRaw(t, e.oauth2Config("github:admin"), pkce, res)
		redirected(t, q, "invalid_scope")
	})
	t.Run("scope of another service", func(t *testing.T) {
		q := e.authorizeRaw(t, e.oauth2Config("crm:read"), pkce, res)
		redirected(t, q, "invalid_scope")
	})
	t.Run("refused", func(t *testing.T) {
		q := e.authorize(t, cfg, consent{Decision: "deny"}, pkce, res)
		redirected(t, q, "access_denied")
	})
	t.Run("nothing approved", func(t *testing.T) {
		q := e.authorize(t, cfg, consent{Scopes: []string{}}, pkce, res)
		redirected(t, q, "access_denied")
	})
	t.Run("bad credential: shown, not redirected", func(t *testing.T) {
		_, err := e.consent(context.Background(), cfg.AuthCodeURL("state-42", pkce, res), consent{Credential: "mp_wrong"})
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("wrong credential: %v, want the page again with 401", err)
		}
	})
	t.Run("another org than the person's", func(t *testing.T) {
		_, err := e.consent(context.Background(), cfg.AuthCodeURL("state-42", pkce, res), consent{Credential: e.person, Org: "globex"})
		if err == nil || !strings.Contains(err.Error(), "400") {
			t.Fatalf("org globex for an acme person: %v, want the page again with 400", err)
		}
	})
	t.Run("cross-origin decision", func(t *testing.T) {
		form := url.Values{"decision": {"approve"}, "credential": {e.person}, "consent_scope": {"github:read"}}
		req, _ := http.NewRequest(http.MethodPost, cfg.AuthCodeURL("state-42", pkce, res), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := e.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
			t.Fatalf("cross-origin post: %d (Location %q), want 403", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// authorizeRaw sends the authorization request and returns the redirect's
// query without consenting (for requests refused before the page).
func (e *env) authorizeRaw(t *testing.T, cfg *oauth2.Config, opts ...oauth2.AuthCodeOption) url.Values {
	t.Helper()
	resp, err := e.http.Get(cfg.AuthCodeURL("state-42", opts...))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode/100 != 3 {
		t.Fatalf("%d, want a redirect", resp.StatusCode)
	}
	return loc.Query()
}

// TestNarrowedConsent: the person approves fewer scopes than asked; the
// token carries exactly the rights of those, for the person's org, bound to
// the resource; the tool server of another resource refuses it.
func TestNarrowedConsent(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth2Config("github:read", "github:write")
	v := oauth2.GenerateVerifier()
	res := oauth2.SetAuthURLParam("resource", e.github.url)
	q := e.authorize(t, cfg, consent{Scopes: []string{"github:read"}}, oauth2.S256ChallengeOption(v), res)
	tok, err := cfg.Exchange(e.ctx(), q.Get("code"), oauth2.VerifierOption(v), res)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := tok.Extra("scope").(string); s != "github:read" {
		t.Errorf("granted scope %q, want github:read", s)
	}
	in, err := e.a.Introspect(context.Background(), authority.Principal{Admin: true}, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	want := []token.Right{{Service: "github", Tool: "*", Operation: "read", Resource: "repo:acme/"}}
	if !slices.Equal(in.Rights, want) || in.Subject.Org != "acme" {
		t.Fatalf("token rights %+v org %q, want %+v for acme", in.Rights, in.Subject.Org, want)
	}
	if _, err := callWith(t, e.github.url, tok.AccessToken, "create_issue", map[string]any{"repo": "acme/api"}); err == nil {
		t.Fatal("create_issue allowed with only github:read approved")
	}
	if e.github.ran("create_issue") != 0 {
		t.Fatal("create_issue ran")
	}
	// The token is bound to the github server: the crm server, which
	// checks its own audience, refuses it even for a right it would hold.
	if res, err := callWith(t, e.crm.url, tok.AccessToken, "get_account", map[string]any{"account": "acme/1"}); err == nil && !res.IsError {
		t.Fatal("the crm server accepted a token bound to the github server")
	}
}

// TestMetadata: the metadata lists exactly what is served.
func TestMetadata(t *testing.T) {
	e := newEnv(t)
	resp, err := e.http.Get(e.iss + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"issuer":                                         e.iss,
		"authorization_endpoint":                         e.iss + "/oauth2/authorize",
		"token_endpoint":                                 e.iss + "/oauth2/token",
		"revocation_endpoint":                            e.iss + "/oauth2/revoke",
		"introspection_endpoint":                         e.iss + "/oauth2/introspect",
		"response_types_supported":                       []any{"code"},
		"grant_types_supported":                          []any{"authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"},
		"code_challenge_methods_supported":               []any{"S256"},
		"token_endpoint_auth_methods_supported":          []any{"none", "client_secret_basic", "client_secret_post"},
		"authorization_response_iss_parameter_supported": true,
		"scopes_supported":                               []any{"crm:read", "github:read", "github:write"},
	}
	for k, v := range want {
		got, _ := json.Marshal(m[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("%s = %s, want %s", k, got, exp)
		}
	}
	for _, k := range []string{"registration_endpoint", "client_id_metadata_document_supported"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s is advertised but not served", k)
		}
	}
	// Every advertised endpoint answers (not 404).
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "revocation_endpoint", "introspection_endpoint"} {
		resp, err := e.http.Post(m[k].(string), "application/x-www-form-urlencoded", strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode >= 500 {
			t.Errorf("%s answers %d", k, resp.StatusCode)
		}
	}
}

// TestConsentPage: the page says in plain words who asks, for which
// rights on which resource, for how long, and offers each scope to
// uncheck; it cannot be framed and runs no script.
func TestConsentPage(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth2Config("github:read", "github:write")
	resp, err := e.http.Get(cfg.AuthCodeURL("state-42", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("resource", e.github.url)))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("consent page: %d %s", resp.StatusCode, page)
	}
	for _, want := range []string{
		clientID, "Repositories", e.github.url, "valid for 1 hour each", "up to 30 days",
		"Read your org&#39;s repositories", "github: every tool, read, on resources starting with repo:{org}/",
		"Open issues in your org&#39;s repositories", "github: the tool create_issue, write, on resources starting with repo:{org}/",
		`name="consent_scope" value="github:read" checked`, `name="consent_scope" value="github:write" checked`,
		`name="credential"`, redirect,
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the consent page lacks %q", want)
		}
	}
	// The decision's answer redirects to the client: form-action allows
	// that origin (browsers check it on the redirect too), and no other.
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") ||
		!strings.Contains(csp, "form-action 'self' http://127.0.0.1;") {
		t.Errorf("CSP %q", csp)
	}
}

// TestIntrospectRevoke: the authority's RFC 7662 and RFC 7009 endpoints
// work for tokens the OAuth endpoints issue.
func TestIntrospectRevoke(t *testing.T) {
	e := newEnv(t)
	_, tok := e.codeFlow(t, "github:read")
	introspect := func() bool {
		req, _ := http.NewRequest(http.MethodPost, e.iss+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := e.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct {
			Active bool   `json:"active"`
			Aud    any    `json:"aud"`
			Sub    string `json:"sub"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m.Active
	}
	if !introspect() {
		t.Fatal("introspection: inactive, want active")
	}
	resp, err := e.http.PostForm(e.iss+"/oauth2/revoke", url.Values{"token": {tok.AccessToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if introspect() {
		t.Fatal("introspection after revocation: active")
	}
	waitRefused(t, e.github.url, tok.AccessToken)
}

// TestPersonRemoved: a person's grant stops refreshing once the person is
// removed.
func TestPersonRemoved(t *testing.T) {
	e := newEnv(t)
	cfg, tok := e.codeFlow(t, "github:read")
	if err := e.a.RemovePerson(context.Background(), authority.Principal{Admin: true}, "alice@acme.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := refresh(e, cfg, tok.RefreshToken); errorCode(err) != "invalid_grant" {
		t.Fatalf("refresh after the person was removed: %v, want invalid_grant", err)
	}
}

// TestAuditNoSecrets: consent, tokens and a detected reuse are audit
// events; no log line holds a token, a code, a refresh token or the
// person's credential.
func TestAuditNoSecrets(t *testing.T) {
	var buf syncBuffer
	logger := zerolog.New(&buf)
	e := newEnv(t, func(c *oauth.Config) { c.Logger = &logger })
	cfg := e.oauth2Config("github:read")
	v := oauth2.GenerateVerifier()
	res := oauth2.SetAuthURLParam("resource", e.github.url)
	q := e.authorize(t, cfg, consent{}, oauth2.S256ChallengeOption(v), res)
	tok, err := cfg.Exchange(e.ctx(), q.Get("code"), oauth2.VerifierOption(v), res)
	if err != nil {
		t.Fatal(err)
	}
	tok2, err := refresh(e, cfg, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refresh(e, cfg, tok.RefreshToken); errorCode(err) != "invalid_grant" {
		t.Fatalf("reuse: %v", err)
	}
	logs := buf.String()
	for _, event := range []string{"oauth_consent", "oauth_token", "oauth_grant_revoked", "oauth_service_put", "oauth_client_registered"} {
		if !strings.Contains(logs, `"audit":true,"event":"`+event+`"`) {
			t.Errorf("no audit event %s in %s", event, logs)
		}
	}
	for name, secret := range map[string]string{"code": q.Get("code"), "access token": tok.AccessToken, "refresh token": tok.RefreshToken,
		"rotated refresh token": tok2.RefreshToken, "credential": e.person, "verifier": v} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds the %s", name)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCodeExpires: an authorization code is good for CodeLifespan only.
func TestCodeExpires(t *testing.T) {
	e := newEnv(t, func(c *oauth.Config) { c.CodeLifespan = time.Second })
	cfg := e.oauth2Config("github:read")
	v := oauth2.GenerateVerifier()
	res := oauth2.SetAuthURLParam("resource", e.github.url)
	q := e.authorize(t, cfg, consent{}, oauth2.S256ChallengeOption(v), res)
	time.Sleep(2 * time.Second) // past the code's lifetime (fosite reads the wall clock)
	if _, err := cfg.Exchange(e.ctx(), q.Get("code"), oauth2.VerifierOption(v), res); errorCode(err) != "invalid_grant" {
		t.Fatalf("expired code: %v, want invalid_grant", err)
	}
}

// TestCORS: browser-based MCP clients may read the metadata and call the
// token endpoint from any origin (no cookies); the consent page and the
// admin API are not opened to other origins.
func TestCORS(t *testing.T) {
	e := newEnv(t)
	for path, open := range map[string]bool{
		"/.well-known/oauth-authorization-server": true,
		"/oauth2/token":      true,
		"/oauth2/authorize":  false,
		"/v1/oauth/services": false,
	} {
		req, _ := http.NewRequest(http.MethodOptions, e.iss+path, nil)
		req.Header.Set("Origin", "https://inspector.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := e.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("Access-Control-Allow-Origin") == "*" && resp.StatusCode == http.StatusNoContent
		if got != open || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight %s: %d, Allow-Origin %q; want open %v, never with credentials", path, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), open)
		}
	}
}

// TestWebLayerPages: served through a web layer (Config.Pages), the
// consent page takes the signed-in person from it and carries its CSRF
// token instead of asking for a credential.
func TestWebLayerPages(t *testing.T) {
	const csrf = "csrf-token-1"
	var e *env
	e = newEnv(t, func(c *oauth.Config) {
		c.Pages = func(page oauth.PageFunc) http.Handler {
			// A stand-in for authority/web: the person comes from the
			// sign-in session (here a header), unsafe requests need
			// the session's CSRF token.
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && r.PostFormValue("csrf") != csrf {
					http.Error(w, "csrf", http.StatusForbidden)
					return
				}
				p, err := e.a.People().Get(r.Context(), r.Header.Get("X-Signed-In"))
				if err != nil {
					http.Error(w, "sign in", http.StatusUnauthorized)
					return
				}
				page(w, r, &p, csrf)
			})
		}
	})
	cfg := e.oauth2Config("github:read")
	v := oauth2.GenerateVerifier()
	res := oauth2.SetAuthURLParam("resource", e.github.url)
	authURL := cfg.AuthCodeURL("state-42", oauth2.S256ChallengeOption(v), res)
	req, _ := http.NewRequest(http.MethodGet, authURL, nil)
	req.Header.Set("X-Signed-In", "alice@acme.test")
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Contains(string(page), `name="credential"`) ||
		!strings.Contains(string(page), `name="csrf" value="`+csrf+`"`) || !strings.Contains(string(page), "Signed in as <strong>alice@acme.test</strong>") {
		t.Fatalf("consent page through the web layer: %d %s", resp.StatusCode, page)
	}
	form := url.Values{"decision": {"approve"}, "consent_scope": {"github:read"}, "csrf": {csrf}}
	req, _ = http.NewRequest(http.MethodPost, authURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Signed-In", "alice@acme.test")
	resp, err = e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode/100 != 3 || loc.Query().Get("code") == "" {
		t.Fatalf("decision through the web layer: %d %s", resp.StatusCode, loc)
	}
	tok, err := cfg.Exchange(e.ctx(), loc.Query().Get("code"), oauth2.VerifierOption(v), res)
	if err != nil {
		t.Fatal(err)
	}
	in, err := e.a.Introspect(context.Background(), authority.Principal{Admin: true}, tok.AccessToken)
	if err != nil || in.Subject.User != "alice@acme.test" {
		t.Fatalf("token user %q (%v), want alice@acme.test", in.Subject.User, err)
	}
}

// TestClientCeilingApprovals: a registered client's ceiling that requires
// approval for a tool binds the tokens the client gets through the client
// credentials grant, as it binds those it mints itself.
func TestClientCeilingApprovals(t *testing.T) {
	e := newEnv(t)
	rc, err := e.a.RegisterClient(context.Background(), authority.Principal{Admin: true}, "careful", authority.Ceiling{
		Services: []string{"github"}, Tools: []string{"*"}, Operations: []string{"read"},
		ResourcePrefixes: []string{"repo:acme/"}, Orgs: []string{"acme"}, MaxTTL: time.Hour,
		RequireApproval: []token.ApprovalRequirement{{Service: "github", Tool: "read_file", OrgApprovers: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.http.PostForm(e.iss+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"careful"}, "client_secret": {rc.Secret}, "scope": {"github:read"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("client credentials: %d %v", resp.StatusCode, err)
	}
	// mcpmw answers with its approval elicitation (a JSON-RPC error).
	res, err := callWith(t, e.github.url, tok.AccessToken, "read_file", map[string]any{"repo": "acme/api"})
	if err == nil || !strings.Contains(err.Error(), "a person must approve this very call") {
		t.Fatalf("read_file without an approval: %v %+v, want the approval elicitation", err, res)
	}
	if e.github.ran("read_file") != 0 {
		t.Fatal("read_file ran without the approval the ceiling requires")
	}
}
