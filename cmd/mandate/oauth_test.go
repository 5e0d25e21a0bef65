package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
)

// TestBinaryOAuth: "mandate authority serve" is an OAuth authorization
// server: its metadata lists the OAuth endpoints and grants, the admin
// manages the scope catalog and OAuth clients, and the options for client
// metadata documents and dynamic registration turn them on.
func TestBinaryOAuth(t *testing.T) {
	const admin = "admin-token-0123456789abcdefghij"
	data := filepath.Join(t.TempDir(), "data")
	p := startServe(t, []string{"MANDATE_ADMIN_TOKEN=" + admin}, "--data", data, "--addr", "127.0.0.1:0",
		"--oauth-dynamic-registration", "--oauth-client-metadata-hosts", "agents.example.com")
	defer p.stop(t)
	resp, err := http.Get(p.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	err = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"authorization_endpoint":                p.URL + "/oauth2/authorize",
		"token_endpoint":                        p.URL + "/oauth2/token",
		"registration_endpoint":                 p.URL + "/oauth2/register",
		"client_id_metadata_document_supported": true,
		"revocation_endpoint":                   p.URL + "/oauth2/revoke",
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	body, _ := json.Marshal(map[string]any{"resource": "https://tools.example.com/mcp", "scopes": map[string]any{
		"github:read": map[string]any{"description": "Read repositories", "rights": []any{map[string]any{"tool": "*", "operation": "read", "resource": "repo:{org}/"}}},
	}})
	req, _ := http.NewRequest(http.MethodPut, p.URL+"/v1/oauth/services/github", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /v1/oauth/services/github: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPut, p.URL+"/v1/oauth/services/github", bytes.NewReader(body))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("catalog change without the admin token: %d, want 401", resp.StatusCode)
	}
}
