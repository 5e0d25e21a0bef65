package authority_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mandate-dev/mandate/authority"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func withLogger(w io.Writer) envOpt {
	return func(cfg *authority.Config, opts *[]authority.Option) {
		l := zerolog.New(w).Level(zerolog.DebugLevel)
		cfg.Logger = &l
	}
}

func TestAuditEventsAndSecrets(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, withLogger(&logs))
	secret := e.register("platform", crmCeiling)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/tokens", strings.NewReader(jsonOf(t, crmMint(""))))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("X-Request-ID", "req-mint-1")
	r := e.send(req)
	var m minted
	r.json(t, &m)
	e.revoke("", map[string]string{"token": m.Token})
	e.revoke(secret, map[string]string{"session": m.Session})
	e.do(http.MethodPost, "/v1/keys/rotate", adminToken, nil)
	e.do(http.MethodDelete, "/v1/clients/platform", adminToken, nil)
	e.do(http.MethodPost, "/v1/tokens", "wrong-credential-xyz", crmMint(""))

	events := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if ev["audit"] == true {
			events[ev["event"].(string)] = ev
		}
	}
	for _, name := range []string{"client_registered", "mint", "revocation", "key_rotation", "client_deleted"} {
		ev, ok := events[name]
		if !ok {
			t.Errorf("no %q audit event", name)
			continue
		}
		if ev["request_id"] == nil || ev["request_id"] == "" {
			t.Errorf("%q audit event without request_id: %v", name, ev)
		}
	}
	if ev := events["mint"]; ev["request_id"] != "req-mint-1" || ev["client_id"] != "platform" || ev["session"] != m.Session {
		t.Errorf("mint event = %v", ev)
	}
	// Never a token, a secret or a key.
	pem, _ := filepath.Glob(filepath.Join(e.dir, "keys", "*.pem"))
	forbidden := []string{m.Token, m.Token[:40], secret, strings.SplitN(secret, ".", 2)[1], adminToken, "wrong-credential-xyz", "PRIVATE KEY"}
	for _, p := range pem {
		b, _ := os.ReadFile(p)
		lines := strings.Split(string(b), "\n")
		forbidden = append(forbidden, lines[1])
	}
	for _, f := range forbidden {
		if strings.Contains(logs.String(), f) {
			t.Errorf("the log contains a secret (%.12s…)", f)
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOversizeChunkedBody(t *testing.T) {
	e := newEnv(t)
	// No Content-Length: the limit applies while reading.
	body := io.MultiReader(strings.NewReader(`{"agent":"`), strings.NewReader(strings.Repeat("a", authority.MaxBodyBytes)), strings.NewReader(`"}`))
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/tokens", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	e.send(req).wantError(t, http.StatusRequestEntityTooLarge, "request_too_large")
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/revoke", io.MultiReader(strings.NewReader("token="), strings.NewReader(strings.Repeat("a", authority.MaxBodyBytes))))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	e.send(req).wantError(t, http.StatusRequestEntityTooLarge, "request_too_large")
}

// auditEvents returns the audit events in logs, in order.
func auditEvents(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if ev["audit"] == true {
			out = append(out, ev)
		}
	}
	return out
}

// TestAuditRefusals: failed logins and ceiling violations are audit events
// that name the client (when the credential names a registered one) and
// the reason, and never hold the credential or any part of it.
func TestAuditRefusals(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, withLogger(&logs))
	secret := e.register("platform", crmCeiling)
	wrongSecret := "platform.not-the-secret-0123456789"
	wrongAdmin := "not-the-admin-token-0123456789"
	pastedJWT := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"

	e.do(http.MethodPost, "/v1/tokens", wrongSecret, crmMint("")).wantError(t, http.StatusUnauthorized, "invalid_token")
	e.do(http.MethodGet, "/v1/clients", wrongAdmin, nil).wantError(t, http.StatusUnauthorized, "invalid_token")
	e.do(http.MethodPost, "/v1/tokens", pastedJWT, crmMint("")).wantError(t, http.StatusUnauthorized, "invalid_token")
	e.do(http.MethodPost, "/v1/keys/rotate", "mda_"+wrongAdmin, nil).wantError(t, http.StatusUnauthorized, "invalid_token")
	e.do(http.MethodPost, "/v1/tokens", "", crmMint("")).wantError(t, http.StatusUnauthorized, "unauthorized")
	basic := url.Values{"token": {"x"}}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/introspect", strings.NewReader(basic.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("platform", "wrong-basic-secret")
	e.send(req).wantError(t, http.StatusUnauthorized, "invalid_token")

	beyond := crmMint("")
	beyond.TTLSeconds = 7200
	e.do(http.MethodPost, "/v1/tokens", secret, beyond).wantError(t, http.StatusForbidden, "insufficient_scope")
	other := crmMint("")
	other.Org = "globex"
	e.do(http.MethodPost, "/v1/tokens", secret, other).wantError(t, http.StatusForbidden, "insufficient_scope")

	var failed, refused []map[string]any
	for _, ev := range auditEvents(t, logs.String()) {
		switch ev["event"] {
		case "auth_failed":
			failed = append(failed, ev)
		case "mint_refused":
			refused = append(refused, ev)
		}
	}
	wantFailed := []struct{ client, reason, route string }{
		{"platform", "wrong_client_secret", "/v1/tokens"},
		{"", "unknown_credential", "/v1/clients"},
		{"", "unknown_credential", "/v1/tokens"},
		{"", "wrong_admin_token", "/v1/keys/rotate"},
		{"", "no_credentials", "/v1/tokens"},
		{"platform", "wrong_client_secret", "/oauth2/introspect"},
	}
	if len(failed) != len(wantFailed) {
		t.Fatalf("%d auth_failed events, want %d: %v", len(failed), len(wantFailed), failed)
	}
	for i, w := range wantFailed {
		ev := failed[i]
		if ev["client_id"] != w.client || ev["reason"] != w.reason || ev["route"] != w.route || ev["level"] != "warn" || ev["request_id"] == nil {
			t.Errorf("auth_failed %d = %v, want client %q reason %q route %q at warn with a request_id", i, ev, w.client, w.reason, w.route)
		}
	}
	if len(refused) != 2 {
		t.Fatalf("%d mint_refused events, want 2: %v", len(refused), refused)
	}
	for i, want := range []string{"ttl 2h0m0s is over the ceiling's 1h0m0s", `org "globex" is not in the ceiling's orgs`} {
		ev := refused[i]
		if ev["client_id"] != "platform" || ev["reason"] != want || ev["agent"] != "support-bot" || ev["request_id"] == nil {
			t.Errorf("mint_refused %d = %v, want client platform, reason %q", i, ev, want)
		}
	}
	if refused[0]["ttl_s"] != float64(7200) || refused[0]["max_ttl_s"] != float64(3600) {
		t.Errorf("mint_refused TTL fields = %v, %v; want ttl_s 7200, max_ttl_s 3600", refused[0]["ttl_s"], refused[0]["max_ttl_s"])
	}

	for _, f := range []string{secret, strings.SplitN(secret, ".", 2)[1], "not-the-secret", wrongAdmin, "eyJhbGciOiJIUzI1NiJ9", "wrong-basic-secret", adminToken} {
		if strings.Contains(logs.String(), f) {
			t.Errorf("the log contains a credential (%.12s…)", f)
		}
	}
}

// TestLogFieldUnits: every logged duration names its unit; none is a bare
// "duration" or "max_ttl" whose unit depends on zerolog's global setting.
func TestLogFieldUnits(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, withLogger(&logs))
	e.register("platform", crmCeiling)
	e.do(http.MethodGet, "/healthz", "", nil)
	var sawRequest, sawClient bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		for _, bare := range []string{"duration", "max_ttl", "ttl", "staleness", "retry_in", "wait"} {
			if _, ok := ev[bare]; ok {
				t.Errorf("log field %q has no unit in its name: %s", bare, line)
			}
		}
		if ev["message"] == "request" {
			sawRequest = true
			if _, ok := ev["duration_ms"].(float64); !ok {
				t.Errorf("request log without duration_ms: %s", line)
			}
		}
		if ev["event"] == "client_registered" {
			sawClient = true
			if ev["max_ttl_s"] != float64(crmCeiling.MaxTTLSeconds) {
				t.Errorf("client_registered max_ttl_s = %v, want %d (the ceiling's seconds)", ev["max_ttl_s"], crmCeiling.MaxTTLSeconds)
			}
		}
	}
	if !sawRequest || !sawClient {
		t.Fatalf("missing request or client_registered log line:\n%s", logs.String())
	}
}
