package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
)

// Demo is the self-contained mode: an in-process root key and tokens
// minted with it, as the authority would.
type Demo struct {
	key token.SigningKey
	// Reviewer reads every acme repository and writes to acme/api.
	Reviewer string
	// Triage is Reviewer attenuated offline: only create_issue, only on
	// acme/api, only with the labels "bug" and "triage".
	Triage string
}

func newDemo() (*Demo, error) {
	key, err := token.GenerateKey()
	if err != nil {
		return nil, err
	}
	m, err := token.Mint(key, token.MintRequest{
		Subject: token.Subject{Agent: "code-reviewer", User: "alice@acme.test", Org: "acme"},
		Rights: []token.Right{
			{Service: "github", Tool: "*", Operation: "read", Resource: "repo:acme/"},
			{Service: "github", Tool: "create_issue", Operation: "write", Resource: "repo:acme/api"},
		},
		TTL: time.Hour,
	})
	if err != nil {
		return nil, err
	}
	b, err := attenuate.New(m.Token)
	if err != nil {
		return nil, err
	}
	triage, err := b.Tools("create_issue").Resource("repo:acme/api").
		ArgOneOf("create_issue", "labels", "bug", "triage").
		TTL(10 * time.Minute).DelegatedTo("triage-bot").Build()
	if err != nil {
		return nil, err
	}
	return &Demo{key: key, Reviewer: m.Token, Triage: triage}, nil
}

// print writes the demo tokens, how to try them, and what a model sees
// when a caveat of its token denies a call (shown by calling the server).
func (d *Demo) print(ctx context.Context, out io.Writer, mcpURL string) {
	d.printTokens(out, mcpURL)
	seen, err := ModelView(ctx, mcpURL, d.Triage, "create_issue", map[string]any{"repo": "acme/api", "title": "Crash", "labels": []string{"bug", "wontfix"}})
	if err != nil {
		fmt.Fprintf(out, "(could not show a caveat denial: %v)\n", err)
	} else {
		fmt.Fprintf(out, `
A caveat denial, as the model sees it. TRIAGE calls create_issue with labels ["bug", "wontfix"]:
%s
It is a tool result (HTTP 200, isError: true), not an HTTP 403: no MCP client starts an
authorization flow for it, since no broader grant lifts a caveat, and the session goes on.
`, seen)
	}
	fmt.Fprintln(out, "Stop with Ctrl-C.")
}

// ModelView calls tool with the official Go SDK client and tok, and
// returns the result as an MCP client hands it to the model: isError, the
// text content and the structured content.
func ModelView(ctx context.Context, mcpURL, tok, tool string, args map[string]any) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "demo-agent", Version: "v0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:             mcpURL,
		HTTPClient:           &http.Client{Transport: bearer{tok: tok, base: http.DefaultTransport}},
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}, nil)
	if err != nil {
		return "", err
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  isError: %v\n", res.IsError)
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			fmt.Fprintf(&b, "  text: %s\n", tc.Text)
		}
	}
	if res.StructuredContent != nil {
		j, err := json.MarshalIndent(res.StructuredContent, "  ", "  ")
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "  structuredContent: %s\n", j)
	}
	return b.String(), nil
}

// bearer adds a fixed Authorization header to every request.
type bearer struct {
	tok  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return b.base.RoundTrip(r)
}

func (d *Demo) printTokens(out io.Writer, mcpURL string) {
	fmt.Fprintf(out, `
Demo mode: an in-process root key signed two tokens.
  REVIEWER=%s
  TRIAGE=%s   (attenuated: create_issue on acme/api, labels among bug and triage)

Point an MCP client at %[3]s with "Authorization: Bearer $REVIEWER", or try with curl:
  curl -i %[3]s -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"0"}}}'
  # 401 with WWW-Authenticate: Bearer ... resource_metadata="..." (no token)
A call no right of the token covers (REVIEWER writing to acme/web) is a 403 with
  WWW-Authenticate: Bearer error="insufficient_scope", scope="github:create_issue:write:repo:acme/web", ...
which OAuth-enabled MCP clients answer by asking the person for that scope (step-up).
`, d.Reviewer, d.Triage, mcpURL)
}
