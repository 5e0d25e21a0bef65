package authority_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/token"
)

const adminToken = "test-admin-token-0123456789abcdef"

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is an authority served over a real listener on 127.0.0.1.
type env struct {
	t   *testing.T
	a   *authority.Authority
	srv *httptest.Server
	dir string
}

type envOpt func(*authority.Config, *[]authority.Option)

// withClock runs the authority on c, with an in-memory store on the same
// clock (Badger's TTL runs on the real clock).
func withClock(c *clock) envOpt {
	return func(cfg *authority.Config, opts *[]authority.Option) {
		cfg.Now = c.Now
		*opts = append(*opts, authority.WithStore(authority.NewMemoryStore(authority.WithMemoryClock(c.Now))))
	}
}

func withMemoryStore() envOpt {
	return func(cfg *authority.Config, opts *[]authority.Option) {
		*opts = append(*opts, authority.WithStore(authority.NewMemoryStore()))
	}
}

func newEnv(t *testing.T, eo ...envOpt) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	cfg := authority.Config{DataDir: e.dir, AdminToken: adminToken, AdminTokenOutput: io.Discard}
	var opts []authority.Option
	for _, o := range eo {
		o(&cfg, &opts)
	}
	a, err := authority.Open(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	e.a = a
	e.srv = httptest.NewServer(authority.NewHandler(a))
	t.Cleanup(func() {
		a.Shutdown()
		e.srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// resp is a decoded HTTP response.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d is not JSON: %v: %s", r.status, err, r.body)
	}
}

// errorCode asserts an error response's status and JSON shape and returns
// its code.
func (r resp) wantError(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	var eb struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("error body is not {error, error_description}: %v: %s", err, r.body)
	}
	if eb.Error != code || eb.Description == "" {
		t.Fatalf("error = %q (%q), want code %q with a description", eb.Error, eb.Description, code)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type = %q", ct)
	}
}

func (e *env) do(method, path, bearer string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) resp {
	e.t.Helper()
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) form(path, bearer string, v url.Values) resp {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(v.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return e.send(req)
}

type ceiling struct {
	Services         []string `json:"services"`
	Tools            []string `json:"tools"`
	Operations       []string `json:"operations"`
	ResourcePrefixes []string `json:"resource_prefixes"`
	Orgs             []string `json:"orgs"`
	MaxTTLSeconds    int64    `json:"max_ttl_seconds"`
}

var crmCeiling = ceiling{
	Services:         []string{"crm"},
	Tools:            []string{"get_account", "list_invoices"},
	Operations:       []string{"read"},
	ResourcePrefixes: []string{"account:acme/"},
	Orgs:             []string{"acme"},
	MaxTTLSeconds:    3600,
}

// register registers a client and returns its secret.
func (e *env) register(id string, c ceiling) string {
	e.t.Helper()
	r := e.do(http.MethodPost, "/v1/clients", adminToken, map[string]any{"client_id": id, "ceiling": c})
	if r.status != http.StatusCreated {
		e.t.Fatalf("register %s: %d %s", id, r.status, r.body)
	}
	var out struct {
		Secret string `json:"client_secret"`
	}
	r.json(e.t, &out)
	return out.Secret
}

type mintReq struct {
	Agent      string        `json:"agent"`
	User       string        `json:"user,omitempty"`
	Org        string        `json:"org,omitempty"`
	Session    string        `json:"session,omitempty"`
	Rights     []token.Right `json:"rights"`
	TTLSeconds int64         `json:"ttl_seconds"`
}

type minted struct {
	Token         string   `json:"token"`
	Session       string   `json:"session"`
	RevocationIDs []string `json:"revocation_ids"`
	ExpiresAt     string   `json:"expires_at"`
	KeyID         uint32   `json:"key_id"`
}

func crmMint(session string) mintReq {
	return mintReq{Agent: "support-bot", User: "alice@acme.test", Org: "acme", Session: session,
		Rights:     []token.Right{{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"}},
		TTLSeconds: 600}
}

func (e *env) mint(bearer string, req mintReq) minted {
	e.t.Helper()
	r := e.do(http.MethodPost, "/v1/tokens", bearer, req)
	if r.status != http.StatusCreated {
		e.t.Fatalf("mint: %d %s", r.status, r.body)
	}
	var m minted
	r.json(e.t, &m)
	return m
}

type entry struct {
	Seq          uint64 `json:"seq"`
	RevocationID string `json:"revocation_id"`
	ExpiresAt    string `json:"expires_at"`
}

type feed struct {
	Entries []entry `json:"entries"`
	Next    uint64  `json:"next"`
}

func (e *env) feed(after uint64) feed {
	e.t.Helper()
	r := e.do(http.MethodGet, "/v1/revocations?after="+itoa(after), "", nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("feed: %d %s", r.status, r.body)
	}
	var f feed
	r.json(e.t, &f)
	return f
}

type revokeResp struct {
	Entries []entry `json:"entries"`
	Total   int     `json:"total"`
	Created int     `json:"created"`
	Expired bool    `json:"already_expired"`
}

func (e *env) revoke(bearer string, body map[string]string) revokeResp {
	e.t.Helper()
	r := e.do(http.MethodPost, "/v1/revocations", bearer, body)
	if r.status != http.StatusOK {
		e.t.Fatalf("revoke %v: %d %s", keys(body), r.status, r.body)
	}
	var out revokeResp
	r.json(e.t, &out)
	return out
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (e *env) introspect(bearer, tok string) map[string]any {
	e.t.Helper()
	r := e.form("/oauth2/introspect", bearer, url.Values{"token": {tok}})
	if r.status != http.StatusOK {
		e.t.Fatalf("introspect: %d %s", r.status, r.body)
	}
	var out map[string]any
	r.json(e.t, &out)
	return out
}

// keySet fetches /v1/keys as a verifier would.
func (e *env) keySet() *token.KeySet {
	e.t.Helper()
	r := e.do(http.MethodGet, "/v1/keys", "", nil)
	var out struct {
		Keys []struct {
			KeyID     uint32 `json:"key_id"`
			Algorithm string `json:"algorithm"`
			PublicKey string `json:"public_key"`
			Status    string `json:"status"`
			NotAfter  string `json:"not_after"`
		} `json:"keys"`
	}
	r.json(e.t, &out)
	var ks []token.PublicKey
	for _, k := range out.Keys {
		pub, err := token.ParsePublicKey(k.PublicKey)
		if err != nil {
			e.t.Fatal(err)
		}
		pk := token.PublicKey{ID: k.KeyID, Key: pub}
		if k.NotAfter != "" {
			if pk.NotAfter, err = time.Parse(time.RFC3339, k.NotAfter); err != nil {
				e.t.Fatal(err)
			}
		}
		ks = append(ks, pk)
	}
	return token.NewKeySet(ks...)
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
