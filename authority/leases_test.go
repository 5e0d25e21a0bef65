package authority_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/token"
)

type leaseOut struct {
	LeaseID    string `json:"lease_id"`
	Amount     int64  `json:"amount"`
	ResetsInMS int64  `json:"resets_in_ms"`
	ResetsAt   string `json:"resets_at"`
	Used       int64  `json:"used"`
	Held       int64  `json:"held"`
}

type usageRow struct {
	LimitID string `json:"limit_id"`
	Block   int    `json:"block"`
	Limit   string `json:"limit"`
	Max     int64  `json:"max"`
	Used    int64  `json:"used"`
	Spent   int64  `json:"spent"`
	Held    int64  `json:"held"`
	Leases  int    `json:"leases"`
	Current bool   `json:"current"`
}

// mintLimited mints with usage limits (the mint request's "limits").
func (e *env) mintLimited(session string, limits ...string) minted {
	e.t.Helper()
	req := crmMint(session)
	r := e.do(http.MethodPost, "/v1/tokens", adminToken, map[string]any{
		"agent": req.Agent, "org": req.Org, "session": session, "rights": req.Rights, "ttl_seconds": req.TTLSeconds, "limits": limits,
	})
	if r.status != http.StatusCreated {
		e.t.Fatalf("mint: %d %s", r.status, r.body)
	}
	var m minted
	r.json(e.t, &m)
	return m
}

func TestLeases(t *testing.T) {
	e := newEnv(t)
	m := e.mintLimited("s_lim", "get_account:calls=10/1h")
	id := m.RevocationIDs[0] + "/0"

	// A lease on the limit, its return, and the ledger in the session view.
	r := e.do(http.MethodPost, "/v1/leases", "", map[string]any{"token": m.Token, "limit_id": id, "need": 1, "want": 4})
	if r.status != http.StatusOK {
		t.Fatalf("lease: %d %s", r.status, r.body)
	}
	var l leaseOut
	r.json(t, &l)
	if l.Amount != 4 || l.LeaseID == "" || l.Used != 4 || l.ResetsInMS <= 0 || l.ResetsAt == "" {
		t.Fatalf("lease %+v; want 4 in an hourly window", l)
	}
	if r := e.do(http.MethodPost, "/v1/leases/return", "", map[string]any{"lease_id": l.LeaseID, "unused": 1}); r.status != http.StatusNoContent {
		t.Fatalf("return: %d %s", r.status, r.body)
	}
	var sess struct {
		Limits []usageRow `json:"limits"`
	}
	e.do(http.MethodGet, "/v1/sessions/s_lim", adminToken, nil).json(t, &sess)
	want := usageRow{LimitID: id, Block: 0, Limit: "get_account:calls=10/1h", Max: 10, Used: 3, Spent: 3, Current: true}
	if len(sess.Limits) != 1 || sess.Limits[0] != want {
		t.Fatalf("session limits %+v; want [%+v]", sess.Limits, want)
	}
	var u struct {
		Limits []usageRow `json:"limits"`
	}
	e.do(http.MethodPost, "/v1/limits/usage", "", map[string]string{"token": m.Token}).json(t, &u)
	if len(u.Limits) != 1 || u.Limits[0] != want {
		t.Fatalf("usage %+v; want [%+v]", u.Limits, want)
	}

	// Bad input: JSON errors, a challenge where the token is the problem.
	for _, tt := range []struct {
		name   string
		path   string
		body   any
		status int
		code   string
	}{
		{"no body", "/v1/leases", nil, 400, "invalid_request"},
		{"not JSON", "/v1/leases", "{", 400, "invalid_request"},
		{"unknown field", "/v1/leases", map[string]any{"token": m.Token, "limit_id": id, "need": 1, "max": 1000}, 400, "invalid_request"},
		{"no limit", "/v1/leases", map[string]any{"token": m.Token, "need": 1}, 400, "invalid_request"},
		{"unknown limit", "/v1/leases", map[string]any{"token": m.Token, "limit_id": m.RevocationIDs[0] + "/1", "need": 1}, 400, "invalid_request"},
		{"zero need", "/v1/leases", map[string]any{"token": m.Token, "limit_id": id, "need": 0}, 400, "invalid_request"},
		{"forged token", "/v1/leases", map[string]any{"token": "EoAB" + strings.Repeat("A", 40), "limit_id": id, "need": 1}, 401, "invalid_token"},
		{"malformed lease ID", "/v1/leases/return", map[string]any{"lease_id": "../x", "unused": 1}, 400, "invalid_request"},
		{"negative unused", "/v1/leases/return", map[string]any{"lease_id": l.LeaseID, "unused": -1}, 400, "invalid_request"},
		{"usage of a forged token", "/v1/limits/usage", map[string]string{"token": "x"}, 401, "invalid_token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodPost, tt.path, "", tt.body)
			r.wantError(t, tt.status, tt.code)
			if tt.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
				t.Fatalf("401 without a Bearer challenge: %v", r.header)
			}
		})
	}
	// A retried return of a returned lease changes nothing.
	if r := e.do(http.MethodPost, "/v1/leases/return", "", map[string]any{"lease_id": l.LeaseID, "unused": 4}); r.status != http.StatusNoContent {
		t.Fatalf("second return: %d %s", r.status, r.body)
	}
	e.do(http.MethodPost, "/v1/limits/usage", "", map[string]string{"token": m.Token}).json(t, &u)
	if u.Limits[0].Used != 3 {
		t.Fatalf("after a retried return: %+v", u.Limits[0])
	}

	// Mint refuses bad limits.
	for _, spec := range []string{"get_account:calls=0", "get_account", "get_account:calls=5/1s"} {
		r := e.do(http.MethodPost, "/v1/tokens", adminToken, map[string]any{"agent": "a", "rights": crmMint("").Rights, "ttl_seconds": 60, "limits": []string{spec}})
		r.wantError(t, 400, "invalid_request")
	}
}

// TestLeaseRevoked: no lease for a revoked token or session.
func TestLeaseRevoked(t *testing.T) {
	e := newEnv(t)
	m := e.mintLimited("s_rev", "get_account:calls=10/1h")
	id := m.RevocationIDs[0] + "/0"
	e.revoke("", map[string]string{"token": m.Token})
	e.do(http.MethodPost, "/v1/leases", "", map[string]any{"token": m.Token, "limit_id": id, "need": 1, "want": 4}).wantError(t, 401, "invalid_token")

	m2 := e.mintLimited("s_rev2", "get_account:calls=10/1h")
	e.revoke(adminToken, map[string]string{"session": "s_rev2"})
	e.do(http.MethodPost, "/v1/leases", "", map[string]any{"token": m2.Token, "limit_id": m2.RevocationIDs[0] + "/0", "need": 1}).wantError(t, 401, "invalid_token")
}

// TestCeilingLimits: a client's ceiling limits are in every token it
// mints (with the request's, without repeating one), survive a restart,
// and bad ones are refused at registration.
func TestCeilingLimits(t *testing.T) {
	dir := t.TempDir()
	open := func() *env {
		e := &env{t: t, dir: dir}
		a, err := authority.Open(context.Background(), authority.Config{DataDir: dir, AdminToken: adminToken, AdminTokenOutput: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		e.a, e.srv = a, httptest.NewServer(authority.NewHandler(a))
		return e
	}
	close := func(e *env) {
		e.a.Shutdown()
		e.srv.Close()
		_ = e.a.Close()
	}
	e := open()
	c := map[string]any{"services": []string{"crm"}, "tools": []string{"get_account"}, "operations": []string{"read"},
		"resource_prefixes": []string{"account:acme/"}, "orgs": []string{"acme"}, "max_ttl_seconds": 3600}
	c["limits"] = []string{"get_account:calls=0"}
	e.do(http.MethodPost, "/v1/clients", adminToken, map[string]any{"client_id": "bad", "ceiling": c}).wantError(t, 400, "invalid_request")
	c["limits"] = []string{"get_account:calls=2/1h"}
	r := e.do(http.MethodPost, "/v1/clients", adminToken, map[string]any{"client_id": "platform", "ceiling": c})
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	var reg struct {
		Secret string `json:"client_secret"`
	}
	r.json(t, &reg)
	close(e)

	e = open()
	defer close(e)
	var got struct {
		Ceiling struct {
			Limits []string `json:"limits"`
		} `json:"ceiling"`
	}
	e.do(http.MethodGet, "/v1/clients/platform", adminToken, nil).json(t, &got)
	if len(got.Ceiling.Limits) != 1 || got.Ceiling.Limits[0] != "get_account:calls=2/1h" {
		t.Fatalf("ceiling limits after a restart: %v", got.Ceiling.Limits)
	}
	req := crmMint("")
	r = e.do(http.MethodPost, "/v1/tokens", reg.Secret, map[string]any{"agent": req.Agent, "org": "acme", "rights": req.Rights,
		"ttl_seconds": 600, "limits": []string{"get_account:calls=2/1h", "*:calls=100"}})
	if r.status != http.StatusCreated {
		t.Fatalf("mint: %d %s", r.status, r.body)
	}
	var m minted
	r.json(t, &m)
	u, err := token.ParseString(m.Token)
	if err != nil {
		t.Fatal(err)
	}
	var specs []string
	for _, l := range u.UnsafeLimits() {
		specs = append(specs, fmt.Sprintf("%d:%s", l.Block, l.Limit))
	}
	if strings.Join(specs, " ") != "0:get_account:calls=2/1h 0:*:calls=100" {
		t.Fatalf("limits of the client's token: %v; want the ceiling's, then the request's new one", specs)
	}
}
