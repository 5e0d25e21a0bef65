package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/examples/internal/followauth"
	"github.com/mandate-dev/mandate/token"
)

// TestWithAuthority runs the server against an in-process authority: the
// metadata names it, its tokens are accepted, and a revocation reaches the
// server through the feed.
func TestWithAuthority(t *testing.T) {
	a, err := authority.Open(context.Background(), authority.Config{DataDir: t.TempDir(), AdminTokenOutput: io.Discard},
		authority.WithStore(authority.NewMemoryStore()))
	if err != nil {
		t.Fatal(err)
	}
	asrv := httptest.NewServer(authority.NewHandler(a))
	t.Cleanup(func() {
		a.Shutdown()
		asrv.Close()
		_ = a.Close()
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := start(ctx, config{Addr: "127.0.0.1:0", Authority: asrv.URL, Trust: followauth.Trust{Key: token.FormatPublicKey(a.Keys()[0].PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()

	resp, err := http.Get(app.MetadataURL)
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		AuthorizationServers []string `json:"authorization_servers"`
	}
	err = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if err != nil || len(meta.AuthorizationServers) != 1 || meta.AuthorizationServers[0] != asrv.URL {
		t.Fatalf("metadata authorization_servers = %v (%v), want [%s]", meta.AuthorizationServers, err, asrv.URL)
	}

	m, err := a.Mint(ctx, authority.Principal{Admin: true}, authority.MintRequest{
		Agent: "code-reviewer", Org: "acme",
		Rights: []token.Right{{Service: "github", Tool: "*", Operation: "read", Resource: "repo:acme/"}},
		TTL:    time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	cs := connect(t, app, m.Token)
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	res, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: "read_file", Arguments: map[string]any{"repo": "acme/api", "path": "go.mod"}})
	if err != nil || res.IsError {
		t.Fatalf("read_file with the authority's token: %v %+v", err, res)
	}

	if _, err := a.RevokeToken(ctx, m.Token); err != nil {
		t.Fatal(err)
	}
	call := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"read_file","arguments":{"repo":"acme/api","path":"go.mod"}}}`
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequest(http.MethodPost, app.MCPURL, strings.NewReader(call))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+m.Token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		h := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode == 401 && strings.Contains(h, `error="invalid_token"`) && strings.Contains(h, "revoked") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after revocation: still %d %q", resp.StatusCode, h)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
