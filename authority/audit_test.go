package authority_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
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
