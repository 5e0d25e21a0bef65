package main

import (
	"context"
	"encoding/json"
	"github.com/mandate-dev/mandate/examples/internal/outtest"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func connect(t *testing.T, app *App, tok string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "v0"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:             app.MCPURL,
		HTTPClient:           &http.Client{Transport: bearer{tok: tok, base: http.DefaultTransport}},
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func TestMCPServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := start(ctx, config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if !strings.HasPrefix(app.MCPURL, "http://127.0.0.1:") {
		t.Fatalf("MCP URL %q is not on 127.0.0.1", app.MCPURL)
	}
	reviewer := connect(t, app, app.Demo.Reviewer)
	triage := connect(t, app, app.Demo.Triage)

	lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
	defer lcancel()
	list, err := reviewer.ListTools(lctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
	}
	if got := strings.Join(names, ","); got != "create_issue,read_file,search_code" {
		t.Errorf("tools/list = %s", got)
	}

	tests := []struct {
		name     string
		cs       *mcp.ClientSession
		tool     string
		args     map[string]any
		want     string // allowed: in the result
		wantDeny string // denied with a 403 (a right is missing): in the error
		wantTool string // denied by a caveat or unmappable: in the isError result's text
	}{
		{name: "read allowed", cs: reviewer, tool: "read_file", args: map[string]any{"repo": "acme/api", "path": "go.mod"}, want: "contents of acme/api/go.mod (for code-reviewer"},
		{name: "search another acme repo", cs: reviewer, tool: "search_code", args: map[string]any{"repo": "acme/web", "query": "TODO"}, want: `3 matches for "TODO" in acme/web`},
		{name: "read outside acme", cs: reviewer, tool: "read_file", args: map[string]any{"repo": "globex/api", "path": "go.mod"}, wantDeny: "no right covers"},
		{name: "write where only read is granted", cs: reviewer, tool: "create_issue", args: map[string]any{"repo": "acme/web", "title": "x"}, wantDeny: "no right covers"},
		{name: "write where granted", cs: reviewer, tool: "create_issue", args: map[string]any{"repo": "acme/api", "title": "Flaky test", "labels": []string{"ci"}}, want: `opened "Flaky test" in acme/api with labels [ci]`},
		{name: "unknown tool", cs: reviewer, tool: "delete_repo", args: map[string]any{"repo": "acme/api"}, wantTool: "no mandate policy"},
		{name: "triage: allowed labels", cs: triage, tool: "create_issue", args: map[string]any{"repo": "acme/api", "title": "Crash", "labels": []string{"bug", "triage"}}, want: "for code-reviewer"},
		{name: "triage: one label outside the set", cs: triage, tool: "create_issue", args: map[string]any{"repo": "acme/api", "title": "Crash", "labels": []string{"bug", "wontfix"}}, wantTool: `a caveat of your token (block 1, check 2: check if tool($t), !($t == "create_issue") or tool("create_issue"), arg("labels", $v), ["bug", "triage"].contains($v)) forbids this call`},
		{name: "triage: cannot read", cs: triage, tool: "read_file", args: map[string]any{"repo": "acme/api", "path": "go.mod"}, wantTool: "a caveat of your token (block 1, check 0"},
		{name: "triage: session survives denials", cs: triage, tool: "create_issue", args: map[string]any{"repo": "acme/api", "title": "Again", "labels": []string{"bug"}}, want: `opened "Again"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
			defer ccancel()
			res, err := tt.cs.CallTool(cctx, &mcp.CallToolParams{Name: tt.tool, Arguments: tt.args})
			if tt.wantDeny != "" {
				if err == nil {
					t.Fatalf("allowed (%+v); want denied with %q", res, tt.wantDeny)
				}
				if !strings.Contains(err.Error(), tt.wantDeny) {
					t.Errorf("error %q, want it to contain %q", err, tt.wantDeny)
				}
				return
			}
			if err != nil {
				t.Fatalf("CallTool: %v", err)
			}
			var got string
			for _, c := range res.Content {
				if tc, ok := c.(*mcp.TextContent); ok {
					got += tc.Text
				}
			}
			if tt.wantTool != "" {
				if !res.IsError || !strings.Contains(got, tt.wantTool) {
					t.Errorf("result %q (isError %v), want a tool error containing %q", got, res.IsError, tt.wantTool)
				}
				return
			}
			if res.IsError {
				t.Fatalf("CallTool: %q; want allowed", got)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("result %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestChallengesAndMetadata(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := start(ctx, config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()

	post := func(tok, body string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, app.MCPURL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file","arguments":{"repo":"globex/api","path":"x"}}}`

	resp := post("", initialize)
	if h := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || strings.Contains(h, "error=") || !strings.Contains(h, `resource_metadata="`+app.MetadataURL+`"`) {
		t.Errorf("no token: %d %q; want 401, a bare challenge with resource_metadata", resp.StatusCode, h)
	}
	resp = post(app.Demo.Reviewer, call)
	if h := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 403 || !strings.Contains(h, `error="insufficient_scope"`) || !strings.Contains(h, `scope="github:read_file:read:repo:globex/api"`) || !strings.Contains(h, `resource_metadata="`+app.MetadataURL+`"`) {
		t.Errorf("denied call: %d %q; want 403 insufficient_scope with the scope and resource_metadata", resp.StatusCode, h)
	}

	// A client without a token cannot even connect.
	client := mcp.NewClient(&mcp.Implementation{Name: "anonymous", Version: "v0"}, nil)
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	if cs, err := client.Connect(cctx, &mcp.StreamableClientTransport{Endpoint: app.MCPURL, MaxRetries: -1}, nil); err == nil {
		cs.Close()
		t.Error("connected without a token")
	}

	for _, u := range []string{app.MetadataURL, strings.TrimSuffix(app.MCPURL, "/mcp") + "/.well-known/oauth-protected-resource"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Resource             string   `json:"resource"`
			AuthorizationServers []string `json:"authorization_servers"`
			BearerMethods        []string `json:"bearer_methods_supported"`
		}
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || m.Resource != app.MCPURL ||
			len(m.AuthorizationServers) != 1 || m.AuthorizationServers[0] != defaultAuthority ||
			len(m.BearerMethods) != 1 || m.BearerMethods[0] != "header" {
			t.Errorf("GET %s: %d %+v %v", u, resp.StatusCode, m, err)
		}
	}
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out outtest.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--addr", "127.0.0.1:0"}, &out) }()
	if !out.WaitFor(t, "Stop with Ctrl-C.") {
		cancel()
		t.Fatalf("run printed %q; want the demo instructions", out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{"MCP tool server on http://127.0.0.1:", "/.well-known/oauth-protected-resource/mcp", "REVIEWER=", "TRIAGE=",
		"A caveat denial, as the model sees it", "isError: true", `text: Tool "create_issue" was not run: a caveat of your token (block 1, check 2:`,
		`"error": "caveat_denied"`, `"decision_id": "d_`, `"block": 1`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
