package ginmw_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/verifier/revocation"

	"github.com/mandate-dev/mandate/internal/tokentest"

	"github.com/gin-gonic/gin"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/ginmw"
)

func init() { gin.SetMode(gin.TestMode) }

func mint(t *testing.T, key token.SigningKey, now time.Time, ttl time.Duration) *token.Minted {
	t.Helper()
	m, err := token.Mint(key, token.MintRequest{
		Subject: token.Subject{Agent: "reviewer", User: "alice@acme.test", Org: "acme"},
		Rights:  []token.Right{{Service: "github", Tool: "*", Operation: "read", Resource: "repo:acme/"}},
		TTL:     ttl,
		Now:     now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type body struct {
	Error       string                `json:"error"`
	Description string                `json:"error_description"`
	DecisionID  string                `json:"decision_id"`
	Scope       string                `json:"scope"`
	FailedCheck *verifier.FailedCheck `json:"failed_check"`
	Agent       string                `json:"agent"`
	Repo        string                `json:"repo"`
	SameInCtx   bool                  `json:"same_in_ctx"`
}

func TestMiddleware(t *testing.T) {
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	revoked := revocation.NewMemory()
	v, err := verifier.New(verifier.Config{Keys: token.NewKeySet(key.Public()), Revocations: revoked})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	ran := 0
	r := gin.New()
	repos := r.Group("/repos/:owner/:repo")
	repos.Use(ginmw.Middleware(v, func(r *http.Request) (verifier.Request, error) {
		if r.PathValue("owner") == "bad" {
			return verifier.Request{}, errors.New("owner \"bad\" is reserved")
		}
		return verifier.Request{
			Service:   "github",
			Tool:      "get_file",
			Operation: "read",
			Resource:  "repo:" + r.PathValue("owner") + "/" + r.PathValue("repo"),
		}, nil
	}, verifier.HTTPOptions{ResourceMetadata: "https://tools.example/.well-known/oauth-protected-resource"}))
	repos.GET("/file", func(c *gin.Context) {
		mu.Lock()
		ran++
		mu.Unlock()
		d, ok := ginmw.Decision(c)
		if !ok {
			c.JSON(http.StatusInternalServerError, gin.H{"error": "no decision"})
			return
		}
		fromCtx, _ := verifier.DecisionFrom(c.Request.Context())
		c.JSON(http.StatusOK, body{Agent: d.Agent, Repo: c.Param("repo"), DecisionID: d.DecisionID, SameInCtx: fromCtx == d})
	})
	r.GET("/open", func(c *gin.Context) {
		_, ok := ginmw.Decision(c)
		c.JSON(http.StatusOK, gin.H{"has_decision": ok})
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	now := time.Now()
	good := mint(t, key, now, time.Hour)
	expired := mint(t, key, now.Add(-2*time.Hour), time.Hour)
	foreign := mint(t, other, now, time.Hour)
	onlyAPI := tokentest.AppendDatalog(t, good.Token, `check if resource($r), $r.starts_with("repo:acme/api");`)
	toRevoke := mint(t, key, now, time.Hour)
	if err := revoked.Add(context.Background(), revocation.Entry{ID: toRevoke.RevocationIDs[0]}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		path       string
		auth       string
		wantStatus int
		wantError  string // body "error"
		wantChall  string // RFC 6750 error code in WWW-Authenticate, "" for a bare challenge
		wantRan    bool
		wantCheck  string // text the failed check contains, "" for none
		wantBlock  int
		wantScope  string // body and challenge scope
	}{
		{name: "allowed", path: "/repos/acme/api/file", auth: "Bearer " + good.Token, wantStatus: 200, wantRan: true},
		{name: "allowed attenuated", path: "/repos/acme/api/file", auth: "Bearer " + onlyAPI, wantStatus: 200, wantRan: true},
		{name: "no token", path: "/repos/acme/api/file", wantStatus: 401, wantError: "unauthorized"},
		{name: "garbage token", path: "/repos/acme/api/file", auth: "Bearer not-a-token", wantStatus: 401, wantError: "invalid_token", wantChall: "invalid_token"},
		{name: "unknown key", path: "/repos/acme/api/file", auth: "Bearer " + foreign.Token, wantStatus: 401, wantError: "invalid_token", wantChall: "invalid_token"},
		{name: "expired", path: "/repos/acme/api/file", auth: "Bearer " + expired.Token, wantStatus: 401, wantError: "invalid_token", wantChall: "invalid_token", wantCheck: "time(", wantBlock: 0},
		{name: "revoked", path: "/repos/acme/api/file", auth: "Bearer " + toRevoke.Token, wantStatus: 401, wantError: "invalid_token", wantChall: "invalid_token"},
		{name: "no right", path: "/repos/globex/api/file", auth: "Bearer " + good.Token, wantStatus: 403, wantError: "insufficient_scope", wantChall: "insufficient_scope", wantScope: "github:get_file:read:repo:globex/api"},
		{name: "attenuation denies", path: "/repos/acme/web/file", auth: "Bearer " + onlyAPI, wantStatus: 403, wantError: "caveat_denied", wantChall: "-", wantCheck: "repo:acme/api", wantBlock: 1},
		{name: "attenuation denies and no right covers", path: "/repos/globex/api/file", auth: "Bearer " + onlyAPI, wantStatus: 403, wantError: "caveat_denied", wantChall: "-", wantCheck: "repo:acme/api", wantBlock: 1},
		{name: "not bearer", path: "/repos/acme/api/file", auth: "Basic YWxpY2U6cHc=", wantStatus: 400, wantError: "invalid_request"},
		{name: "unmappable", path: "/repos/bad/api/file", auth: "Bearer " + good.Token, wantStatus: 400, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			before := ran
			mu.Unlock()
			req, err := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b body
			if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
				t.Fatalf("decoding body: %v", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %+v)", resp.StatusCode, tt.wantStatus, b)
			}
			mu.Lock()
			gotRan := ran > before
			mu.Unlock()
			if gotRan != tt.wantRan {
				t.Errorf("handler ran = %v, want %v", gotRan, tt.wantRan)
			}
			if tt.wantStatus == 200 {
				if b.Agent != "reviewer" || b.Repo != "api" || !strings.HasPrefix(b.DecisionID, "d_") || !b.SameInCtx {
					t.Errorf("handler saw %+v; want agent reviewer, repo api, a decision ID and the same decision in the request context", b)
				}
				return
			}
			if b.Error != tt.wantError {
				t.Errorf("body error = %q, want %q", b.Error, tt.wantError)
			}
			if b.Description == "" {
				t.Error("body has no error_description")
			}
			if strings.Contains(b.Description, good.Token) || strings.Contains(b.Description, onlyAPI) {
				t.Error("error_description contains the token")
			}
			switch {
			case tt.wantCheck == "" && b.FailedCheck != nil:
				t.Errorf("failed_check = %+v, want none", b.FailedCheck)
			case tt.wantCheck != "" && (b.FailedCheck == nil || b.FailedCheck.Block != tt.wantBlock || !strings.Contains(b.FailedCheck.Text, tt.wantCheck)):
				t.Errorf("failed_check = %+v, want block %d's check containing %q", b.FailedCheck, tt.wantBlock, tt.wantCheck)
			}
			chall := resp.Header.Get("WWW-Authenticate")
			if b.Scope != tt.wantScope || tt.wantScope != "" && !strings.Contains(chall, `scope="`+tt.wantScope+`"`) {
				t.Errorf("scope %q, challenge %q; want scope %q in both", b.Scope, chall, tt.wantScope)
			}
			if tt.wantStatus == 400 || tt.wantChall == "-" {
				if chall != "" {
					t.Errorf("%d %s carries a challenge (it would invite step-up): %q", tt.wantStatus, tt.wantError, chall)
				}
				return
			}
			if !strings.HasPrefix(chall, `Bearer realm="mandate"`) {
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge with realm mandate", chall)
			}
			if !strings.Contains(chall, `resource_metadata="https://tools.example/.well-known/oauth-protected-resource"`) {
				t.Errorf("WWW-Authenticate = %q, want resource_metadata", chall)
			}
			hasErr := strings.Contains(chall, "error=")
			if tt.wantChall == "" && hasErr {
				t.Errorf("WWW-Authenticate = %q, want a bare challenge without error", chall)
			}
			if tt.wantChall != "" && !strings.Contains(chall, `error="`+tt.wantChall+`"`) {
				t.Errorf("WWW-Authenticate = %q, want error=%q", chall, tt.wantChall)
			}
		})
	}

	t.Run("no middleware, no decision", func(t *testing.T) {
		resp, err := srv.Client().Get(srv.URL + "/open")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got struct {
			HasDecision bool `json:"has_decision"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || got.HasDecision {
			t.Errorf("status %d, has_decision %v; want 200 and false", resp.StatusCode, got.HasDecision)
		}
	})
}

// TestCredentialNotEchoed: a token sent without "Bearer " is not repeated in
// the challenge or the body.
func TestCredentialNotEchoed(t *testing.T) {
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Keys: token.NewKeySet(key.Public()), Revocations: revocation.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	r.GET("/x", ginmw.Middleware(v, func(*http.Request) (verifier.Request, error) {
		return verifier.Request{Service: "github", Tool: "get_file", Operation: "read", Resource: "repo:acme/api"}, nil
	}, verifier.HTTPOptions{}), func(c *gin.Context) { c.String(200, "ran") })
	tok := mint(t, key, time.Now(), time.Hour).Token
	for _, auth := range []string{tok, tok + " x", "Bearer" + tok} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Header.Set("Authorization", auth)
		r.ServeHTTP(w, req)
		all := w.Header().Get("WWW-Authenticate") + w.Body.String()
		if w.Code != http.StatusBadRequest || strings.Contains(all, tok[:16]) {
			t.Errorf("status %d, response %s; want 400 without the credential", w.Code, all)
		}
	}
}

// TestRelativeResourceFromURL: a path parameter of "%2e%2e" reaches the
// request function decoded as "..": the resource "repo:acme/.." would pass
// the prefix "repo:acme/" but name something else, so it is refused (400)
// and the handler does not run.
func TestRelativeResourceFromURL(t *testing.T) {
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Keys: token.NewKeySet(key.Public()), Revocations: revocation.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	ran := 0
	r.GET("/repos/:owner/:repo/file", ginmw.Middleware(v, func(r *http.Request) (verifier.Request, error) {
		return verifier.Request{Service: "github", Tool: "get_file", Operation: "read", Resource: "repo:" + r.PathValue("owner") + "/" + r.PathValue("repo")}, nil
	}, verifier.HTTPOptions{}), func(c *gin.Context) { ran++; c.String(200, "ran") })
	srv := httptest.NewServer(r)
	defer srv.Close()
	tok := mint(t, key, time.Now(), time.Hour).Token
	for _, path := range []string{"/repos/acme/%2e%2e/file", "/repos/acme/%252e%252e/file", "/repos/acme/./file"} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b body
		_ = json.NewDecoder(resp.Body).Decode(&b)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(b.Description, "segment") {
			t.Errorf("%s: status %d, body %+v; want 400 naming the segment", path, resp.StatusCode, b)
		}
	}
	if ran != 0 {
		t.Errorf("the handler ran %d times", ran)
	}
}
