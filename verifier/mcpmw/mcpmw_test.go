package mcpmw_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/verifier/revocation"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/mcpmw"
)

type readFileIn struct {
	Repo string `json:"repo"`
	Path string `json:"path"`
}

type refundIn struct {
	Order  string `json:"order"`
	Amount int64  `json:"amount"`
}

// fixture is an MCP server on 127.0.0.1 with three tools: read_file
// (github/read on repo:<repo>), create_refund (payments/write on
// order:<order>) and undeclared, registered without a policy.
type fixture struct {
	key      token.SigningKey
	revoked  *revocation.Memory
	srv      *httptest.Server
	resource string
	metaURL  string
	ran      sync.Map // tool name → *atomic.Int32
}

func (f *fixture) runs(tool string) int32 {
	n, _ := f.ran.LoadOrStore(tool, new(atomic.Int32))
	return n.(*atomic.Int32).Load()
}

func (f *fixture) count(tool string) {
	n, _ := f.ran.LoadOrStore(tool, new(atomic.Int32))
	n.(*atomic.Int32).Add(1)
}

func newFixture(t *testing.T, withMiddleware bool) *fixture {
	t.Helper()
	return newFixtureAS(t, withMiddleware, "http://127.0.0.1:8700")
}

// newFixtureAS is newFixture with the authorization server its protected
// resource metadata names.
func newFixtureAS(t *testing.T, withMiddleware bool, as string) *fixture {
	t.Helper()
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{key: key, revoked: revocation.NewMemory()}
	v, err := verifier.New(verifier.Config{Keys: token.NewKeySet(key.Public()), Revocations: f.revoked})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.resource = f.srv.URL + "/mcp"
	if f.metaURL, err = mcpmw.MetadataURL(f.resource); err != nil {
		t.Fatal(err)
	}
	guard, err := mcpmw.New(v, mcpmw.Options{ResourceMetadata: f.metaURL})
	if err != nil {
		t.Fatal(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "repo-tools", Version: "v0.0.1"}, nil)

	err = mcpmw.AddTool(guard, server,
		&mcp.Tool{Name: "read_file", Description: "Read a file of a repository."},
		mcpmw.ToolPolicy{Service: "github", Operation: "read", Resource: mcpmw.ArgResource("repo:", "repo")},
		func(ctx context.Context, _ *mcp.CallToolRequest, in readFileIn) (*mcp.CallToolResult, any, error) {
			f.count("read_file")
			d, ok := verifier.DecisionFrom(ctx)
			if !ok {
				return nil, nil, errors.New("no decision in the handler's context")
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("%s/%s read for %s", in.Repo, in.Path, d.Agent)}}}, nil, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	err = mcpmw.AddTool(guard, server,
		&mcp.Tool{Name: "create_refund", Description: "Refund an order, amount in cents."},
		mcpmw.ToolPolicy{Service: "payments", Operation: "write", Resource: mcpmw.ArgResource("order:", "order")},
		func(ctx context.Context, _ *mcp.CallToolRequest, in refundIn) (*mcp.CallToolResult, any, error) {
			f.count("create_refund")
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("refunded %d on %s", in.Amount, in.Order)}}}, nil, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	// A tool registered without a policy: the guard must deny it.
	mcp.AddTool(server, &mcp.Tool{Name: "undeclared", Description: "No policy."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			f.count("undeclared")
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ran"}}}, nil, nil
		})

	var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{JSONResponse: true})
	if withMiddleware {
		h = guard.Middleware(h)
	}
	mux.Handle("/mcp", h)
	meta, err := mcpmw.ProtectedResourceMetadata(mcpmw.Metadata{
		Resource:             f.resource,
		AuthorizationServers: []string{as},
		ResourceName:         "repo tools",
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(mcpmw.WellKnownPath+"/mcp", meta)
	mux.Handle(mcpmw.WellKnownPath, meta)
	return f
}

func (f *fixture) mint(t *testing.T, rights ...token.Right) *token.Minted {
	t.Helper()
	m, err := token.Mint(f.key, token.MintRequest{
		Subject: token.Subject{Agent: "orchestrator", User: "alice@acme.test", Org: "acme"},
		Rights:  rights,
		TTL:     time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
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

func (f *fixture) connect(t *testing.T, tok string) (*mcp.ClientSession, error) {
	t.Helper()
	hc := &http.Client{Transport: bearer{tok: tok, base: f.srv.Client().Transport}}
	client := mcp.NewClient(&mcp.Implementation{Name: "sub-agent", Version: "v0.0.1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: f.resource, HTTPClient: hc, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err == nil {
		t.Cleanup(func() { _ = cs.Close() })
	}
	return cs, err
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) (*mcp.CallToolResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// denialOf decodes the structured content of a denied call's result.
func denialOf(t *testing.T, v any) mcpmw.Denial {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var d mcpmw.Denial
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
	return d
}

// checkToolDenial checks a denial answered as a tool result: isError, one
// sentence naming the tool, and the machine-readable denial (kind, failed
// block, decision ID) as structured content and in _meta.
func checkToolDenial(t *testing.T, res *mcp.CallToolResult, tool string, kind verifier.Kind, block int, wantText string) {
	t.Helper()
	if !res.IsError {
		t.Fatalf("result %q is not an error", text(res))
	}
	msg := text(res)
	if !strings.HasPrefix(msg, fmt.Sprintf("Tool %q was not run: ", tool)) || !strings.Contains(msg, wantText) || !strings.HasSuffix(msg, ".") || strings.Count(msg, "\n") != 0 {
		t.Errorf("text %q, want one sentence naming the tool and containing %q", msg, wantText)
	}
	for where, v := range map[string]any{"structuredContent": res.StructuredContent, "_meta": res.Meta[mcpmw.DenialMetaKey]} {
		d := denialOf(t, v)
		got := -1
		if d.FailedCheck != nil {
			got = d.FailedCheck.Block
		}
		if d.Error != string(kind) || d.Tool != tool || !strings.HasPrefix(d.DecisionID, "d_") || got != block || d.Description == "" {
			t.Errorf("%s %+v, want error %q, tool %q, failed block %d, a decision ID and a description", where, d, kind, tool, block)
		}
	}
}

func TestClientCalls(t *testing.T) {
	f := newFixture(t, true)
	session := f.mint(t,
		token.Right{Service: "github", Tool: "*", Operation: "read", Resource: "repo:acme/"},
		token.Right{Service: "payments", Tool: "create_refund", Operation: "write", Resource: "order:"},
	)
	b, err := attenuate.New(session.Token)
	if err != nil {
		t.Fatal(err)
	}
	small, err := b.Tools("create_refund").ArgMax("create_refund", "amount", 500).DelegatedTo("refunds").Build()
	if err != nil {
		t.Fatal(err)
	}

	cs, err := f.connect(t, session.Token)
	if err != nil {
		t.Fatalf("connect with a valid token: %v", err)
	}
	refunds, err := f.connect(t, small)
	if err != nil {
		t.Fatalf("connect with an attenuated token: %v", err)
	}

	tests := []struct {
		name     string
		cs       *mcp.ClientSession
		tool     string
		args     map[string]any
		wantText string        // allowed: the handler's output contains it
		wantDeny string        // denied: the error or the tool error's text contains it
		wantKind verifier.Kind // the denial's kind; insufficient_scope is a 403, the others tool errors
		wantFail int           // a tool error's failed block, -1 for none
	}{
		{name: "allowed read", cs: cs, tool: "read_file", args: map[string]any{"repo": "acme/api", "path": "README.md"}, wantText: "acme/api/README.md read for orchestrator"},
		{name: "other org denied", cs: cs, tool: "read_file", args: map[string]any{"repo": "globex/api", "path": "README.md"}, wantDeny: "no right covers", wantKind: verifier.KindInsufficientScope},
		{name: "missing resource argument", cs: cs, tool: "read_file", args: map[string]any{"path": "README.md"}, wantDeny: `argument "repo" must be a non-empty string`, wantKind: verifier.KindBadRequest, wantFail: -1},
		{name: "undeclared tool denied", cs: cs, tool: "undeclared", args: map[string]any{}, wantDeny: "no mandate policy", wantKind: verifier.KindDenied, wantFail: -1},
		{name: "refund within bound", cs: refunds, tool: "create_refund", args: map[string]any{"order": "o-1", "amount": 400}, wantText: "refunded 400 on o-1"},
		{name: "refund over bound", cs: refunds, tool: "create_refund", args: map[string]any{"order": "o-1", "amount": 900}, wantDeny: "$a <= 500) forbids this call", wantKind: verifier.KindCaveat, wantFail: 1},
		{name: "refund without amount", cs: refunds, tool: "create_refund", args: map[string]any{"order": "o-1"}, wantDeny: "a caveat of your token", wantKind: verifier.KindCaveat, wantFail: 1},
		{name: "attenuated read denied", cs: refunds, tool: "read_file", args: map[string]any{"repo": "acme/api", "path": "x"}, wantDeny: `["create_refund"].contains($t)) forbids this call`, wantKind: verifier.KindCaveat, wantFail: 1},
		{name: "attenuated read without a right: the caveat, not step-up", cs: refunds, tool: "read_file", args: map[string]any{"repo": "globex/api", "path": "x"}, wantDeny: "a caveat of your token", wantKind: verifier.KindCaveat, wantFail: 1},
		{name: "session still usable after denials", cs: refunds, tool: "create_refund", args: map[string]any{"order": "o-2", "amount": 500}, wantText: "refunded 500 on o-2"},
		{name: "first session still usable after denials", cs: cs, tool: "read_file", args: map[string]any{"repo": "acme/web", "path": "a"}, wantText: "acme/web/a read for orchestrator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.runs(tt.tool)
			res, err := callTool(t, tt.cs, tt.tool, tt.args)
			ran := f.runs(tt.tool) > before
			if tt.wantDeny == "" {
				if err != nil || res.IsError {
					t.Fatalf("CallTool: err %v, result %+v; want allowed", err, res)
				}
				if got := text(res); !strings.Contains(got, tt.wantText) {
					t.Errorf("result %q, want it to contain %q", got, tt.wantText)
				}
				if !ran {
					t.Error("the handler did not run")
				}
				return
			}
			if ran {
				t.Error("the handler ran for a denied call")
			}
			if tt.wantKind == verifier.KindInsufficientScope {
				// A 403: the SDK client formats the JSON-RPC error of
				// the body into its error (with %v, so it is text).
				if err == nil {
					t.Fatalf("CallTool returned a result %q; want the 403's error", text(res))
				}
				if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("tool %q denied", tt.tool)) || !strings.Contains(msg, tt.wantDeny) {
					t.Errorf("error %q, want it to name the tool and contain %q", msg, tt.wantDeny)
				}
				return
			}
			if err != nil {
				t.Fatalf("CallTool: %v; want an isError tool result", err)
			}
			checkToolDenial(t, res, tt.tool, tt.wantKind, tt.wantFail, tt.wantDeny)
		})
	}

	t.Run("revoked token gets 401", func(t *testing.T) {
		if err := f.revoked.Add(context.Background(), revocation.Entry{ID: session.RevocationIDs[0]}); err != nil {
			t.Fatal(err)
		}
		_, err := callTool(t, cs, "read_file", map[string]any{"repo": "acme/api", "path": "README.md"})
		if err == nil || !strings.Contains(err.Error(), "Unauthorized") {
			t.Fatalf("CallTool with a revoked token: %v; want Unauthorized", err)
		}
	})
}

func TestConnectWithoutToken(t *testing.T) {
	f := newFixture(t, true)
	client := mcp.NewClient(&mcp.Implementation{Name: "anonymous", Version: "v0.0.1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: f.resource, HTTPClient: f.srv.Client(), MaxRetries: -1}, nil)
	if err == nil {
		_ = cs.Close()
		t.Fatal("connected without a token")
	}
}

// post sends one raw JSON-RPC body.
func (f *fixture) post(t *testing.T, auth, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.resource, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`

func callBody(id int, name string, args string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, name, args)
}

// challenge parses the parameters of a Bearer challenge.
func challenge(t *testing.T, h string) map[string]string {
	t.Helper()
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		t.Fatalf("WWW-Authenticate %q is not a Bearer challenge", h)
	}
	out := map[string]string{}
	for _, p := range strings.Split(rest, `", `) {
		k, v, ok := strings.Cut(p, `="`)
		if !ok {
			t.Fatalf("bad challenge parameter %q in %q", p, h)
		}
		out[k] = strings.TrimSuffix(v, `"`)
	}
	return out
}

// rpcResp is a JSON-RPC error response as the middleware writes it.
type rpcResp struct {
	ID    json.RawMessage `json:"id"`
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
			DecisionID  string `json:"decision_id"`
			Scope       string `json:"scope"`
		} `json:"data"`
	} `json:"error"`
}

// checkRawToolDenial checks a raw HTTP body that answers a denied call with
// its isError tool result: want is "kind:id".
func checkRawToolDenial(t *testing.T, body []byte, want string) {
	t.Helper()
	type result struct {
		ID     json.RawMessage `json:"id"`
		Result *struct {
			IsError           bool            `json:"isError"`
			StructuredContent json.RawMessage `json:"structuredContent"`
			Content           []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"content"`
		} `json:"result"`
	}
	var msgs []result
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &msgs); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
	} else {
		msgs = make([]result, 1)
		if err := json.Unmarshal(trimmed, &msgs[0]); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
	}
	for _, m := range msgs {
		if m.Result == nil {
			continue
		}
		var d mcpmw.Denial
		if err := json.Unmarshal(m.Result.StructuredContent, &d); err != nil {
			t.Fatalf("structured content of %s: %v", body, err)
		}
		if got := d.Error + ":" + string(m.ID); got != want || !m.Result.IsError || len(m.Result.Content) != 1 || m.Result.Content[0].Type != "text" || !strings.HasPrefix(d.DecisionID, "d_") {
			t.Errorf("tool result %s, want an isError result of kind:id %s with one text and a decision ID", body, want)
		}
		return
	}
	t.Errorf("body %s has no tool result", body)
}

func TestHTTPChallenges(t *testing.T) {
	f := newFixture(t, true)
	good := f.mint(t, token.Right{Service: "github", Tool: "*", Operation: "read", Resource: "repo:acme/"})
	other, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := token.Mint(other, token.MintRequest{Subject: token.Subject{Agent: "x"}, Rights: []token.Right{{Service: "github", Tool: "*", Operation: "*"}}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	readOK := callBody(7, "read_file", `{"repo":"acme/api","path":"a"}`)
	readNo := callBody(8, "read_file", `{"repo":"globex/api","path":"a"}`)
	b, err := attenuate.New(good.Token)
	if err != nil {
		t.Fatal(err)
	}
	onlyAPI, err := b.ResourcePrefix("repo:acme/api").Build()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		auth       string
		body       string
		wantStatus int
		wantError  string // challenge error="…"; "-" for no challenge, "" for a bare one
		wantRPC    string // JSON-RPC error code and ids, e.g. "-32003:8"
		wantTool   string // a tool error result: "kind:id"
	}{
		{name: "initialize without token", body: initialize, wantStatus: 401},
		{name: "initialize with garbage token", auth: "Bearer garbage", body: initialize, wantStatus: 401, wantError: "invalid_token"},
		{name: "initialize with a foreign token", auth: "Bearer " + foreign.Token, body: initialize, wantStatus: 401, wantError: "invalid_token"},
		{name: "initialize with a valid token", auth: "Bearer " + good.Token, body: initialize, wantStatus: 200, wantError: "-"},
		{name: "call without token", body: readOK, wantStatus: 401},
		{name: "denied call", auth: "Bearer " + good.Token, body: readNo, wantStatus: 403, wantError: "insufficient_scope", wantRPC: "-32003:8"},
		{name: "undeclared tool", auth: "Bearer " + good.Token, body: callBody(9, "undeclared", `{}`), wantStatus: 200, wantError: "-", wantTool: "access_denied:9"},
		{name: "unknown tool", auth: "Bearer " + good.Token, body: callBody(9, "no_such_tool", `{}`), wantStatus: 200, wantError: "-", wantTool: "access_denied:9"},
		{name: "undeclared tool, invalid token", auth: "Bearer garbage", body: callBody(9, "undeclared", `{}`), wantStatus: 401, wantError: "invalid_token"},
		{name: "batch with one denied call", auth: "Bearer " + good.Token, body: "[" + readOK + "," + readNo + "]", wantStatus: 403, wantError: "insufficient_scope", wantRPC: "-32003:7,8"},
		{name: "duplicate name key", auth: "Bearer " + good.Token, body: `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_file","name":"undeclared","arguments":{}}}`, wantStatus: 400, wantError: "-", wantRPC: "-32602:null"},
		{name: "duplicate argument key", auth: "Bearer " + good.Token, body: callBody(3, "read_file", `{"repo":"acme/api","repo":"globex/api"}`), wantStatus: 400, wantError: "-", wantRPC: "-32602:null"},
		{name: "arguments not an object", auth: "Bearer " + good.Token, body: callBody(3, "read_file", `["acme/api"]`), wantStatus: 400, wantError: "-", wantRPC: "-32602:null"},
		{name: "not JSON", auth: "Bearer " + good.Token, body: `{"jsonrpc":`, wantStatus: 400, wantError: "-", wantRPC: "-32602:null"},
		{name: "object argument the verifier cannot use", auth: "Bearer " + good.Token, body: callBody(4, "read_file", `{"repo":"acme/api","path":{"a":1}}`), wantStatus: 200, wantError: "-", wantTool: "invalid_request:4"},
		{name: "caveat denies", auth: "Bearer " + onlyAPI, body: callBody(5, "read_file", `{"repo":"acme/web","path":"a"}`), wantStatus: 200, wantError: "-", wantTool: "caveat_denied:5"},
		{name: "caveat denies and no right covers", auth: "Bearer " + onlyAPI, body: readNo, wantStatus: 200, wantError: "-", wantTool: "caveat_denied:8"},
		{name: "batch with a caveat denial", auth: "Bearer " + onlyAPI, body: "[" + readOK + "," + callBody(5, "read_file", `{"repo":"acme/web","path":"a"}`) + "]", wantStatus: 200, wantError: "-", wantTool: "caveat_denied:5"},
		{name: "too deep", auth: "Bearer " + good.Token, body: callBody(4, "read_file", `{"repo":"acme/api","path":`+strings.Repeat("[", 70)+strings.Repeat("]", 70)+`}`), wantStatus: 400, wantError: "-", wantRPC: "-32602:null"},
		{name: "basic auth", auth: "Basic YTpi", body: initialize, wantStatus: 400, wantError: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.runs("read_file") + f.runs("undeclared")
			resp, body := f.post(t, tt.auth, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus != 200 && f.runs("read_file")+f.runs("undeclared") != before {
				t.Error("a tool ran although the request was refused")
			}
			h := resp.Header.Get("WWW-Authenticate")
			switch tt.wantError {
			case "-":
				if h != "" {
					t.Errorf("WWW-Authenticate %q, want none", h)
				}
			default:
				c := challenge(t, h)
				if tt.wantError == "insufficient_scope" && c["scope"] != "github:read_file:read:repo:globex/api" {
					t.Errorf("challenge scope %q, want the right that would cover the call", c["scope"])
				}
				if c["error"] != tt.wantError {
					t.Errorf("challenge error %q, want %q (%s)", c["error"], tt.wantError, h)
				}
				if c["resource_metadata"] != f.metaURL {
					t.Errorf("challenge resource_metadata %q, want %q", c["resource_metadata"], f.metaURL)
				}
			}
			if tt.wantTool != "" {
				checkRawToolDenial(t, body, tt.wantTool)
			}
			if tt.wantRPC == "" {
				return
			}
			var msgs []rpcResp
			trimmed := bytes.TrimSpace(body)
			if len(trimmed) > 0 && trimmed[0] == '[' {
				err = json.Unmarshal(trimmed, &msgs)
			} else {
				msgs = make([]rpcResp, 1)
				err = json.Unmarshal(trimmed, &msgs[0])
			}
			if err != nil {
				t.Fatalf("body %s is not a JSON-RPC error: %v", body, err)
			}
			var ids []string
			code := 0
			for _, m := range msgs {
				ids = append(ids, string(m.ID))
				code = m.Error.Code
				if m.Error.Message == "" || m.Error.Data.Description == "" {
					t.Errorf("error without a message or description: %s", body)
				}
				if tt.wantStatus == 403 && (m.Error.Data.Error != "insufficient_scope" || !strings.HasPrefix(m.Error.Data.DecisionID, "d_") || m.Error.Data.Scope != "github:read_file:read:repo:globex/api") {
					t.Errorf("403 error data %+v, want insufficient_scope, the scope and a decision ID", m.Error.Data)
				}
			}
			if got := fmt.Sprintf("%d:%s", code, strings.Join(ids, ",")); got != tt.wantRPC {
				t.Errorf("JSON-RPC errors %s, want %s; body %s", got, tt.wantRPC, body)
			}
		})
	}

	t.Run("GET without token", func(t *testing.T) {
		resp, err := f.srv.Client().Get(f.resource)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || challenge(t, resp.Header.Get("WWW-Authenticate"))["resource_metadata"] != f.metaURL {
			t.Errorf("GET without token: %d %q; want 401 with resource_metadata", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})

	t.Run("body too large", func(t *testing.T) {
		big := callBody(5, "read_file", `{"repo":"acme/api","path":"`+strings.Repeat("a", mcpmw.DefaultMaxBodyBytes)+`"}`)
		resp, _ := f.post(t, "Bearer "+good.Token, big)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", resp.StatusCode)
		}
	})
}

// TestInSDKCheck runs the server without the HTTP middleware: the wrapped
// handlers still decide every call from the SDK's own parse of it.
func TestInSDKCheck(t *testing.T) {
	f := newFixture(t, false)
	good := f.mint(t, token.Right{Service: "github", Tool: "*", Operation: "read", Resource: "repo:acme/"})
	cs, err := f.connect(t, good.Token)
	if err != nil {
		t.Fatal(err)
	}
	res, err := callTool(t, cs, "read_file", map[string]any{"repo": "acme/api", "path": "a"})
	if err != nil || res.IsError {
		t.Fatalf("allowed call: %v %+v", err, res)
	}
	before := f.runs("read_file")
	res, err = callTool(t, cs, "read_file", map[string]any{"repo": "globex/api", "path": "a"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || !strings.Contains(text(res), "grants no right that covers this call; ask for access to github:read_file:read:repo:globex/api") || f.runs("read_file") != before {
		t.Errorf("denied call: result %q (error %v), handler runs %d→%d; want a tool error and no run", text(res), res.IsError, before, f.runs("read_file"))
	}

	anon := mcp.NewClient(&mcp.Implementation{Name: "anonymous", Version: "v0.0.1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acs, err := anon.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: f.resource, HTTPClient: f.srv.Client(), DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer acs.Close()
	res, err = callTool(t, acs, "read_file", map[string]any{"repo": "acme/api", "path": "a"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || !strings.Contains(text(res), "no bearer token") {
		t.Errorf("call without token: %q; want a tool error naming the missing token", text(res))
	}
}

func TestMetadata(t *testing.T) {
	f := newFixture(t, true)
	for _, path := range []string{mcpmw.WellKnownPath + "/mcp", mcpmw.WellKnownPath} {
		resp, err := f.srv.Client().Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"resource":                 f.resource,
			"authorization_servers":    []any{"http://127.0.0.1:8700"},
			"bearer_methods_supported": []any{"header"},
			"resource_name":            "repo tools",
		}
		if resp.StatusCode != 200 || fmt.Sprint(m) != fmt.Sprint(want) {
			t.Errorf("GET %s: %d %v; want 200 %v", path, resp.StatusCode, m, want)
		}
	}
	if f.metaURL != f.srv.URL+"/.well-known/oauth-protected-resource/mcp" {
		t.Errorf("MetadataURL = %q", f.metaURL)
	}
	resp, err := f.srv.Client().Post(f.srv.URL+mcpmw.WellKnownPath, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST metadata: %d, want 405", resp.StatusCode)
	}
}

func TestMetadataURL(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "path", in: "https://tools.example/mcp", want: "https://tools.example/.well-known/oauth-protected-resource/mcp"},
		{name: "trailing slash", in: "https://tools.example/mcp/", want: "https://tools.example/.well-known/oauth-protected-resource/mcp"},
		{name: "root", in: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080/.well-known/oauth-protected-resource"},
		{name: "query", in: "https://tools.example/mcp?x=1", wantErr: true},
		{name: "relative", in: "/mcp", wantErr: true},
		{name: "scheme", in: "ftp://tools.example/mcp", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mcpmw.MetadataURL(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("MetadataURL(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestPolicyValidation(t *testing.T) {
	v, err := verifier.New(verifier.Config{Keys: token.NewKeySet(), InsecureNoRevocation: true})
	if err != nil {
		t.Fatal(err)
	}
	g, err := mcpmw.New(v, mcpmw.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "s", Version: "0"}, nil)
	h := func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return nil, nil, nil
	}
	tests := []struct {
		name string
		tool *mcp.Tool
		p    mcpmw.ToolPolicy
	}{
		{name: "nil tool", p: mcpmw.ToolPolicy{Service: "s", Operation: "o"}},
		{name: "no service", tool: &mcp.Tool{Name: "t"}, p: mcpmw.ToolPolicy{Operation: "o"}},
		{name: "no operation", tool: &mcp.Tool{Name: "t"}, p: mcpmw.ToolPolicy{Service: "s"}},
		{name: "invisible character in the tool name", tool: &mcp.Tool{Name: "read​file"}, p: mcpmw.ToolPolicy{Service: "s", Operation: "o"}},
		{name: "bidi override in the service", tool: &mcp.Tool{Name: "t"}, p: mcpmw.ToolPolicy{Service: "s‮", Operation: "o"}},
		{name: "line separator in the operation", tool: &mcp.Tool{Name: "t"}, p: mcpmw.ToolPolicy{Service: "s", Operation: "o "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := mcpmw.AddTool(g, s, tt.tool, tt.p, h); err == nil {
				t.Error("AddTool accepted an invalid policy")
			}
		})
	}
	if _, err := mcpmw.New(nil, mcpmw.Options{}); err == nil {
		t.Error("New accepted a nil verifier")
	}
}

// TestCaseVariantKeys: the SDK decodes arguments (and the JSON-RPC
// envelope) with encoding/json, which matches field names
// case-insensitively, so {"amount":300,"Amount":900} runs the handler with
// 900. Keys that differ only in case are refused like repeated keys, on the
// HTTP path and in the SDK path, and the handler never runs.
func TestCaseVariantKeys(t *testing.T) {
	refund := token.Right{Service: "payments", Tool: "create_refund", Operation: "write", Resource: "order:"}
	t.Run("middleware", func(t *testing.T) {
		f := newFixture(t, true)
		tok := f.mint(t, refund, token.Right{Service: "github", Tool: "*", Operation: "read", Resource: "repo:acme/"}).Token
		// Only amounts up to 500 are allowed.
		b, err := attenuate.New(tok)
		if err != nil {
			t.Fatal(err)
		}
		capped, err := b.ArgMax("create_refund", "amount", 500).Build()
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct{ name, body string }{
			{"argument", callBody(1, "create_refund", `{"order":"o1","amount":300,"Amount":900}`)},
			{"argument, other order", callBody(1, "create_refund", `{"order":"o1","AMOUNT":900,"amount":300}`)},
			{"argument, Unicode folding", callBody(1, "create_refund", `{"order":"o1","amount":300,"task":1,"ta\u017fk":2}`)},
			{"nested", callBody(1, "create_refund", `{"order":"o1","amount":300,"meta":{"note":"a","Note":"b"}}`)},
			{"params", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_refund","arguments":{"order":"o1","amount":300},"Arguments":{"order":"o1","amount":900}}}`},
			{"envelope", `{"jsonrpc":"2.0","id":1,"method":"initialize","Method":"tools/call","params":{"name":"undeclared","arguments":{}}}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := f.runs("create_refund") + f.runs("undeclared")
				resp, body := f.post(t, "Bearer "+capped, tt.body)
				if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("differ only in case")) {
					t.Errorf("status %d, body %s; want 400 naming keys that differ only in case", resp.StatusCode, body)
				}
				if f.runs("create_refund")+f.runs("undeclared") != before {
					t.Error("a tool ran")
				}
			})
		}
		// A method name in another case is authorized, never skipped: a
		// decoder downstream may read it as the method (this SDK version
		// does not, and answers 202).
		before := f.runs("undeclared")
		resp, body := f.post(t, "Bearer "+capped, `{"jsonrpc":"2.0","id":1,"Method":"tools/call","params":{"name":"undeclared","arguments":{}}}`)
		if resp.StatusCode != http.StatusOK || f.runs("undeclared") != before {
			t.Errorf("\"Method\": status %d, runs %d→%d, body %s; want a tool error and no run", resp.StatusCode, before, f.runs("undeclared"), body)
		}
		checkRawToolDenial(t, body, "access_denied:1")
	})
	t.Run("in SDK", func(t *testing.T) {
		// A raw tool (no input schema beyond "object"): the SDK passes the
		// arguments through unvalidated, and the handler decodes them with
		// encoding/json.
		key, err := token.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		v, err := verifier.New(verifier.Config{Keys: token.NewKeySet(key.Public()), Revocations: revocation.NewMemory()})
		if err != nil {
			t.Fatal(err)
		}
		guard, err := mcpmw.New(v, mcpmw.Options{})
		if err != nil {
			t.Fatal(err)
		}
		server := mcp.NewServer(&mcp.Implementation{Name: "pay", Version: "v0"}, nil)
		var ran []int64
		err = guard.AddTool(server, &mcp.Tool{Name: "create_refund", InputSchema: json.RawMessage(`{"type":"object"}`)},
			mcpmw.ToolPolicy{Service: "payments", Operation: "write", Resource: mcpmw.ArgResource("order:", "order")},
			func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				var in refundIn
				if err := json.Unmarshal(req.Params.Arguments, &in); err != nil {
					return nil, err
				}
				ran = append(ran, in.Amount)
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
			})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{JSONResponse: true}))
		defer srv.Close()
		m, err := token.Mint(key, token.MintRequest{Subject: token.Subject{Agent: "a"}, Rights: []token.Right{refund}, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		b, err := attenuate.New(m.Token)
		if err != nil {
			t.Fatal(err)
		}
		capped, err := b.ArgMax("create_refund", "amount", 500).Build()
		if err != nil {
			t.Fatal(err)
		}
		hc := &http.Client{Transport: bearer{tok: capped, base: srv.Client().Transport}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v0"}, nil).Connect(ctx,
			&mcp.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: hc, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		res, err := callTool(t, cs, "create_refund", map[string]any{"order": "o1", "amount": 300, "Amount": 900})
		if err != nil {
			t.Fatal(err)
		}
		if !res.IsError || !strings.Contains(text(res), "differ only in case") || len(ran) != 0 {
			t.Errorf("result %q (error %v), handler ran with %v; want a tool error naming the keys and no run", text(res), res.IsError, ran)
		}
		res, err = callTool(t, cs, "create_refund", map[string]any{"order": "o1", "amount": 300})
		if err != nil || res.IsError || len(ran) != 1 || ran[0] != 300 {
			t.Fatalf("allowed call: %v %q, ran %v", err, text(res), ran)
		}
	})
}

// TestCredentialNotEchoed: a token sent without "Bearer " is not repeated in
// the challenge or the body.
func TestCredentialNotEchoed(t *testing.T) {
	f := newFixture(t, true)
	tok := f.mint(t, token.Right{Service: "github", Tool: "*", Operation: "read", Resource: "repo:acme/"}).Token
	for _, auth := range []string{tok, tok + " x", "Bearer" + tok} {
		resp, body := f.post(t, auth, initialize)
		all := resp.Header.Get("WWW-Authenticate") + string(body)
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(all, tok[:16]) {
			t.Errorf("status %d, response %s; want 400 without the credential", resp.StatusCode, all)
		}
	}
}

// countingBody is a request body that records whether anyone read it.
type countingBody struct {
	r     io.Reader
	reads atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	b.reads.Add(1)
	return b.r.Read(p)
}

func (b *countingBody) Close() error { return nil }

// TestTokenBeforeBody: the middleware checks the bearer token (presence,
// form, signature, revocation) before it reads a byte of the body, so an
// unauthenticated caller cannot make it parse megabytes; and a body over
// the limit is refused with a JSON 413.
func TestTokenBeforeBody(t *testing.T) {
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	revoked := revocation.NewMemory()
	v, err := verifier.New(verifier.Config{Keys: token.NewKeySet(key.Public()), Revocations: revoked})
	if err != nil {
		t.Fatal(err)
	}
	guard, err := mcpmw.New(v, mcpmw.Options{MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	nextRan := false
	h := guard.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { nextRan = true }))
	mint := func(k token.SigningKey) *token.Minted {
		m, err := token.Mint(k, token.MintRequest{Subject: token.Subject{Agent: "a"}, Rights: []token.Right{{Service: "github", Tool: "*", Operation: "*"}}, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	other, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	good, gone := mint(key), mint(key)
	if err := revoked.Add(context.Background(), revocation.Entry{ID: gone.RevocationIDs[0]}); err != nil {
		t.Fatal(err)
	}
	// A few MB of JSON that is expensive to scan.
	heavy := callBody(1, "read_file", `{"repo":"acme/api","path":[`+strings.TrimSuffix(strings.Repeat(`{"a":1},`, 400_000), ",")+`]}`)
	tests := []struct {
		name       string
		auth       string
		body       string
		length     int64 // Content-Length; -1 for chunked
		wantStatus int
		wantRead   bool
	}{
		{name: "no token", body: heavy, length: -1, wantStatus: 401},
		{name: "not bearer", auth: "Basic YTpi", body: heavy, length: -1, wantStatus: 400},
		{name: "garbage token", auth: "Bearer garbage", body: heavy, length: -1, wantStatus: 401},
		{name: "foreign signature", auth: "Bearer " + mint(other).Token, body: heavy, length: -1, wantStatus: 401},
		{name: "revoked token", auth: "Bearer " + gone.Token, body: heavy, length: -1, wantStatus: 401},
		{name: "declared length over the limit", auth: "Bearer " + good.Token, body: heavy, length: int64(len(heavy)), wantStatus: 413},
		{name: "chunked body over the limit", auth: "Bearer " + good.Token, body: heavy, length: -1, wantStatus: 413, wantRead: true},
		{name: "initialize", auth: "Bearer " + good.Token, body: initialize, length: int64(len(initialize)), wantStatus: 200, wantRead: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nextRan = false
			body := &countingBody{r: strings.NewReader(tt.body)}
			req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
			req.Body, req.ContentLength = body, tt.length
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if read := body.reads.Load() > 0; read != tt.wantRead {
				t.Errorf("body read: %v, want %v", read, tt.wantRead)
			}
			if tt.wantStatus != 200 {
				if nextRan {
					t.Error("the MCP handler ran")
				}
				var e struct {
					Error string `json:"error"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Errorf("body %s is not a JSON error", w.Body)
				}
			}
		})
	}
}

// TestStaleReplica: while the revocation replica is stale, no new grant or
// token helps: tool calls are tool errors (temporarily_unavailable) and
// requests that call no tool are 503 with Retry-After, never a 401 that
// would send an OAuth client to re-authorize.
func TestStaleReplica(t *testing.T) {
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	var stale atomic.Bool
	v, err := verifier.New(verifier.Config{Keys: token.NewKeySet(key.Public()), Revocations: revocation.NewMemory(),
		Fresh: func() error {
			if stale.Load() {
				return errors.New("no revocation feed for 2m")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	guard, err := mcpmw.New(v, mcpmw.Options{})
	if err != nil {
		t.Fatal(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "s", Version: "v0"}, nil)
	ran := 0
	err = mcpmw.AddTool(guard, server, &mcp.Tool{Name: "read_file"},
		mcpmw.ToolPolicy{Service: "github", Operation: "read", Resource: mcpmw.ArgResource("repo:", "repo")},
		func(context.Context, *mcp.CallToolRequest, readFileIn) (*mcp.CallToolResult, any, error) {
			ran++
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	h := guard.Middleware(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{JSONResponse: true, Stateless: true}))
	m, err := token.Mint(key, token.MintRequest{Subject: token.Subject{Agent: "a"}, Rights: []token.Right{{Service: "github", Tool: "*", Operation: "read"}}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+m.Token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	stale.Store(true)
	if w := post(initialize); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || w.Header().Get("WWW-Authenticate") != "" || !strings.Contains(w.Body.String(), "temporarily_unavailable") {
		t.Errorf("initialize while stale: %d %v %s; want 503 with Retry-After and no challenge", w.Code, w.Header(), w.Body)
	}
	w := post(callBody(2, "read_file", `{"repo":"acme/api","path":"a"}`))
	if w.Code != http.StatusOK || ran != 0 {
		t.Fatalf("call while stale: %d, ran %d; want a tool error and no run", w.Code, ran)
	}
	checkRawToolDenial(t, w.Body.Bytes(), "temporarily_unavailable:2")
	stale.Store(false)
	if w := post(callBody(3, "read_file", `{"repo":"acme/api","path":"a"}`)); w.Code != http.StatusOK || ran != 1 {
		t.Errorf("call once fresh: %d %s, ran %d; want it to run", w.Code, w.Body, ran)
	}
}
