package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/approval"
	"github.com/mandate-dev/mandate/verifier/mcpmw"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// mcpSDKVersion is the @modelcontextprotocol/sdk version package.json pins.
const mcpSDKVersion = "1.32.2"

// requireTSClient returns node once the pinned TypeScript MCP SDK is
// installed; like requireRust it fails (or skips with MANDATE_SKIP_INTEROP=1,
// never in CI) otherwise.
func requireTSClient(t *testing.T) string {
	t.Helper()
	requireRust(t) // the same node, the same npm ci, the same skip rule
	node, err := findNode()
	if err != nil {
		t.Fatalf("interop: %v; %s", err, installHint)
	}
	data, err := os.ReadFile(filepath.Join("node_modules", "@modelcontextprotocol", "sdk", "package.json"))
	if err != nil {
		t.Fatalf("interop: @modelcontextprotocol/sdk is not installed in interop/node_modules; %s", installHint)
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(data, &pkg); err != nil || pkg.Version != mcpSDKVersion {
		t.Fatalf("interop: interop/node_modules holds @modelcontextprotocol/sdk %q, want %s; %s", pkg.Version, mcpSDKVersion, installHint)
	}
	return node
}

type refundOut struct {
	Order    string `json:"order"`
	Refunded int64  `json:"refunded"`
}

// mcpServer is a guarded MCP server on 127.0.0.1 (read_file: github/read
// on repo:<repo>; create_refund: payments/write on order:<order>, with an
// output schema; undeclared: no policy) and a test double of the
// authorization server its metadata names: it consents to any scope and
// mints a token with the rights the scopes name (token.ParseScope).
type mcpServer struct {
	key      token.SigningKey
	revoked  *revocation.Memory
	resource string
	// authority is the (unserved) authority URL approval denials name.
	authority string
	as        *httptest.Server
	mu        sync.Mutex
	asHits    int
	codes     map[string]string // code → scope
}

func newMCPServer(t *testing.T) *mcpServer {
	t.Helper()
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s := &mcpServer{key: key, revoked: revocation.NewMemory(), codes: map[string]string{}}
	approvals, err := approval.New(approval.Config{Redeemer: approval.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Keys: token.NewKeySet(key.Public()), Revocations: s.revoked, Approvals: approvals})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.resource = srv.URL + "/mcp"
	meta, err := mcpmw.MetadataURL(s.resource)
	if err != nil {
		t.Fatal(err)
	}
	s.authority = srv.URL + "/authority"
	guard, err := mcpmw.New(v, mcpmw.Options{ResourceMetadata: meta, ApprovalURL: s.authority})
	if err != nil {
		t.Fatal(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "interop-tools", Version: "v0.0.1"}, nil)
	type readIn struct {
		Repo string `json:"repo"`
		Path string `json:"path"`
	}
	err = mcpmw.AddTool(guard, server, &mcp.Tool{Name: "read_file", Description: "Read a file of a repository."},
		mcpmw.ToolPolicy{Service: "github", Operation: "read", Resource: mcpmw.ArgResource("repo:", "repo")},
		func(ctx context.Context, _ *mcp.CallToolRequest, in readIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Repo + "/" + in.Path + " read"}}}, nil, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	type refundIn struct {
		Order  string `json:"order"`
		Amount int64  `json:"amount"`
	}
	err = mcpmw.AddTool(guard, server, &mcp.Tool{Name: "create_refund", Description: "Refund an order, amount in cents."},
		mcpmw.ToolPolicy{Service: "payments", Operation: "write", Resource: mcpmw.ArgResource("order:", "order")},
		func(ctx context.Context, _ *mcp.CallToolRequest, in refundIn) (*mcp.CallToolResult, refundOut, error) {
			return nil, refundOut{Order: in.Order, Refunded: in.Amount}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	mcp.AddTool(server, &mcp.Tool{Name: "undeclared", Description: "No policy."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			t.Error("the undeclared tool ran")
			return nil, nil, nil
		})
	mux.Handle("/mcp", guard.Middleware(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))

	asMux := http.NewServeMux()
	s.as = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.asHits++
		s.mu.Unlock()
		asMux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.as.Close)
	md, err := mcpmw.ProtectedResourceMetadata(mcpmw.Metadata{Resource: s.resource, AuthorizationServers: []string{s.as.URL}})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(mcpmw.WellKnownPath+"/mcp", md)
	mux.Handle(mcpmw.WellKnownPath, md)
	asMux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": s.as.URL, "authorization_endpoint": s.as.URL + "/authorize", "token_endpoint": s.as.URL + "/token",
			"response_types_supported": []string{"code"}, "grant_types_supported": []string{"authorization_code"},
			"code_challenge_methods_supported": []string{"S256"}, "token_endpoint_auth_methods_supported": []string{"none"},
		})
	})
	asMux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := fmt.Sprintf("code-%d", time.Now().UnixNano())
		s.mu.Lock()
		s.codes[code] = q.Get("scope")
		s.mu.Unlock()
		back, err := url.Parse(q.Get("redirect_uri"))
		if err != nil || q.Get("code_challenge") == "" {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	asMux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.mu.Lock()
		scope, ok := s.codes[r.PostForm.Get("code")]
		s.mu.Unlock()
		if !ok || r.PostForm.Get("code_verifier") == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		var rights []token.Right
		for _, sc := range strings.Fields(scope) {
			if rt, err := token.ParseScope(sc); err == nil {
				rights = append(rights, rt)
			}
		}
		m := s.mint(t, time.Now(), rights...)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": m.Token, "token_type": "Bearer", "expires_in": 3600, "scope": scope})
	})
	return s
}

func (s *mcpServer) mint(t *testing.T, now time.Time, rights ...token.Right) *token.Minted {
	t.Helper()
	m, err := token.Mint(s.key, token.MintRequest{Subject: token.Subject{Agent: "ts-agent", Org: "acme"}, Rights: rights, TTL: time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type tsStep struct {
	Name string         `json:"name"`
	Tool string         `json:"tool"`
	Args map[string]any `json:"args,omitempty"`
	Meta map[string]any `json:"meta,omitempty"`
}

type tsSession struct {
	Name  string   `json:"name"`
	Token string   `json:"token"`
	OAuth bool     `json:"oauth"`
	Steps []tsStep `json:"steps"`
}

type tsError struct {
	Name         string          `json:"name"`
	Code         *int            `json:"code"`
	Message      string          `json:"message"`
	Unauthorized bool            `json:"unauthorized"`
	Data         json.RawMessage `json:"data"`
}

type tsOutcome struct {
	Name              string          `json:"name"`
	Error             *tsError        `json:"error"`
	IsError           bool            `json:"isError"`
	Text              string          `json:"text"`
	StructuredContent *mcpmw.Denial   `json:"structuredContent"`
	Meta              map[string]any  `json:"meta"`
	StepUpScope       string          `json:"stepUpScope"`
	Auth              *map[string]int `json:"auth"`
}

type tsReport struct {
	Sessions []struct {
		Name         string      `json:"name"`
		ConnectError *tsError    `json:"connectError"`
		Steps        []tsOutcome `json:"steps"`
	} `json:"sessions"`
}

func runTSClient(t *testing.T, node, endpoint string, sessions []tsSession) tsReport {
	t.Helper()
	plan, err := json.Marshal(map[string]any{"url": endpoint, "sessions": sessions})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*nodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "mcpclient.mjs")
	cmd.Stdin = bytes.NewReader(plan)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node mcpclient.mjs: %v\nstderr: %s", err, stderr.String())
	}
	var rep tsReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report %s: %v\nstderr: %s", stdout.String(), err, stderr.String())
	}
	return rep
}

// TestTypeScriptClient runs the official TypeScript MCP SDK client (a
// second, independent implementation) against a guarded Go server: token
// problems fail the connection with 401; a call no right covers is a 403
// (a thrown StreamableHTTPError without an OAuth provider, step-up for
// exactly the covering scope with one); a caveat, unusable arguments or an
// undeclared tool are isError tool results with the machine-readable
// denial, which start no authorization; and every session keeps working
// after each denial. A call that needs a person's approval is MCP's URL
// elicitation error (-32042) with the approval page, which starts no
// authorization either; the retry with the approval in _meta runs once.
func TestTypeScriptClient(t *testing.T) {
	node := requireTSClient(t)
	s := newMCPServer(t)
	now := time.Now()
	github := token.Right{Service: "github", Tool: "*", Operation: "read", Resource: "repo:acme/"}
	payments := token.Right{Service: "payments", Tool: "create_refund", Operation: "write", Resource: "order:"}
	full := s.mint(t, now, github, payments)
	b, err := attenuate.New(full.Token)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := b.Tools("create_refund").ArgMax("create_refund", "amount", 500).DelegatedTo("refunds").Build()
	if err != nil {
		t.Fatal(err)
	}
	if b, err = attenuate.New(full.Token); err != nil {
		t.Fatal(err)
	}
	gated, err := b.RequireApproval("create_refund", attenuate.Above("amount", 100)).DelegatedTo("gated").Build()
	if err != nil {
		t.Fatal(err)
	}
	approvalOf := func(amount int) string {
		t.Helper()
		digest, err := token.CallDigest(token.Call{Service: "payments", Tool: "create_refund", Operation: "write", Resource: "order:o-1",
			Args: map[string]any{"order": "o-1", "amount": amount}})
		if err != nil {
			t.Fatal(err)
		}
		u, err := token.ParseString(gated)
		if err != nil {
			t.Fatal(err)
		}
		ids := u.RevocationIDs()
		a, err := token.SignApproval(s.key, token.Approval{ID: fmt.Sprintf("ap_ts_%d", amount), CallDigest: digest, Session: full.Subject.Session,
			Lineage: ids[len(ids)-1], Approver: "alice@acme.test", ApproverOrg: "acme", IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	gone := s.mint(t, now, github)
	if err := s.revoked.Add(context.Background(), revocation.Entry{ID: gone.RevocationIDs[0]}); err != nil {
		t.Fatal(err)
	}
	expired := s.mint(t, now.Add(-2*time.Hour), github)

	read := func(name, repo string) tsStep {
		return tsStep{Name: name, Tool: "read_file", Args: map[string]any{"repo": repo, "path": "README.md"}}
	}
	refund := func(name string, amount int) tsStep {
		return tsStep{Name: name, Tool: "create_refund", Args: map[string]any{"order": "o-1", "amount": amount}}
	}
	sessions := []tsSession{
		{Name: "no token"},
		{Name: "garbage token", Token: "garbage"},
		{Name: "revoked token", Token: gone.Token},
		{Name: "expired token", Token: expired.Token},
		{Name: "plain", Token: full.Token, Steps: []tsStep{
			read("allowed", "acme/api"),
			read("no right", "globex/api"),
			read("allowed after 403", "acme/api"),
			{Name: "missing argument", Tool: "read_file", Args: map[string]any{"path": "README.md"}},
			read("allowed after bad arguments", "acme/web"),
			{Name: "undeclared tool", Tool: "undeclared"},
			refund("allowed after undeclared", 900),
		}},
		{Name: "sub-agent", Token: sub, Steps: []tsStep{
			refund("over the caveat", 900),
			refund("allowed after caveat", 400),
			read("tool outside the caveat", "acme/api"),
			read("tool outside the caveat, no right either", "globex/api"),
			refund("allowed after caveats", 500),
		}},
		{Name: "oauth sub-agent", Token: sub, OAuth: true, Steps: []tsStep{
			refund("over the caveat", 900),
			read("tool outside the caveat", "acme/api"),
			refund("allowed after caveats", 400),
		}},
		{Name: "approval", Token: gated, Steps: []tsStep{
			refund("needs approval", 400),
			refund("allowed after elicitation", 100),
			{Name: "with the approval", Tool: "create_refund", Args: map[string]any{"order": "o-1", "amount": 400}, Meta: map[string]any{verifier.ApprovalMetaKey: approvalOf(400)}},
			{Name: "the approval again", Tool: "create_refund", Args: map[string]any{"order": "o-1", "amount": 400}, Meta: map[string]any{verifier.ApprovalMetaKey: approvalOf(400)}},
		}},
		{Name: "oauth approval", Token: gated, OAuth: true, Steps: []tsStep{
			refund("needs approval", 300),
			refund("allowed after elicitation", 100),
		}},
		{Name: "oauth step-up", Token: full.Token, OAuth: true, Steps: []tsStep{
			read("no right: step-up", "globex/api"),
			read("allowed with the new token", "globex/api"),
		}},
	}
	// Every session but the step-up one first: none may contact the
	// authorization server.
	rep := runTSClient(t, node, s.resource, sessions[:len(sessions)-1])
	s.mu.Lock()
	hits := s.asHits
	s.mu.Unlock()
	if hits != 0 {
		t.Errorf("the clients contacted the authorization server %d times before any step-up; want never", hits)
	}
	rep.Sessions = append(rep.Sessions, runTSClient(t, node, s.resource, sessions[len(sessions)-1:]).Sessions...)
	if len(rep.Sessions) != len(sessions) {
		t.Fatalf("report has %d sessions, want %d", len(rep.Sessions), len(sessions))
	}
	if testing.Verbose() {
		out, _ := json.MarshalIndent(rep, "", "  ")
		t.Logf("TypeScript client report:\n%s", out)
	}
	got := map[string]map[string]tsOutcome{}
	for i, sess := range rep.Sessions {
		name := sessions[i].Name
		if strings.HasSuffix(name, "token") {
			if e := sess.ConnectError; e == nil || e.Code == nil || *e.Code != http.StatusUnauthorized {
				t.Errorf("%s: connect error %+v, want HTTP 401", name, e)
			}
			continue
		}
		if sess.ConnectError != nil {
			t.Fatalf("%s: connect: %+v", name, sess.ConnectError)
		}
		got[name] = map[string]tsOutcome{}
		for _, o := range sess.Steps {
			got[name][o.Name] = o
		}
	}

	allowed := func(sess, step string) {
		t.Helper()
		o := got[sess][step]
		if o.Error != nil || o.IsError {
			t.Errorf("%s / %s: %+v %q, want the call to run", sess, step, o.Error, o.Text)
		}
	}
	toolDenial := func(sess, step string, kind verifier.Kind, structured bool, wantText string) {
		t.Helper()
		o := got[sess][step]
		if o.Error != nil || !o.IsError {
			t.Fatalf("%s / %s: thrown %+v, isError %v; want an isError tool result", sess, step, o.Error, o.IsError)
		}
		if !strings.Contains(o.Text, wantText) || !strings.HasPrefix(o.Text, "Tool ") {
			t.Errorf("%s / %s: text %q, want it to contain %q", sess, step, o.Text, wantText)
		}
		raw, _ := json.Marshal(o.Meta[mcpmw.DenialMetaKey])
		var meta mcpmw.Denial
		if err := json.Unmarshal(raw, &meta); err != nil || meta.Error != string(kind) || !strings.HasPrefix(meta.DecisionID, "d_") {
			t.Errorf("%s / %s: _meta denial %s, want %s with a decision ID", sess, step, raw, kind)
		}
		switch {
		case structured && (o.StructuredContent == nil || o.StructuredContent.Error != string(kind) || o.StructuredContent.DecisionID != meta.DecisionID):
			t.Errorf("%s / %s: structured content %+v, want the denial", sess, step, o.StructuredContent)
		case !structured && o.StructuredContent != nil:
			t.Errorf("%s / %s: structured content %+v on a tool with an output schema", sess, step, o.StructuredContent)
		}
		if kind == verifier.KindCaveat && (meta.FailedCheck == nil || meta.FailedCheck.Block != 1) {
			t.Errorf("%s / %s: failed check %+v, want block 1's", sess, step, meta.FailedCheck)
		}
		if o.Auth != nil && ((*o.Auth)["redirects"] != 0 || (*o.Auth)["saved"] != 0 || (*o.Auth)["invalidated"] != 0) {
			t.Errorf("%s / %s: the OAuth provider was asked to authorize: %v", sess, step, *o.Auth)
		}
	}

	// Without an OAuth provider.
	allowed("plain", "allowed")
	if o := got["plain"]["no right"]; o.Error == nil || o.Error.Code == nil || *o.Error.Code != http.StatusForbidden || !strings.Contains(o.Error.Message, "no right covers") {
		t.Errorf("plain / no right: %+v, want a thrown 403 naming the missing right", o)
	}
	allowed("plain", "allowed after 403")
	toolDenial("plain", "missing argument", verifier.KindBadRequest, true, `argument "repo" must be a non-empty string`)
	allowed("plain", "allowed after bad arguments")
	toolDenial("plain", "undeclared tool", verifier.KindDenied, true, "no mandate policy")
	allowed("plain", "allowed after undeclared")

	toolDenial("sub-agent", "over the caveat", verifier.KindCaveat, false, "$a <= 500) forbids this call")
	allowed("sub-agent", "allowed after caveat")
	toolDenial("sub-agent", "tool outside the caveat", verifier.KindCaveat, true, "forbids this call")
	toolDenial("sub-agent", "tool outside the caveat, no right either", verifier.KindCaveat, true, "forbids this call")
	allowed("sub-agent", "allowed after caveats")

	// With an OAuth provider: caveats never reach it.
	toolDenial("oauth sub-agent", "over the caveat", verifier.KindCaveat, false, "forbids this call")
	toolDenial("oauth sub-agent", "tool outside the caveat", verifier.KindCaveat, true, "forbids this call")
	allowed("oauth sub-agent", "allowed after caveats")

	// Approval required: the URL elicitation error, with the page; no
	// authorization flow; the retry with the approval runs once.
	elicited := func(sess, step string) {
		t.Helper()
		o := got[sess][step]
		if o.Error == nil || o.Error.Code == nil || *o.Error.Code != mcpmw.CodeURLElicitationRequired {
			t.Fatalf("%s / %s: %+v, want the URL elicitation error %d", sess, step, o, mcpmw.CodeURLElicitationRequired)
		}
		var data struct {
			Elicitations []struct{ Mode, URL, Message, ElicitationID string } `json:"elicitations"`
			Denial       mcpmw.Denial                                         `json:"dev.mandate/denial"`
		}
		// The TypeScript SDK keeps only the elicitations of the error's
		// data (UrlElicitationRequiredError); the message names the call.
		if err := json.Unmarshal(o.Error.Data, &data); err != nil || len(data.Elicitations) != 1 || data.Elicitations[0].Mode != "url" ||
			!strings.HasPrefix(data.Elicitations[0].URL, s.authority+"/v1/approvals?") || data.Elicitations[0].ElicitationID == "" ||
			!strings.Contains(data.Elicitations[0].Message, "call digest") || !strings.Contains(o.Error.Message, "a person must approve") {
			t.Errorf("%s / %s: elicitation %+v, data %s (%v)", sess, step, o.Error, o.Error.Data, err)
		}
		if o.Auth != nil && ((*o.Auth)["redirects"] != 0 || (*o.Auth)["saved"] != 0 || (*o.Auth)["invalidated"] != 0) {
			t.Errorf("%s / %s: the OAuth provider was asked to authorize: %v", sess, step, *o.Auth)
		}
	}
	elicited("approval", "needs approval")
	allowed("approval", "allowed after elicitation")
	allowed("approval", "with the approval")
	// Decided where the SDK dispatches the call (so that its use is spent
	// once): the SDK fills a typed tool's structured content with the zero
	// output, so only the _meta denial is checked here.
	if o := got["approval"]["the approval again"]; o.Error != nil || !o.IsError || !strings.Contains(o.Text, "already used") ||
		!strings.Contains(fmt.Sprint(o.Meta[mcpmw.DenialMetaKey]), string(verifier.KindApprovalInvalid)) {
		t.Errorf("approval / the approval again: %+v, want an isError approval_invalid result", o)
	}
	elicited("oauth approval", "needs approval")
	allowed("oauth approval", "allowed after elicitation")

	// A missing right is step-up for exactly the covering scope.
	if o := got["oauth step-up"]["no right: step-up"]; o.StepUpScope != "github:read_file:read:repo:globex/api" || o.Error != nil || o.IsError || !strings.Contains(o.Text, "globex/api/README.md read") {
		t.Errorf("oauth step-up: %+v; want step-up for github:read_file:read:repo:globex/api, then the call to run", o)
	}
	allowed("oauth step-up", "allowed with the new token")
}
