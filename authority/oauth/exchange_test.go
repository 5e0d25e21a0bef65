package oauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/oauth"
	"github.com/mandate-dev/mandate/token"
)

type exchanged struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int    `json:"expires_in"`
	Scope           string `json:"scope"`
	Error           string `json:"error"`
	Description     string `json:"error_description"`
}

func (e *env) exchange(t *testing.T, form url.Values) (int, exchanged) {
	t.Helper()
	form.Set("grant_type", oauth.GrantTypeTokenExchange)
	form.Set("client_id", clientID)
	if form.Get("subject_token_type") == "" {
		form.Set("subject_token_type", oauth.TokenTypeAccessToken)
	}
	resp, err := e.http.PostForm(e.iss+"/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var x exchanged
	if err := json.NewDecoder(resp.Body).Decode(&x); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, x
}

// TestTokenExchange: RFC 8693 with a mandate token as the subject token
// gives back that token attenuated server-side: narrower rights, bound to
// the resource, the actor recorded as delegated_to; never wider than the
// subject token; revoked with it.
func TestTokenExchange(t *testing.T) {
	e := newEnv(t)
	_, tok := e.codeFlow(t, "github:read", "github:write")
	actor, err := e.a.Mint(context.Background(), authority.Principal{Admin: true}, authority.MintRequest{
		Agent: "sub-agent", Org: "acme", TTL: time.Hour,
		Rights: []token.Right{{Service: "github", Tool: "read_file", Operation: "read", Resource: "repo:acme/api"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	status, x := e.exchange(t, url.Values{
		"subject_token":    {tok.AccessToken},
		"scope":            {"github:read_file:read:repo:acme/api"},
		"resource":         {e.github.url},
		"actor_token":      {actor.Token},
		"actor_token_type": {oauth.TokenTypeAccessToken},
	})
	if status != http.StatusOK || x.AccessToken == "" || x.IssuedTokenType != oauth.TokenTypeAccessToken || x.ExpiresIn <= 0 {
		t.Fatalf("exchange: %d %+v", status, x)
	}
	in, err := e.a.Introspect(context.Background(), authority.Principal{Admin: true}, x.AccessToken)
	if err != nil || !in.Active || in.Blocks != 2 {
		t.Fatalf("exchanged token: %+v %v, want an active token of two blocks (the subject's and the attenuation)", in, err)
	}
	u, err := token.ParseString(x.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	block := token.Inspect(u).Blocks[1]
	if !slices.Contains(block.Facts, `delegated_to("sub-agent")`) || len(block.Checks) < 3 {
		t.Errorf("the exchange's block: facts %q checks %q; want delegated_to(\"sub-agent\") and the rights, audience and expiry checks", block.Facts, block.Checks)
	}
	if res, err := callWith(t, e.github.url, x.AccessToken, "read_file", map[string]any{"repo": "acme/api"}); err != nil || res.IsError {
		t.Fatalf("read_file with the exchanged token: %v %+v", err, res)
	}
	for _, c := range []struct {
		tool string
		repo string
	}{{"read_file", "acme/web"}, {"create_issue", "acme/api"}} {
		if res, err := callWith(t, e.github.url, x.AccessToken, c.tool, map[string]any{"repo": c.repo}); err == nil && !res.IsError {
			t.Errorf("%s on %s allowed with the narrowed token", c.tool, c.repo)
		}
	}

	t.Run("never wider", func(t *testing.T) {
		_, read := e.codeFlow(t, "github:read")
		status, x := e.exchange(t, url.Values{"subject_token": {read.AccessToken}, "scope": {"github:write"}, "resource": {e.github.url}})
		if status != http.StatusBadRequest || x.Error != "invalid_scope" {
			t.Fatalf("widening exchange: %d %+v, want invalid_scope", status, x)
		}
	})
	t.Run("not a mandate token", func(t *testing.T) {
		status, x := e.exchange(t, url.Values{"subject_token": {"not-a-token"}})
		if status != http.StatusBadRequest || x.Error != "invalid_request" {
			t.Fatalf("bad subject: %d %+v, want invalid_request", status, x)
		}
	})
	t.Run("unknown resource", func(t *testing.T) {
		status, x := e.exchange(t, url.Values{"subject_token": {tok.AccessToken}, "resource": {"https://unknown.example/mcp"}})
		if status != http.StatusBadRequest || x.Error != "invalid_target" {
			t.Fatalf("unknown resource: %d %+v, want invalid_target", status, x)
		}
	})
	t.Run("revoked with the subject token", func(t *testing.T) {
		if _, err := e.a.RevokeToken(context.Background(), tok.AccessToken); err != nil {
			t.Fatal(err)
		}
		waitRefused(t, e.github.url, x.AccessToken)
		status, got := e.exchange(t, url.Values{"subject_token": {tok.AccessToken}})
		if status != http.StatusBadRequest || got.Error != "invalid_request" {
			t.Fatalf("exchange of a revoked token: %d %+v, want invalid_request", status, got)
		}
	})
}
