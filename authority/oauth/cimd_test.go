package oauth_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"golang.org/x/oauth2"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/oauth"
)

// docServer serves client metadata documents over TLS on 127.0.0.1.
type docServer struct {
	*httptest.Server
	tls *tls.Config
}

func newDocServer(t *testing.T) *docServer {
	t.Helper()
	mux := http.NewServeMux()
	ds := &docServer{Server: httptest.NewUnstartedServer(mux)}
	doc := func(path string, mutate func(map[string]any)) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			m := map[string]any{"client_id": ds.URL + path, "client_name": "A CIMD agent", "redirect_uris": []string{redirect}, "token_endpoint_auth_method": "none"}
			if mutate != nil {
				mutate(m)
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(m)
		})
	}
	doc("/agent.json", nil)
	doc("/other-id.json", func(m map[string]any) { m["client_id"] = "https://elsewhere.example/agent.json" })
	doc("/secret.json", func(m map[string]any) { m["token_endpoint_auth_method"] = "client_secret_basic" })
	doc("/evil-redirect.json", func(m map[string]any) { m["redirect_uris"] = []string{"http://evil.example/cb"} })
	doc("/huge.json", func(m map[string]any) { m["client_name"] = strings.Repeat("x", 8<<10) })
	mux.HandleFunc("/moved.json", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://example.com/agent.json", http.StatusFound)
	})
	ds.StartTLS()
	t.Cleanup(ds.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ds.Certificate())
	ds.tls = &tls.Config{RootCAs: pool}
	return ds
}

// TestCIMD: a client whose ID is the URL of its metadata document is
// authorized like a registered one; documents that are not its own, name
// a confidential client or a redirect URI it does not own, are too large,
// or redirect, are refused (invalid_client, shown, never redirected); the
// fetcher refuses non-public addresses unless allowed, also when a name
// resolves to one, and hosts off the allowlist.
func TestCIMD(t *testing.T) {
	ds := newDocServer(t)
	e := newEnv(t, func(c *oauth.Config) { c.CIMD = &oauth.CIMDConfig{AllowPrivate: true, TLS: ds.tls} })
	id := ds.URL + "/agent.json"
	cfg := e.oauth2Config("github:read")
	cfg.ClientID = id
	v := oauth2.GenerateVerifier()
	res := oauth2.SetAuthURLParam("resource", e.github.url)
	q := e.authorize(t, cfg, consent{}, oauth2.S256ChallengeOption(v), res)
	tok, err := cfg.Exchange(e.ctx(), q.Get("code"), oauth2.VerifierOption(v), res)
	if err != nil {
		t.Fatal(err)
	}
	in, err := e.a.Introspect(context.Background(), authority.Principal{Admin: true}, tok.AccessToken)
	if err != nil || !in.Active || in.Subject.Agent != id {
		t.Fatalf("token of a CIMD client: %+v %v, want agent %s", in, err, id)
	}
	if res, err := callWith(t, e.github.url, tok.AccessToken, "read_file", map[string]any{"repo": "acme/api"}); err != nil || res.IsError {
		t.Fatalf("read_file: %v %+v", err, res)
	}

	refused := func(t *testing.T, e *env, id, why string) {
		t.Helper()
		cfg := e.oauth2Config("github:read")
		cfg.ClientID = id
		resp, err := e.http.Get(cfg.AuthCodeURL("state-42", oauth2.S256ChallengeOption(v), res))
		if err != nil {
			t.Fatal(err)
		}
		if desc := checkOAuthError(t, resp, http.StatusUnauthorized, "invalid_client"); !strings.Contains(desc, why) {
			t.Errorf("refusal %q does not say %q", desc, why)
		}
	}
	for path, why := range map[string]string{
		"/other-id.json": "client_id is not its own URL",
		"/secret.json":   "public client",
		"/huge.json":     "over 5120 bytes",
		"/moved.json":    "redirects",
		"/missing.json":  "answered 404",
	} {
		t.Run(path, func(t *testing.T) { refused(t, e, ds.URL+path, why) })
	}
	t.Run("redirect URI not the document's", func(t *testing.T) {
		cfg := e.oauth2Config("github:read")
		cfg.ClientID = ds.URL + "/agent.json"
		cfg.RedirectURL = "http://evil.example/cb"
		resp, err := e.http.Get(cfg.AuthCodeURL("state-42", oauth2.S256ChallengeOption(v), res))
		if err != nil {
			t.Fatal(err)
		}
		checkOAuthError(t, resp, http.StatusBadRequest, "invalid_request")
	})
	t.Run("private address refused", func(t *testing.T) {
		strict := newEnv(t, func(c *oauth.Config) { c.CIMD = &oauth.CIMDConfig{TLS: ds.tls} })
		refused(t, strict, id, "not a public address")
		// A name that resolves to a private address is refused too.
		refused(t, strict, strings.Replace(id, "127.0.0.1", "localhost", 1), "not a public address")
	})
	t.Run("allowlist", func(t *testing.T) {
		listed := newEnv(t, func(c *oauth.Config) {
			c.CIMD = &oauth.CIMDConfig{AllowPrivate: true, TLS: ds.tls, AllowedHosts: []string{"*.example.com"}}
		})
		refused(t, listed, id, "allowlist")
	})
	t.Run("off by default", func(t *testing.T) {
		off := newEnv(t)
		refused(t, off, id, "does not exist")
		resp, err := off.http.Get(off.iss + "/.well-known/oauth-authorization-server")
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if _, ok := m["client_id_metadata_document_supported"]; ok {
			t.Fatal("CIMD advertised while off")
		}
	})
}

// TestSDKCIMD: the SDK's authorization-code handler registers through a
// Client ID Metadata Document when the authority advertises them.
func TestSDKCIMD(t *testing.T) {
	ds := newDocServer(t)
	e := newEnv(t, func(c *oauth.Config) { c.CIMD = &oauth.CIMDConfig{AllowPrivate: true, TLS: ds.tls} })
	p := &sdkPerson{e: e}
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		ClientIDMetadataDocumentConfig: &auth.ClientIDMetadataDocumentConfig{URL: ds.URL + "/agent.json"},
		RedirectURL:                    redirect,
		AuthorizationCodeFetcher:       p.fetch,
	})
	if err != nil {
		t.Fatal(err)
	}
	cs := connectMCP(t, e.github.url, h)
	res, err := call(t, cs, "read_file", map[string]any{"repo": "acme/api"})
	if err != nil || res.IsError {
		t.Fatalf("read_file: %v %+v", err, res)
	}
	if _, err := call(t, cs, "read_file", map[string]any{"repo": "globex/api"}); err == nil {
		t.Fatal("read_file on another org's repository allowed")
	}
}
