package oauth_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mandate-dev/mandate/authority/oauth"
)

func (e *env) registerDynamic(t *testing.T, body string) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := e.http.Post(e.iss+"/oauth2/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}

// TestDynamicRegistration: off by default (not served, not advertised);
// when on, a public client registers (RFC 7591) and is authorized through
// the SDK; bad metadata is refused with RFC 7591's codes; registrations
// over the rate are refused with 429.
func TestDynamicRegistration(t *testing.T) {
	off := newEnv(t)
	if resp, _ := off.registerDynamic(t, `{"redirect_uris":["http://127.0.0.1/cb"]}`); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("registration while off: %d, want 404", resp.StatusCode)
	}

	e := newEnv(t, func(c *oauth.Config) { c.Registration = &oauth.RegistrationConfig{} })
	resp, err := e.http.Get(e.iss + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta["registration_endpoint"] != e.iss+"/oauth2/register" {
		t.Fatalf("registration_endpoint = %v", meta["registration_endpoint"])
	}

	p := &sdkPerson{e: e}
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			RedirectURIs: []string{redirect}, ClientName: "dynamic agent", TokenEndpointAuthMethod: "none",
		}},
		RedirectURL:              redirect,
		AuthorizationCodeFetcher: p.fetch,
	})
	if err != nil {
		t.Fatal(err)
	}
	cs := connectMCP(t, e.github.url, h)
	if res, err := call(t, cs, "read_file", map[string]any{"repo": "acme/api"}); err != nil || res.IsError {
		t.Fatalf("read_file: %v %+v", err, res)
	}
	if _, err := call(t, cs, "read_file", map[string]any{"repo": "globex/api"}); err == nil {
		t.Fatal("read_file on another org's repository allowed")
	}

	for body, code := range map[string]string{
		`{"redirect_uris":["http://evil.example/cb"]}`:                                                 "invalid_redirect_uri",
		`{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"client_secret_basic"}`: "invalid_client_metadata",
		`not json`: "invalid_client_metadata",
	} {
		resp, m := e.registerDynamic(t, body)
		if resp.StatusCode != http.StatusBadRequest || m["error"] != code {
			t.Errorf("%s: %d %v, want 400 %s", body, resp.StatusCode, m, code)
		}
	}
	limited := newEnv(t, func(c *oauth.Config) { c.Registration = &oauth.RegistrationConfig{PerMinute: 0.001, Burst: 3} })
	for i := range 3 {
		if resp, m := limited.registerDynamic(t, `{"redirect_uris":["http://127.0.0.1/cb"]}`); resp.StatusCode != http.StatusCreated || m["client_id"] == nil {
			t.Fatalf("registration %d within the burst: %d %v", i, resp.StatusCode, m)
		}
	}
	resp, m := limited.registerDynamic(t, `{"redirect_uris":["http://127.0.0.1/cb"]}`)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || m["error"] == nil {
		t.Fatalf("registration over the rate: %d %v, want 429 with Retry-After", resp.StatusCode, m)
	}
}
