package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/mandate-dev/mandate/authority/oauth"
)

// The token endpoint over HTTP on 127.0.0.1, with the authority's Badger
// on disk (every mint and refresh rotation is durable before it is
// answered). Each reports tokens/s: run
//
//	go test -run '^$' -bench Token -benchtime 200x ./authority/oauth/

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkTokenCodeExchange: authorization code + PKCE verifier → a
// mandate access token and a refresh token (the consent before each is
// not timed).
func BenchmarkTokenCodeExchange(b *testing.B) {
	e := newEnv(b)
	cfg := e.oauth2Config("github:read")
	res := oauth2.SetAuthURLParam("resource", e.github.url)
	for b.Loop() {
		b.StopTimer()
		v := oauth2.GenerateVerifier()
		loc, err := e.consent(context.Background(), cfg.AuthCodeURL("state-42", oauth2.S256ChallengeOption(v), res), consent{Credential: e.person})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := cfg.Exchange(e.ctx(), loc.Query().Get("code"), oauth2.VerifierOption(v), res); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkTokenRefresh: a refresh token → a new access token and a
// rotated refresh token, one chain.
func BenchmarkTokenRefresh(b *testing.B) {
	e := newEnv(b)
	cfg, tok := e.codeFlow(b, "github:read")
	rt := tok.RefreshToken
	for b.Loop() {
		tok, err := refresh(e, cfg, rt)
		if err != nil {
			b.Fatal(err)
		}
		rt = tok.RefreshToken
	}
	reportRate(b)
}

// BenchmarkTokenExchange: a mandate token → the same token attenuated
// (rights, audience, expiry), RFC 8693.
func BenchmarkTokenExchange(b *testing.B) {
	e := newEnv(b)
	_, tok := e.codeFlow(b, "github:read")
	form := url.Values{
		"grant_type":         {oauth.GrantTypeTokenExchange},
		"client_id":          {clientID},
		"subject_token":      {tok.AccessToken},
		"subject_token_type": {oauth.TokenTypeAccessToken},
		"scope":              {"github:read_file:read:repo:acme/api"},
		"resource":           {e.github.url},
	}
	for b.Loop() {
		resp, err := e.http.PostForm(e.iss+"/oauth2/token", form)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("exchange: %d", resp.StatusCode)
		}
	}
	reportRate(b)
}
