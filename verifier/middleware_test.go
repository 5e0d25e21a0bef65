package verifier

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func toolServer(t *testing.T, v *Verifier, opts HTTPOptions) *httptest.Server {
	t.Helper()
	mapFn := func(r *http.Request) (Request, error) {
		id := r.URL.Query().Get("account")
		if id == "" {
			return Request{}, errors.New("missing ?account=")
		}
		org := r.URL.Query().Get("org")
		if org == "" {
			org = "acme"
		}
		return Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:" + org + "/" + id}, nil
	}
	mux := http.NewServeMux()
	mux.Handle("/account", Middleware(v, mapFn, opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := DecisionFrom(r.Context())
		if !ok || !d.Allowed {
			t.Errorf("handler ran without an allowing decision in its context")
		}
		_, _ = io.WriteString(w, "ok "+d.Agent)
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestMiddleware(t *testing.T) {
	a := newTestAuthority(t)
	v := newVerifier(t, a)
	srv := toolServer(t, v, HTTPOptions{ResourceMetadata: "http://127.0.0.1/.well-known/oauth-protected-resource"})
	wide := a.mint(t, time.Hour)
	narrow := appendBlock(t, wide, `check if resource($r), $r.starts_with("account:acme/42")`)

	tests := []struct {
		name        string
		auth        []string
		query       string
		wantStatus  int
		wantError   string // JSON error code
		wantWWWAuth string // substring of WWW-Authenticate, "" = header absent
		other       bool   // query is an account of another org
	}{
		{name: "allowed", auth: []string{"Bearer " + narrow}, query: "account=42", wantStatus: 200},
		{name: "scheme is case-insensitive", auth: []string{"bearer " + narrow}, query: "account=42", wantStatus: 200},
		{name: "no token", query: "account=42", wantStatus: 401, wantError: "unauthorized", wantWWWAuth: `Bearer realm="mandate", resource_metadata=`},
		{name: "invalid token", auth: []string{"Bearer garbage"}, query: "account=42", wantStatus: 401, wantError: "invalid_token", wantWWWAuth: `error="invalid_token"`},
		{name: "insufficient scope", auth: []string{"Bearer " + wide}, query: "7", other: true, wantStatus: 403, wantError: "insufficient_scope", wantWWWAuth: `error="insufficient_scope", error_description="no right covers the request: service='crm' tool='get_account' operation='read' resource='account:globex/7'; the token grants no such right", scope="crm:get_account:read:account:globex/7", resource_metadata=`},
		{name: "caveat denies", auth: []string{"Bearer " + narrow}, query: "account=7", wantStatus: 403, wantError: "caveat_denied"},
		{name: "caveat and no right: the caveat wins", auth: []string{"Bearer " + narrow}, query: "7", other: true, wantStatus: 403, wantError: "caveat_denied"},
		{name: "basic auth", auth: []string{"Basic dXNlcjpwYXNz"}, query: "account=42", wantStatus: 400, wantError: "invalid_request"},
		{name: "two headers", auth: []string{"Bearer " + narrow, "Bearer " + narrow}, query: "account=42", wantStatus: 400, wantError: "invalid_request"},
		{name: "unmappable request", auth: []string{"Bearer " + narrow}, wantStatus: 400, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.query
			if tt.other {
				q = "org=globex&account=" + q
			}
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/account?"+q, nil)
			for _, h := range tt.auth {
				req.Header.Add("Authorization", h)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			www := resp.Header.Get("WWW-Authenticate")
			if tt.wantWWWAuth == "" && www != "" {
				t.Errorf("unexpected WWW-Authenticate %q", www)
			}
			if tt.wantWWWAuth != "" && !strings.Contains(www, tt.wantWWWAuth) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", www, tt.wantWWWAuth)
			}
			if tt.wantStatus == 200 {
				if string(body) != "ok support-bot" {
					t.Errorf("body %q", body)
				}
				return
			}
			var e struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body is not JSON: %s", body)
			}
			if e.Error != tt.wantError || e.Description == "" {
				t.Errorf("error body %+v, want error %q with a description", e, tt.wantError)
			}
			if resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestChallengeIsQuotedSafely(t *testing.T) {
	rec := httptest.NewRecorder()
	d := &Decision{Reason: "bad \"quote\" and \\ backslash\nnewline é", Err: ErrNoRight}
	WriteChallenge(rec, http.StatusForbidden, d, HTTPOptions{})
	www := rec.Header().Get("WWW-Authenticate")
	desc := www[strings.Index(www, `error_description="`)+len(`error_description="`):]
	desc = desc[:strings.LastIndex(desc, `"`)]
	if strings.ContainsAny(desc, "\"\\\n") || strings.ContainsFunc(desc, func(r rune) bool { return r > 0x7e }) {
		t.Fatalf("unsafe characters in error_description: %q", www)
	}
}

func TestAuthorizeHTTPNoTokenIsADenial(t *testing.T) {
	a := newTestAuthority(t)
	v := newVerifier(t, a)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	d, status := v.AuthorizeHTTP(r, func(*http.Request) (Request, error) { return readAccount, nil })
	if status != http.StatusUnauthorized || d.Allowed || !errors.Is(d.Err, ErrDenied) || !errors.Is(d.Err, ErrNoToken) {
		t.Fatalf("status %d, decision %+v: want 401 denying with ErrDenied and ErrNoToken", status, d)
	}
}
