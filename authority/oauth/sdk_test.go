package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/auth/extauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// sdkPerson is the person behind the SDK's authorization-code handler: it
// answers each authorization the client starts through the consent page's
// form, approving or refusing as told, and records what was asked.
type sdkPerson struct {
	e       *env
	mu      sync.Mutex
	asked   []string // scope of each authorization request
	refuse  bool
	lastIss string
}

func (p *sdkPerson) fetch(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	p.mu.Lock()
	refuse := p.refuse
	p.mu.Unlock()
	c := consent{Credential: p.e.person}
	if refuse {
		c.Decision = "deny"
	}
	u, err := p.e.consent(ctx, args.URL, c)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	p.mu.Lock()
	p.asked = append(p.asked, mustQuery(args.URL).Get("scope"))
	p.lastIss = q.Get("iss")
	p.mu.Unlock()
	if e := q.Get("error"); e != "" {
		return nil, errors.New(e + ": " + q.Get("error_description"))
	}
	return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
}

func (p *sdkPerson) scopesAsked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.asked...)
}

func connectMCP(t *testing.T, endpoint string, h auth.OAuthHandler) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v0.0.1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, OAuthHandler: h, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func call(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any) (*mcp.CallToolResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
}

// TestSDKAuthorizationCode: the official MCP Go SDK client, with its
// authorization-code handler and a pre-registered public client, discovers
// the authority from the tool server's 401 (RFC 9728, RFC 8414), gets the
// person's consent through the consent page's form (PKCE S256, resource,
// RFC 9207 iss checked by the SDK), and calls a tool the consented rights
// cover. A call outside them is denied: the step-up for a scope outside
// the catalog's bounds is refused by the authority, and one the person
// refuses is refused; a step-up within the catalog, approved, works.
func TestSDKAuthorizationCode(t *testing.T) {
	e := newEnv(t)
	p := &sdkPerson{e: e}
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		PreregisteredClient:      &oauthex.ClientCredentials{ClientID: clientID},
		RedirectURL:              redirect,
		AuthorizationCodeFetcher: p.fetch,
	})
	if err != nil {
		t.Fatal(err)
	}
	cs := connectMCP(t, e.github.url, h)
	if asked := p.scopesAsked(); len(asked) != 1 || asked[0] != "github:read" {
		t.Fatalf("scopes asked %q, want one authorization for github:read (the metadata's scopes_supported)", asked)
	}
	if p.lastIss != e.iss {
		t.Errorf("iss in the authorization response = %q, want %q", p.lastIss, e.iss)
	}
	res, err := call(t, cs, "read_file", map[string]any{"repo": "acme/api"})
	if err != nil || res.IsError {
		t.Fatalf("allowed read_file: %v %+v", err, res)
	}
	if e.github.ran("read_file") != 1 {
		t.Fatal("read_file did not run")
	}

	// Another org's repository: no right covers it, the server asks for
	// the right that would (insufficient_scope), the SDK steps up, and
	// the authority refuses a scope outside the person's org.
	_, err = call(t, cs, "read_file", map[string]any{"repo": "globex/api"})
	if err == nil || !strings.Contains(err.Error(), "invalid_scope") {
		t.Fatalf("read_file on globex: %v, want the step-up refused with invalid_scope", err)
	}
	if e.github.ran("read_file") != 1 {
		t.Fatal("read_file ran outside the consented rights")
	}

	// Writing is in the catalog but was not consented to: the person
	// refuses the step-up, and the call stays denied.
	p.mu.Lock()
	p.refuse = true
	p.mu.Unlock()
	_, err = call(t, cs, "create_issue", map[string]any{"repo": "acme/api"})
	if err == nil || !strings.Contains(err.Error(), "access_denied") {
		t.Fatalf("create_issue with the step-up refused: %v, want access_denied", err)
	}
	// Approved, the step-up (for the union of scopes) works.
	p.mu.Lock()
	p.refuse = false
	p.mu.Unlock()
	res, err = call(t, cs, "create_issue", map[string]any{"repo": "acme/api"})
	if err != nil || res.IsError {
		t.Fatalf("create_issue after an approved step-up: %v %+v", err, res)
	}
	asked := p.scopesAsked()
	if last := asked[len(asked)-1]; !strings.Contains(last, "github:read") || !strings.Contains(last, "github:create_issue:write:repo:acme/api") {
		t.Errorf("step-up asked %q, want the union of github:read and the challenged right", last)
	}
	if e.github.ran("create_issue") != 1 {
		t.Fatal("create_issue did not run once")
	}
}

// TestSDKClientCredentials: the SDK's client-credentials handler, for a
// registered mandate client (its secret), gets a token within its
// ceiling for the tool server's catalog scopes (no resource parameter:
// the authority finds the service by its scopes) and calls a tool; a call
// outside the ceiling is denied (the step-up asks for a scope the ceiling
// does not allow and the token endpoint refuses it).
func TestSDKClientCredentials(t *testing.T) {
	e := newEnv(t)
	id, _, _ := strings.Cut(e.cc, ".")
	h, err := extauth.NewClientCredentialsHandler(&extauth.ClientCredentialsHandlerConfig{
		Credentials: &oauthex.ClientCredentials{ClientID: id, ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: e.cc}},
		HTTPClient:  &http.Client{Timeout: 30 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	cs := connectMCP(t, e.github.url, h)
	res, err := call(t, cs, "read_file", map[string]any{"repo": "acme/api"})
	if err != nil || res.IsError {
		t.Fatalf("allowed read_file: %v %+v", err, res)
	}
	_, err = call(t, cs, "create_issue", map[string]any{"repo": "acme/api"})
	if err == nil || !strings.Contains(err.Error(), "invalid_scope") {
		t.Fatalf("create_issue outside the ceiling: %v, want invalid_scope from the token endpoint", err)
	}
	if e.github.ran("create_issue") != 0 {
		t.Fatal("create_issue ran outside the ceiling")
	}
}
