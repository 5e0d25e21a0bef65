package approvals_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandate-dev/mandate/authority/approvals"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/ginmw"
	"github.com/mandate-dev/mandate/verifier/mcpmw"
)

// refundRequest maps POST /refund/{order}?amount=N to its call.
func refundRequest(r *http.Request) (verifier.Request, error) {
	var args struct {
		Amount json.Number `json:"amount"`
	}
	if err := json.NewDecoder(r.Body).Decode(&args); err != nil {
		return verifier.Request{}, err
	}
	return verifier.Request{Service: "payments", Tool: "refund", Operation: "write", Resource: "order:acme/" + r.PathValue("order"),
		Args: map[string]any{"amount": args.Amount}}, nil
}

// TestHTTPAdapters: net/http and gin answer a call that needs approval with
// 403 approval_required, the call digest and where to ask, and let the
// retry through with the Mandate-Approval header.
func TestHTTPAdapters(t *testing.T) {
	e := newEnv(t, approvals.Config{})
	tok := e.refunder(e.mint("s_http"))
	opts := verifier.HTTPOptions{ApprovalURL: e.url}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "refunded") })
	mux := http.NewServeMux()
	mux.Handle("POST /refund/{order}", verifier.Middleware(e.verifier(nil), refundRequest, opts)(ok))
	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	g.POST("/refund/:order", ginmw.Middleware(e.verifier(nil), refundRequest, opts), func(c *gin.Context) { c.String(200, "refunded") })
	for name, h := range map[string]http.Handler{"net/http": mux, "gin": g} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			post := func(order, approval string) (int, map[string]any, http.Header) {
				req, _ := http.NewRequest("POST", srv.URL+"/refund/"+order, strings.NewReader(`{"amount": 500}`))
				req.Header.Set("Authorization", "Bearer "+tok)
				if approval != "" {
					req.Header.Set("Mandate-Approval", approval)
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var m map[string]any
				_ = json.NewDecoder(res.Body).Decode(&m)
				return res.StatusCode, m, res.Header
			}
			order := map[string]string{"net/http": "1", "gin": "2"}[name]
			st, body, hdr := post(order, "")
			if st != http.StatusForbidden || body["error"] != "approval_required" || body["approval_url"] != e.url+"/v1/approvals" ||
				len(body["call_digest"].(string)) != 64 || hdr.Get("WWW-Authenticate") != "" {
				t.Fatalf("without approval: %d %v %v", st, body, hdr)
			}
			if !strings.Contains(body["approval_page"].(string), "session=s_http") {
				t.Fatalf("approval_page %v", body["approval_page"])
			}
			q := e.ask(tok, refund(order, 500), 0)
			if q.CallDigest != body["call_digest"] {
				t.Fatalf("the request's digest %s is not the denial's %s", q.CallDigest, body["call_digest"])
			}
			ap := e.approve(e.alice, q.ID)
			if st, body, _ := post(order, ap); st != http.StatusOK {
				t.Fatalf("retry with the approval: %d %v", st, body)
			}
			if st, body, _ := post(order, ap); st != http.StatusForbidden || body["error"] != "approval_invalid" {
				t.Fatalf("second retry: %d %v", st, body)
			}
		})
	}
}

type bearerRT struct {
	tok  string
	base http.RoundTripper
}

func (b bearerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return b.base.RoundTrip(r)
}

type refundIn struct {
	Order  string `json:"order"`
	Amount int    `json:"amount"`
}

// TestMCPElicitation: with the official Go SDK's client, a call that needs
// approval fails with MCP's URL elicitation error (-32042) carrying the
// page where a person decides; after the person approved, the client's
// retry with the approval in _meta runs the tool.
func TestMCPElicitation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, approvals.Config{})
	tok := e.refunder(e.mint("s_mcp"))
	guard, err := mcpmw.New(e.verifier(nil), mcpmw.Options{ApprovalURL: e.url})
	if err != nil {
		t.Fatal(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "payments", Version: "v0"}, nil)
	ran := 0
	err = mcpmw.AddTool(guard, server, &mcp.Tool{Name: "refund", Description: "refund an order"},
		mcpmw.ToolPolicy{Service: "payments", Operation: "write", Resource: mcpmw.ArgResource("order:acme/", "order")},
		func(ctx context.Context, req *mcp.CallToolRequest, in refundIn) (*mcp.CallToolResult, any, error) {
			ran++
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "refunded"}}}, nil, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(guard.Middleware(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{JSONResponse: true})))
	defer srv.Close()
	hc := &http.Client{Transport: bearerRT{tok: tok, base: http.DefaultTransport}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v0"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: hc, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	params := &mcp.CallToolParams{Name: "refund", Arguments: map[string]any{"order": "7", "amount": 500}}

	_, err = cs.CallTool(ctx, params)
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.Code != mcp.CodeURLElicitationRequired {
		t.Fatalf("without approval: %v; want the URL elicitation error %d", err, mcp.CodeURLElicitationRequired)
	}
	var data struct {
		Elicitations []*mcp.ElicitParams `json:"elicitations"`
		Denial       mcpmw.Denial        `json:"dev.mandate/denial"`
	}
	if err := json.Unmarshal(rpcErr.Data, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Elicitations) != 1 || data.Elicitations[0].Mode != "url" || !strings.HasPrefix(data.Elicitations[0].URL, e.url+"/v1/approvals?") ||
		data.Elicitations[0].ElicitationID == "" || data.Denial.Error != "approval_required" || len(data.Denial.CallDigest) != 64 {
		t.Fatalf("elicitation data %+v", data)
	}
	if ran != 0 {
		t.Fatal("the tool ran without approval")
	}
	// The session keeps working, and the agent asks with the call it made:
	// every argument, the order too.
	call := refund("7", 500)
	call.Args["order"] = "7"
	q := e.ask(tok, call, 0)
	if q.CallDigest != data.Denial.CallDigest {
		t.Fatalf("request digest %s, denial's %s", q.CallDigest, data.Denial.CallDigest)
	}
	params.Meta = mcp.Meta{verifier.ApprovalMetaKey: e.approve(e.alice, q.ID)}
	res, err := cs.CallTool(ctx, params)
	if err != nil || res.IsError || ran != 1 {
		t.Fatalf("retry with the approval in _meta: %v %+v (ran %d)", err, res, ran)
	}
	// Used up: a tool error the model can read, not an authorization flow.
	res, err = cs.CallTool(ctx, params)
	if err != nil || !res.IsError || ran != 1 {
		t.Fatalf("second retry: %v %+v", err, res)
	}
}
