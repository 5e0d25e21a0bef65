package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/oauth"
	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/mcpmw"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

const (
	adminToken = "admin-token-0123456789abcdefghij"
	clientID   = "mcp-client"
	redirect   = "http://127.0.0.1/callback"
)

// env is an authority (Badger on disk) serving the OAuth endpoints on
// 127.0.0.1, one person, a catalog of two services, a public OAuth client,
// and MCP tool servers protected by mcpmw that follow the authority.
type env struct {
	a      *authority.Authority
	srv    *oauth.Server
	as     *httptest.Server // the authority
	iss    string
	person string // alice's credential
	github *toolServer
	crm    *toolServer
	cc     string // a registered client's secret (client credentials)
	http   *http.Client
}

func newEnv(t testing.TB, opts ...func(*oauth.Config)) *env {
	t.Helper()
	ctx := context.Background()
	as := httptest.NewUnstartedServer(nil)
	iss := "http://" + as.Listener.Addr().String()
	a, err := authority.Open(ctx, authority.Config{DataDir: t.TempDir(), AdminToken: adminToken, AdminTokenOutput: io.Discard, Issuer: iss})
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth.Config{Authority: a}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := oauth.New(ctx, cfg)
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
	e := &env{a: a, srv: srv, as: as, iss: iss, http: &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	admin := authority.Principal{Admin: true}
	_, cred, err := a.AddPerson(ctx, admin, people.Person{Name: "alice@acme.test", Role: people.RoleApprover, Orgs: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	e.person = cred
	e.github = newToolServer(t, e, "github")
	e.crm = newToolServer(t, e, "crm")
	e.putService(t, oauth.Service{Name: "github", Resource: e.github.url, Title: "Repositories", Scopes: map[string]oauth.Scope{
		"github:read":  {Description: "Read your org's repositories", Rights: []oauth.RightTemplate{{Tool: "*", Operation: "read", Resource: "repo:{org}/"}}},
		"github:write": {Description: "Open issues in your org's repositories", Rights: []oauth.RightTemplate{{Tool: "create_issue", Operation: "write", Resource: "repo:{org}/"}}},
	}})
	e.putService(t, oauth.Service{Name: "crm", Resource: e.crm.url, Scopes: map[string]oauth.Scope{
		"crm:read": {Description: "Read accounts", Rights: []oauth.RightTemplate{{Tool: "*", Operation: "read", Resource: "account:{org}/"}}},
	}})
	e.adminJSON(t, http.MethodPost, "/v1/oauth/clients", map[string]any{"client_id": clientID, "client_name": "An MCP client", "redirect_uris": []string{redirect}}, http.StatusCreated)
	rc, err := a.RegisterClient(ctx, admin, "backend", authority.Ceiling{
		Services: []string{"github"}, Tools: []string{"*"}, Operations: []string{"read"},
		ResourcePrefixes: []string{"repo:acme/"}, Orgs: []string{"acme"}, MaxTTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.cc = rc.Secret
	return e
}

func (e *env) putService(t testing.TB, s oauth.Service) {
	t.Helper()
	e.adminJSON(t, http.MethodPut, "/v1/oauth/services/"+s.Name, s, http.StatusOK)
}

func (e *env) adminJSON(t testing.TB, method, path string, body any, want int) []byte {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, e.iss+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, out, want)
	}
	return out
}

// toolServer is an MCP server on the official SDK guarded by mcpmw, bound
// to its own resource (Options.Audience), trusting the authority's keys
// and following its revocation feed.
type toolServer struct {
	url  string // the MCP endpoint: the resource
	meta string
	mu   sync.Mutex
	runs map[string]int
}

func newToolServer(t testing.TB, e *env, service string) *toolServer {
	t.Helper()
	ts := &toolServer{runs: map[string]int{}}
	hs := httptest.NewUnstartedServer(nil)
	base := "http://" + hs.Listener.Addr().String()
	ts.url = base + "/mcp"
	keys := token.NewKeySet()
	store := revocation.NewMemory()
	root := e.a.Keys()[0]
	f, err := follow.New(follow.Config{Authority: e.iss, Store: store, Keys: keys, TrustAnchors: []token.PublicKey{{ID: root.ID, Key: root.PublicKey}}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Keys: keys, Revocations: store, Fresh: f.Fresh})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stop, err := f.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	metaURL, err := mcpmw.MetadataURL(ts.url)
	if err != nil {
		t.Fatal(err)
	}
	ts.meta = metaURL
	g, err := mcpmw.New(v, mcpmw.Options{ResourceMetadata: metaURL, Audience: ts.url})
	if err != nil {
		t.Fatal(err)
	}
	s := mcp.NewServer(&mcp.Implementation{Name: service + "-tools", Version: "v0.0.1"}, nil)
	type in struct {
		Repo    string `json:"repo,omitempty"`
		Account string `json:"account,omitempty"`
	}
	tool := func(name, op string, res func(map[string]any) (string, error)) {
		err := mcpmw.AddTool(g, s, &mcp.Tool{Name: name}, mcpmw.ToolPolicy{Service: service, Operation: op, Resource: res},
			func(ctx context.Context, _ *mcp.CallToolRequest, _ in) (*mcp.CallToolResult, any, error) {
				ts.mu.Lock()
				ts.runs[name]++
				ts.mu.Unlock()
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ran " + name}}}, nil, nil
			})
		if err != nil {
			t.Fatal(err)
		}
	}
	var scopes []string
	if service == "github" {
		tool("read_file", "read", mcpmw.ArgResource("repo:", "repo"))
		tool("create_issue", "write", mcpmw.ArgResource("repo:", "repo"))
		scopes = []string{"github:read"}
	} else {
		tool("get_account", "read", mcpmw.ArgResource("account:", "account"))
		scopes = []string{"crm:read"}
	}
	meta, err := mcpmw.ProtectedResourceMetadata(mcpmw.Metadata{Resource: ts.url, AuthorizationServers: []string{e.iss}, ScopesSupported: scopes})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", g.Middleware(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)))
	u, _ := url.Parse(metaURL)
	mux.Handle(u.Path, meta)
	mux.Handle(mcpmw.WellKnownPath, meta)
	hs.Config.Handler = mux
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		stop()
	})
	return ts
}

func (ts *toolServer) ran(name string) int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.runs[name]
}

// consent is the person's side of the consent page, driven by its HTTP
// form: it reads the page at authURL, then posts the decision with the
// person's credential. It returns the redirect (Location) the decision
// produced; a non-redirect answer is an error naming its body.
type consent struct {
	Credential string
	Decision   string   // "approve" (default) or "deny"
	Scopes     []string // nil: every requested scope
	Org        string
}

func (e *env) consent(ctx context.Context, authURL string, c consent) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return nil, err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther {
		return url.Parse(resp.Header.Get("Location"))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("consent page: %d %s", resp.StatusCode, page)
	}
	u, err := url.Parse(authURL)
	if err != nil {
		return nil, err
	}
	form := url.Values{"decision": {"approve"}, "credential": {c.Credential}}
	if c.Decision != "" {
		form.Set("decision", c.Decision)
	}
	if c.Org != "" {
		form.Set("org", c.Org)
	}
	scopes := c.Scopes
	if scopes == nil {
		scopes = strings.Fields(u.Query().Get("scope"))
	}
	for _, s := range scopes {
		form.Add("consent_scope", s)
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, authURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = e.http.Do(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("consent decision: %d %s", resp.StatusCode, body)
	}
	return url.Parse(resp.Header.Get("Location"))
}

func mustQuery(s string) url.Values {
	u, err := url.Parse(s)
	if err != nil {
		return nil
	}
	return u.Query()
}
