package authority_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/mandate-dev/mandate/authority"
)

// An authority in-process: register a client, mint a token for its agent,
// revoke the session, and read the revocation feed as a verifier would.
func Example() {
	dir, _ := os.MkdirTemp("", "mandate-example")
	defer os.RemoveAll(dir)
	a, err := authority.Open(context.Background(), authority.Config{
		DataDir:    dir,
		AdminToken: "example-admin-token-change-me-0123456789",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(authority.NewHandler(a))
	defer func() { srv.Close(); a.Close() }()

	call := func(method, path, bearer string, body any, out any) int {
		j, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(j))
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		_ = json.Unmarshal(b, out)
		return res.StatusCode
	}

	// 1. The admin registers a platform backend with its ceiling.
	var client struct {
		Secret string `json:"client_secret"`
	}
	status := call("POST", "/v1/clients", "example-admin-token-change-me-0123456789", map[string]any{
		"client_id": "support-platform",
		"ceiling": map[string]any{
			"services": []string{"crm"}, "tools": []string{"get_account"}, "operations": []string{"read"},
			"resource_prefixes": []string{"account:acme/"}, "orgs": []string{"acme"}, "max_ttl_seconds": 3600,
		},
	}, &client)
	fmt.Println("register client:", status)

	// 2. The platform mints a session token for its agent.
	var minted struct {
		Token   string `json:"token"`
		Session string `json:"session"`
	}
	status = call("POST", "/v1/tokens", client.Secret, map[string]any{
		"agent": "support-bot", "user": "alice@acme.test", "org": "acme",
		"rights":      []map[string]string{{"service": "crm", "tool": "get_account", "operation": "read", "resource": "account:acme/42"}},
		"ttl_seconds": 900,
	}, &minted)
	fmt.Println("mint:", status)

	// Beyond the ceiling: refused.
	status = call("POST", "/v1/tokens", client.Secret, map[string]any{
		"agent": "support-bot", "org": "acme", "ttl_seconds": 900,
		"rights": []map[string]string{{"service": "crm", "tool": "refund", "operation": "write", "resource": "account:acme/42"}},
	}, nil)
	fmt.Println("mint beyond the ceiling:", status)

	// 3. The session ends: revoke it.
	var revoked struct {
		Created int `json:"created"`
	}
	status = call("POST", "/v1/revocations", client.Secret, map[string]string{"session": minted.Session}, &revoked)
	fmt.Println("revoke session:", status, "new entries:", revoked.Created)

	// 4. Verifiers follow the feed (package verifier/follow does this).
	var feed struct {
		Entries []struct {
			Seq uint64 `json:"seq"`
		} `json:"entries"`
		Next uint64 `json:"next"`
	}
	call("GET", "/v1/revocations?after=0", "", nil, &feed)
	fmt.Println("feed:", len(feed.Entries), "entry, next", feed.Next)
	// Output:
	// register client: 201
	// mint: 201
	// mint beyond the ceiling: 403
	// revoke session: 200 new entries: 1
	// feed: 1 entry, next 1
}
