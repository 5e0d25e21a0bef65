package mcpmw_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// fakeAS is a test double of the authority as an OAuth authorization
// server: metadata, an authorization endpoint the fetcher "visits" (it
// records the scopes asked for and consents), and a token endpoint that
// mints a mandate token with the rights the granted scopes name
// (token.ParseScope), as the OAuth issue's authority will.
type fakeAS struct {
	srv     *httptest.Server
	f       *fixture
	mu      sync.Mutex
	hits    int      // requests to the authorization server, any path
	asked   []string // scope parameter of each authorization request
	granted map[string]string
}

func newFakeAS(t *testing.T) *fakeAS {
	t.Helper()
	as := &fakeAS{granted: map[string]string{}}
	mux := http.NewServeMux()
	as.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		as.mu.Lock()
		as.hits++
		as.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(as.srv.Close)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                           as.srv.URL,
			"authorization_endpoint":           as.srv.URL + "/authorize",
			"token_endpoint":                   as.srv.URL + "/token",
			"response_types_supported":         []string{"code"},
			"grant_types_supported":            []string{"authorization_code"},
			"code_challenge_methods_supported": []string{"S256"},
		})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		as.mu.Lock()
		scope, ok := as.granted[r.PostForm.Get("code")]
		as.mu.Unlock()
		if !ok || r.PostForm.Get("code_verifier") == "" {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		var rights []token.Right
		for _, s := range strings.Fields(scope) {
			if rt, err := token.ParseScope(s); err == nil {
				rights = append(rights, rt)
			}
		}
		m := as.f.mint(t, rights...)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": m.Token, "token_type": "Bearer", "expires_in": 3600, "scope": scope})
	})
	return as
}

// fetch is the AuthorizationCodeFetcher: the person consents to whatever
// the client asks for.
func (as *fakeAS) fetch(_ context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	u, err := url.Parse(args.URL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	as.mu.Lock()
	defer as.mu.Unlock()
	as.asked = append(as.asked, q.Get("scope"))
	code := "code-" + q.Get("state")
	as.granted[code] = q.Get("scope")
	return &auth.AuthorizationResult{Code: code, State: q.Get("state")}, nil
}

func (as *fakeAS) stats() (hits int, asked []string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.hits, append([]string(nil), as.asked...)
}

// connectOAuth connects with the SDK's authorization-code handler, starting
// from tok.
func (f *fixture) connectOAuth(t *testing.T, as *fakeAS, tok string) *mcp.ClientSession {
	t.Helper()
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		PreregisteredClient:      &oauthex.ClientCredentials{ClientID: "mcp-client"},
		RedirectURL:              "http://127.0.0.1/callback",
		AuthorizationCodeFetcher: as.fetch,
		InitialTokenSource:       oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"}),
		Client:                   as.srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "oauth-agent", Version: "v0.0.1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: f.resource, HTTPClient: f.srv.Client(), OAuthHandler: h, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect with an OAuth handler: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// TestOAuthClient runs the Go SDK client with its OAuth handler (the
// authorization-code flow with step-up) against the guarded server: a
// caveat denial is a tool error and starts no authorization; a call no
// right covers triggers step-up for exactly the scope that covers it, and
// the retried call runs with the new token.
func TestOAuthClient(t *testing.T) {
	as := newFakeAS(t)
	f := newFixtureAS(t, true, as.srv.URL)
	as.f = f
	session := f.mint(t,
		token.Right{Service: "github", Tool: "*", Operation: "read", Resource: "repo:acme/"},
		token.Right{Service: "payments", Tool: "create_refund", Operation: "write", Resource: "order:"},
	)
	b, err := attenuate.New(session.Token)
	if err != nil {
		t.Fatal(err)
	}
	capped, err := b.ArgMax("create_refund", "amount", 500).Build()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("caveat denial: a tool error, no authorization", func(t *testing.T) {
		cs := f.connectOAuth(t, as, capped)
		for _, args := range []map[string]any{
			{"order": "o-1", "amount": 900}, // over the caveat's bound
			{"order": "o-1"},                // the caveat needs the amount
		} {
			before := f.runs("create_refund")
			res, err := callTool(t, cs, "create_refund", args)
			if err != nil {
				t.Fatalf("CallTool: %v; want an isError result", err)
			}
			checkToolDenial(t, res, "create_refund", verifier.KindCaveat, 1, "$a <= 500")
			if f.runs("create_refund") != before {
				t.Error("the tool ran")
			}
		}
		// Neither does a bad argument or an undeclared tool.
		res, err := callTool(t, cs, "read_file", map[string]any{"path": "a"})
		if err != nil {
			t.Fatal(err)
		}
		checkToolDenial(t, res, "read_file", verifier.KindBadRequest, -1, `argument "repo"`)
		if hits, asked := as.stats(); hits != 0 || len(asked) != 0 {
			t.Errorf("the client contacted the authorization server %d times (scopes asked %q); want never", hits, asked)
		}
		res, err = callTool(t, cs, "create_refund", map[string]any{"order": "o-2", "amount": 500})
		if err != nil || res.IsError {
			t.Fatalf("allowed call after the denials: %v %q", err, text(res))
		}
	})

	t.Run("missing right: step-up for the covering scope", func(t *testing.T) {
		cs := f.connectOAuth(t, as, capped)
		before := f.runs("read_file")
		res, err := callTool(t, cs, "read_file", map[string]any{"repo": "globex/api", "path": "README.md"})
		if err != nil || res.IsError {
			t.Fatalf("CallTool after step-up: %v %q; want it to run with the new token", err, text(res))
		}
		if f.runs("read_file") != before+1 {
			t.Error("the tool did not run once")
		}
		_, asked := as.stats()
		if len(asked) != 1 || asked[0] != "github:read_file:read:repo:globex/api" {
			t.Errorf("scopes asked %q, want one authorization for github:read_file:read:repo:globex/api", asked)
		}
	})
}
