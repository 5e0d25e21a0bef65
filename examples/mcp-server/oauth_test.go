package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/oauth"
	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/examples/internal/followauth"
	"github.com/mandate-dev/mandate/token"
)

// TestOAuthDiscovery: an unmodified MCP client on the official Go SDK,
// given nothing but this server's URL and a pre-registered client ID,
// gets a 401 from it, discovers the authority through the resource
// metadata and the authority's metadata, has the person consent (through
// the consent page's form), and calls a tool within the consented rights;
// a tool outside them stays denied when the person refuses the step-up.
func TestOAuthDiscovery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	as := httptest.NewUnstartedServer(nil)
	iss := "http://" + as.Listener.Addr().String()
	const admin = "admin-token-0123456789abcdefghij"
	a, err := authority.Open(ctx, authority.Config{DataDir: t.TempDir(), AdminToken: admin, AdminTokenOutput: io.Discard, Issuer: iss})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := oauth.New(ctx, oauth.Config{Authority: a})
	if err != nil {
		t.Fatal(err)
	}
	as.Config.Handler = srv.Handler(authority.NewHandler(a))
	as.Start()
	t.Cleanup(func() {
		a.Shutdown()
		as.Close()
		_ = a.Close()
	})
	app, err := start(ctx, config{Addr: "127.0.0.1:0", Authority: iss, Scopes: []string{"github:read"},
		Trust: followauth.Trust{Key: token.FormatPublicKey(a.Keys()[0].PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()

	// The admin's setup: the catalog entry of this server, the MCP
	// client, a person.
	put := func(method, path string, body any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, iss+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
	}
	put(http.MethodPut, "/v1/oauth/services/github", map[string]any{"resource": app.MCPURL, "scopes": map[string]any{
		"github:read":  map[string]any{"description": "Read repositories", "rights": []any{map[string]any{"tool": "*", "operation": "read", "resource": "repo:{org}/"}}},
		"github:write": map[string]any{"description": "Open issues", "rights": []any{map[string]any{"tool": "create_issue", "operation": "write", "resource": "repo:{org}/"}}},
	}})
	put(http.MethodPost, "/v1/oauth/clients", map[string]any{"client_id": "desktop-agent", "redirect_uris": []string{"http://127.0.0.1/callback"}})
	_, cred, err := a.AddPerson(ctx, authority.Principal{Admin: true}, people.Person{Name: "alice@acme.test", Role: people.RoleApprover, Orgs: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	refuse := false
	fetch := func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
		u, _ := url.Parse(args.URL)
		decision := "approve"
		if refuse {
			decision = "deny"
		}
		form := url.Values{"decision": {decision}, "credential": {cred}, "consent_scope": strings.Fields(u.Query().Get("scope"))}
		resp, err := noRedirect.PostForm(args.URL, form)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
			return nil, errors.New("no redirect from the consent page")
		}
		q := loc.Query()
		if q.Get("error") != "" {
			return nil, errors.New(q.Get("error"))
		}
		return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
	}
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		PreregisteredClient:      &oauthex.ClientCredentials{ClientID: "desktop-agent"},
		RedirectURL:              "http://127.0.0.1/callback",
		AuthorizationCodeFetcher: fetch,
	})
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "desktop-agent", Version: "v0"}, nil).Connect(cctx,
		&mcp.StreamableClientTransport{Endpoint: app.MCPURL, OAuthHandler: h, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect through discovery: %v", err)
	}
	defer cs.Close()
	res, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: "read_file", Arguments: map[string]any{"repo": "acme/api", "path": "go.mod"}})
	if err != nil || res.IsError {
		t.Fatalf("read_file within the consent: %v %+v", err, res)
	}
	refuse = true
	if _, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: "create_issue", Arguments: map[string]any{"repo": "acme/api", "title": "x"}}); err == nil || !strings.Contains(err.Error(), "access_denied") {
		t.Fatalf("create_issue outside the consent: %v, want the step-up refused (access_denied)", err)
	}
}
