package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/approval"
	"github.com/mandate-dev/mandate/verifier/decisionlog"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// story is the session examples/delegation creates, replayed with the
// same public APIs: a platform client mints a session for an orchestrator,
// which attenuates it offline for a reviewer and a refunder; a tool server
// embeds the verifier and follows the authority.
type story struct {
	e                        *env
	session                  string
	orchestrator             string
	reviewer, refunder       string
	reviewerIDs, refunderIDs []string
	toolURL                  string
	follower                 *follow.Follower
	verifierCfg              verifier.Config
	shipper                  *decisionlog.Shipper
	calls                    uint64
	orchestratorIDs          []string
}

func newStory(t *testing.T, e *env) *story {
	t.Helper()
	ctx := context.Background()
	s := &story{e: e}
	_, err := e.a.RegisterClient(ctx, e.admin, "agent-platform", authority.Ceiling{
		Services: []string{"github", "payments"}, Tools: []string{"*"}, Operations: []string{"read", "write"},
		ResourcePrefixes: []string{"repo:acme/", "order:acme/"}, Orgs: []string{"acme"}, MaxTTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.a.Mint(ctx, authority.Principal{ClientID: "agent-platform"}, authority.MintRequest{
		Agent: "orchestrator", User: "alice@acme.test", Org: "acme", TTL: 15 * time.Minute,
		Rights: []token.Right{
			{Service: "github", Tool: "*", Operation: "read", Resource: "repo:acme/"},
			{Service: "github", Tool: "create_issue", Operation: "write", Resource: "repo:acme/"},
			{Service: "payments", Tool: "create_refund", Operation: "write", Resource: "order:acme/"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.session, s.orchestrator = m.Subject.Session, m.Token
	b, err := attenuate.New(s.orchestrator)
	if err != nil {
		t.Fatal(err)
	}
	if s.reviewer, err = b.Services("github").Operations("read").ResourcePrefix("repo:acme/api").TTL(10 * time.Minute).DelegatedTo("reviewer").Build(); err != nil {
		t.Fatal(err)
	}
	if b, err = attenuate.New(s.orchestrator); err != nil {
		t.Fatal(err)
	}
	if s.refunder, err = b.Tools("create_refund").ArgMax("create_refund", "amount", 500).
		RequireApproval("create_refund", attenuate.Above("amount", 300), attenuate.ApprovedByOrg()).
		TTL(10 * time.Minute).DelegatedTo("refunder").Build(); err != nil {
		t.Fatal(err)
	}
	s.orchestratorIDs, s.reviewerIDs, s.refunderIDs = revIDs(t, s.orchestrator), revIDs(t, s.reviewer), revIDs(t, s.refunder)

	keys := token.NewKeySet()
	root := e.a.Keys()[0]
	store := revocation.NewMemory()
	f, err := follow.New(follow.Config{Authority: e.url, Store: store, Keys: keys,
		TrustAnchors: []token.PublicKey{{ID: root.ID, Key: root.PublicKey}}})
	if err != nil {
		t.Fatal(err)
	}
	// The tool server ships its decisions to the authority's decision
	// log with its own verifier credential, and redeems approvals there.
	_, vcred, err := e.a.AddVerifier(ctx, e.admin, "tools")
	if err != nil {
		t.Fatal(err)
	}
	if s.shipper, err = decisionlog.New(decisionlog.Config{URL: e.url, Credential: vcred, FlushInterval: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.shipper.Close(context.Background()) })
	red, err := approval.NewAuthorityRedeemer(e.url, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	checker, err := approval.New(approval.Config{Redeemer: red})
	if err != nil {
		t.Fatal(err)
	}
	s.verifierCfg = verifier.Config{Keys: keys, Revocations: store, Fresh: f.Fresh, Decisions: s.shipper, Approvals: checker}
	v, err := verifier.New(s.verifierCfg)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stop, err := f.Start(wctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	s.follower = f
	mux := http.NewServeMux()
	opts := verifier.HTTPOptions{Realm: "tools", ApprovalURL: e.url}
	mux.Handle("GET /github/repos/{owner}/{repo}/contents/{path...}", verifier.Middleware(v, func(r *http.Request) (verifier.Request, error) {
		return verifier.Request{Service: "github", Tool: "read_file", Operation: "read", Resource: "repo:" + r.PathValue("owner") + "/" + r.PathValue("repo")}, nil
	}, opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "contents") })))
	mux.Handle("POST /payments/orders/{order}/refunds", verifier.Middleware(v, func(r *http.Request) (verifier.Request, error) {
		var in struct {
			Amount json.Number `json:"amount"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			return verifier.Request{}, err
		}
		return verifier.Request{Service: "payments", Tool: "create_refund", Operation: "write", Resource: "order:acme/" + r.PathValue("order"), Args: map[string]any{"amount": in.Amount}}, nil
	}, opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "refunded") })))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.toolURL = "http://" + ln.Addr().String()
	return s
}

func revIDs(t *testing.T, tok string) []string {
	t.Helper()
	u, err := token.ParseString(tok)
	if err != nil {
		t.Fatal(err)
	}
	return token.Inspect(u).RevocationIDs
}

// read calls the reviewer's tool with tok; refund the refunder's.
func (s *story) read(t *testing.T, tok string) int {
	t.Helper()
	return s.call(t, tok, http.MethodGet, "/github/repos/acme/api/contents/README.md", "")
}

func (s *story) refund(t *testing.T, tok string, amount int) int {
	t.Helper()
	return s.call(t, tok, http.MethodPost, "/payments/orders/1001/refunds", fmt.Sprintf(`{"amount":%d}`, amount))
}

// refundApproved retries a refund with an approval.
func (s *story) refundApproved(t *testing.T, tok string, amount int, ap string) int {
	t.Helper()
	return s.callWith(t, tok, http.MethodPost, "/payments/orders/1001/refunds", fmt.Sprintf(`{"amount":%d}`, amount), ap)
}

func (s *story) call(t *testing.T, tok, method, path, body string) int {
	t.Helper()
	return s.callWith(t, tok, method, path, body, "")
}

func (s *story) callWith(t *testing.T, tok, method, path, body, ap string) int {
	t.Helper()
	s.calls++
	req, _ := http.NewRequest(method, s.toolURL+path, strings.NewReader(body))
	if ap != "" {
		req.Header.Set(approval.Header, ap)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitRevoked waits until the tool server's follower has applied the
// authority's whole log (a revocation made in the console).
func (s *story) waitRevoked(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.follower.WaitSeq(ctx, s.e.a.LastSeq()); err != nil {
		t.Fatalf("the follower did not apply seq %d: %v", s.e.a.LastSeq(), err)
	}
}

// shipped waits until the tool server has shipped every decision so far
// to the authority's decision log.
func (s *story) shipped(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.shipper.Stats().Shipped < s.calls {
		if time.Now().After(deadline) {
			t.Fatalf("the decision log received %d of %d decisions: %+v", s.shipper.Stats().Shipped, s.calls, s.shipper.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// askApproval asks, with the agent's own token, for a person's approval
// of a refund (POST /v1/approvals) and returns the request's ID.
func (s *story) askApproval(t *testing.T, tok string, amount int) string {
	t.Helper()
	body := fmt.Sprintf(`{"service":"payments","tool":"create_refund","operation":"write","resource":"order:acme/1001","args":{"amount":%d},"note":"damaged in transit"}`, amount)
	var q struct {
		ID string `json:"id"`
	}
	s.api(t, tok, http.MethodPost, "/v1/approvals", body, http.StatusCreated, &q)
	return q.ID
}

// fetchApproval reads the request as the agent and returns its approval.
func (s *story) fetchApproval(t *testing.T, tok, id string) string {
	t.Helper()
	var q struct {
		Status   string `json:"status"`
		Approval string `json:"approval"`
	}
	s.api(t, tok, http.MethodGet, "/v1/approvals/"+id, "", http.StatusOK, &q)
	if q.Status != "approved" || q.Approval == "" {
		t.Fatalf("approval request %s: status %q", id, q.Status)
	}
	return q.Approval
}

func (s *story) api(t *testing.T, bearer, method, path, body string, want int, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, s.e.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+bearer)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		var e map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&e)
		t.Fatalf("%s %s: %d, want %d: %v", method, path, resp.StatusCode, want, e)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}
