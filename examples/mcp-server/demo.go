package main

import (
	"fmt"
	"io"
	"time"

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

func (d *Demo) print(out io.Writer, mcpURL string) {
	fmt.Fprintf(out, `
Demo mode: an in-process root key signed two tokens.
  REVIEWER=%s
  TRIAGE=%s   (attenuated: create_issue on acme/api, labels among bug and triage)

Point an MCP client at %[3]s with "Authorization: Bearer $REVIEWER", or try with curl:
  curl -i %[3]s -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"0"}}}'
  # 401 with WWW-Authenticate: Bearer ... resource_metadata="..." (no token)
Stop with Ctrl-C.
`, d.Reviewer, d.Triage, mcpURL)
}
