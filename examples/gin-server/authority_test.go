package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/decisions"
	"github.com/mandate-dev/mandate/examples/internal/followauth"
	"github.com/mandate-dev/mandate/token"
)

// startAuthority runs an authority in process on 127.0.0.1.
func startAuthority(t *testing.T) (*authority.Authority, string) {
	t.Helper()
	a, err := authority.Open(context.Background(), authority.Config{DataDir: t.TempDir(), AdminTokenOutput: io.Discard},
		authority.WithStore(authority.NewMemoryStore()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(authority.NewHandler(a))
	t.Cleanup(func() {
		a.Shutdown()
		srv.Close()
		_ = a.Close()
	})
	return a, srv.URL
}

// TestWithAuthority runs the server against an authority: it trusts the
// authority's keys, and a revocation reaches it through the feed.
func TestWithAuthority(t *testing.T) {
	a, url := startAuthority(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := start(ctx, config{Addr: "127.0.0.1:0", Authority: url, Trust: followauth.Trust{Key: token.FormatPublicKey(a.Keys()[0].PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if app.Demo != nil {
		t.Fatal("demo mode with --authority")
	}
	m, err := a.Mint(ctx, authority.Principal{Admin: true}, authority.MintRequest{
		Agent: "support-bot", Org: "acme",
		Rights: []token.Right{{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/"}},
		TTL:    time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func() (int, string) {
		req, err := http.NewRequest(http.MethodGet, app.URL+"/accounts/42", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+m.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := get(); status != 200 {
		t.Fatalf("before revocation: %d %s; want 200", status, body)
	}
	if _, err := a.RevokeToken(ctx, m.Token); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body := get()
		if status == 401 && strings.Contains(body, "revoked") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after revocation: still %d %s", status, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUnreachableAuthority(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Without a pinned key: refused before any network call.
	if app, err := start(ctx, config{Addr: "127.0.0.1:0", Authority: url}); err == nil || !strings.Contains(err.Error(), "--trust-key") {
		if app != nil {
			app.Close()
		}
		t.Fatalf("start without --trust-key = %v, want an error naming --trust-key", err)
	}
	k, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	app, err := start(ctx, config{Addr: "127.0.0.1:0", Authority: url, Trust: followauth.Trust{Key: token.FormatPublicKey(k.Public().Key)}})
	if err == nil {
		app.Close()
		t.Fatal("started without reaching the authority")
	}
	if !strings.Contains(err.Error(), "mandate authority serve") {
		t.Errorf("error %q does not say what to do", err)
	}
}

// TestShipsDecisions runs the server with a verifier credential: every
// decision it makes reaches the authority's decision log.
func TestShipsDecisions(t *testing.T) {
	a, url := startAuthority(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, cred, err := a.AddVerifier(ctx, authority.Principal{Admin: true}, "gin-server")
	if err != nil {
		t.Fatal(err)
	}
	app, err := start(ctx, config{Addr: "127.0.0.1:0", Authority: url, DecisionCredential: cred,
		Trust: followauth.Trust{Key: token.FormatPublicKey(a.Keys()[0].PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.Mint(ctx, authority.Principal{Admin: true}, authority.MintRequest{
		Agent: "support-bot", Org: "acme", Session: "s_gin",
		Rights: []token.Right{{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/"}},
		TTL:    time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/accounts/42", ""},
		{"POST", "/accounts/42/refunds", `{"amount": 500, "reason": "late"}`},
	} {
		req, _ := http.NewRequest(r.method, app.URL+r.path, strings.NewReader(r.body))
		req.Header.Set("Authorization", "Bearer "+m.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	app.Close() // flushes the shipper
	p, err := a.Decisions().Query(ctx, decisions.Query{Filter: decisions.Filter{Session: "s_gin"}}, decisions.Scope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Decisions) != 2 {
		t.Fatalf("%d decisions in the log, want 2", len(p.Decisions))
	}
	tools := map[string]bool{}
	for _, d := range p.Decisions {
		tools[d.Tool] = d.Allowed
		if d.Verifier != "gin-server" {
			t.Errorf("shipped by %q", d.Verifier)
		}
	}
	if !tools["get_account"] || tools["refund"] {
		t.Errorf("decisions: %+v", p.Decisions)
	}
	if _, err := start(ctx, config{Addr: "127.0.0.1:0", DecisionCredential: cred}); err == nil {
		t.Error("a decision credential without --authority was accepted")
	}
}
