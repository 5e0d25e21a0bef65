package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/approval"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// story holds the actors. Nothing secret is printed: tokens, the admin
// token and the client secret stay in memory; the narration shows session
// IDs, revocation IDs (shortened) and decisions.
type story struct {
	out io.Writer

	// The authority and the platform backend's credential.
	dataDir      string
	auth         *authority.Authority
	authSrv      *http.Server
	authURL      string
	adminToken   string
	clientSecret string

	// The tool server and its verifier's follower.
	toolSrv      *http.Server
	toolURL      string
	follower     *follow.Follower
	stopFollower func()

	// The tokens.
	session      string
	orchestrator string
	reviewer     string
	refunder     string

	http *http.Client
}

func (s *story) say(format string, args ...any) { fmt.Fprintf(s.out, format+"\n", args...) }

func (s *story) step(title string) { s.say("\n== %s", title) }

// close stops everything that was started, in reverse order.
func (s *story) close() error {
	var errs []error
	if s.stopFollower != nil {
		s.stopFollower()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s.toolSrv != nil {
		errs = append(errs, s.toolSrv.Shutdown(ctx))
	}
	if s.auth != nil {
		s.auth.Shutdown() // ends the feed's long polls at once
	}
	if s.authSrv != nil {
		errs = append(errs, s.authSrv.Shutdown(ctx))
	}
	if s.auth != nil {
		errs = append(errs, s.auth.Close())
	}
	if s.dataDir != "" {
		errs = append(errs, os.RemoveAll(s.dataDir))
	}
	return errors.Join(errs...)
}

// listen serves h on a free port of 127.0.0.1.
func listen(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String(), nil
}

func randomSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// 1. The authority, and the platform backend registering as its client.
func (s *story) startAuthority(ctx context.Context) error {
	s.step("1. An authority starts; the agent platform registers as its client")
	s.http = &http.Client{Timeout: 30 * time.Second}
	var err error
	if s.dataDir, err = os.MkdirTemp("", "mandate-delegation-"); err != nil {
		return err
	}
	if s.adminToken, err = randomSecret(); err != nil {
		return err
	}
	s.auth, err = authority.Open(ctx, authority.Config{
		DataDir:          s.dataDir, // its root key lives here
		AdminToken:       s.adminToken,
		AdminTokenOutput: io.Discard,
	}, authority.WithStore(authority.NewMemoryStore()))
	if err != nil {
		return fmt.Errorf("open the authority: %w", err)
	}
	if s.authSrv, s.authURL, err = listen(authority.NewHandler(s.auth)); err != nil {
		return err
	}
	s.say("authority on %s (in process, memory store, a fresh Ed25519 root key)", s.authURL)

	var client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	err = s.postJSON(ctx, s.authURL+"/v1/clients", s.adminToken, map[string]any{
		"client_id": "agent-platform",
		"ceiling": map[string]any{
			"services":          []string{"github", "payments"},
			"tools":             []string{"*"},
			"operations":        []string{"read", "write"},
			"resource_prefixes": []string{"repo:acme/", "order:acme/"},
			"orgs":              []string{"acme"},
			"max_ttl_seconds":   3600,
		},
	}, http.StatusCreated, &client)
	if err != nil {
		return fmt.Errorf("register the platform: %w", err)
	}
	s.clientSecret = client.ClientSecret
	s.say("POST /v1/clients (admin) → client %q, ceiling: services github and payments, org acme, resources under repo:acme/ and order:acme/, at most 1h", client.ClientID)
	return nil
}

// 2. The platform mints a session token for the orchestrator.
func (s *story) mintSession(ctx context.Context) error {
	s.step("2. The platform mints a session token for the orchestrator agent")
	var minted struct {
		Token         string   `json:"token"`
		Session       string   `json:"session"`
		RevocationIDs []string `json:"revocation_ids"`
		ExpiresAt     string   `json:"expires_at"`
	}
	rights := []token.Right{
		{Service: "github", Tool: "*", Operation: "read", Resource: "repo:acme/"},
		{Service: "github", Tool: "create_issue", Operation: "write", Resource: "repo:acme/"},
		{Service: "payments", Tool: "create_refund", Operation: "write", Resource: "order:acme/"},
	}
	err := s.postJSON(ctx, s.authURL+"/v1/tokens", s.clientSecret, map[string]any{
		"agent": "orchestrator", "user": "alice@acme.test", "org": "acme",
		"rights": rights, "ttl_seconds": 900,
	}, http.StatusCreated, &minted)
	if err != nil {
		return fmt.Errorf("mint: %w", err)
	}
	s.orchestrator, s.session = minted.Token, minted.Session
	s.say("POST /v1/tokens (client credential) → session %s for agent orchestrator, user alice@acme.test, until %s", minted.Session, minted.ExpiresAt)
	for _, r := range rights {
		s.say("  right(%q, %q, %q, %q)", r.Service, r.Tool, r.Operation, r.Resource)
	}
	s.say("  one block; revocation ID %s", short(minted.RevocationIDs[0]))
	return nil
}

// 3. The tool server, whose verifier follows the authority.
func (s *story) startToolServer(ctx context.Context) error {
	s.step("3. A tool server starts; its verifier follows the authority")
	keys := token.NewKeySet() // filled from GET /v1/keys by the follower
	store := revocation.NewMemory()
	// The verifier pins the authority's root key, configured out of band
	// (here: read in process; in production, the key `mandate authority
	// serve` prints). Keys from GET /v1/keys are trusted only if endorsed
	// by it, and the revocation feed only if signed.
	root := s.auth.Keys()[0]
	f, err := follow.New(follow.Config{Authority: s.authURL, Store: store, Keys: keys,
		TrustAnchors: []token.PublicKey{{ID: root.ID, Key: root.PublicKey}}})
	if err != nil {
		return err
	}
	// Approvals are checked offline and each use redeemed once at the
	// authority, whichever tool server replica sees the call.
	red, err := approval.NewAuthorityRedeemer(s.authURL, s.http)
	if err != nil {
		return err
	}
	approvals, err := approval.New(approval.Config{Redeemer: red})
	if err != nil {
		return err
	}
	v, err := verifier.New(verifier.Config{Keys: keys, Revocations: store, Fresh: f.Fresh, Approvals: approvals})
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if s.stopFollower, err = f.Start(wctx); err != nil {
		return fmt.Errorf("the follower did not sync with the authority: %w", err)
	}
	s.follower = f
	if s.toolSrv, s.toolURL, err = listen(toolServer(v, s.authURL)); err != nil {
		return err
	}
	s.say("tool server on %s", s.toolURL)
	s.say("  its verifier trusts %d key(s) from GET /v1/keys and follows GET /v1/revocations (long poll)", len(keys.Keys()))
	s.say("  every route is wrapped in verifier.Middleware; decisions fail closed if the feed goes stale")
	return nil
}

// 4. Offline attenuation for two sub-agents.
func (s *story) delegate(context.Context) error {
	s.step("4. The orchestrator attenuates its token offline for two sub-agents")
	b, err := attenuate.New(s.orchestrator)
	if err != nil {
		return err
	}
	if s.reviewer, err = b.Services("github").Operations("read").ResourcePrefix("repo:acme/api").
		TTL(10 * time.Minute).DelegatedTo("reviewer").Build(); err != nil {
		return fmt.Errorf("attenuate for the reviewer: %w", err)
	}
	s.say("reviewer: github, read only, repo:acme/api and below (segment-aware), 10 minutes")
	if b, err = attenuate.New(s.orchestrator); err != nil {
		return err
	}
	if s.refunder, err = b.Tools("create_refund").ArgMax("create_refund", "amount", 500).
		RequireApproval("create_refund", attenuate.Above("amount", 100), attenuate.ApprovedByOrg()).
		TTL(10 * time.Minute).DelegatedTo("refunder").Build(); err != nil {
		return fmt.Errorf("attenuate for the refunder: %w", err)
	}
	s.say("refunder: create_refund only, amount <= 500, and above 100 only with a person's approval (any approver of acme), 10 minutes")
	s.say("  no key and no call to the authority: each token is the session token plus one block of checks")
	return nil
}

// 5. The sub-agents call tools.
func (s *story) callTools(ctx context.Context) error {
	s.step("5. The sub-agents call the tool server")
	return s.calls(ctx, []call{
		{who: "reviewer", tok: s.reviewer, method: "GET", path: "/github/repos/acme/api/contents/README.md", want: 200},
		{who: "reviewer", tok: s.reviewer, method: "GET", path: "/github/repos/acme/web/contents/README.md", want: 403},
		{who: "reviewer", tok: s.reviewer, method: "GET", path: "/github/repos/acme/api-internal/contents/keys.txt", want: 403},
		{who: "reviewer", tok: s.reviewer, method: "POST", path: "/github/repos/acme/api/issues", body: `{"title":"typo"}`, want: 403},
		{who: "refunder", tok: s.refunder, method: "POST", path: "/payments/orders/1001/refunds", body: `{"amount":80}`, want: 200},
		{who: "refunder", tok: s.refunder, method: "POST", path: "/payments/orders/1001/refunds", body: `{"amount":300}`, want: 403},
		{who: "refunder", tok: s.refunder, method: "POST", path: "/payments/orders/1001/refunds", body: `{"amount":900}`, want: 403},
		{who: "refunder", tok: s.refunder, method: "GET", path: "/github/repos/acme/api/contents/README.md", want: 403},
		{who: "orchestrator", tok: s.orchestrator, method: "GET", path: "/github/repos/acme/web/contents/README.md", want: 200},
		{who: "nobody", method: "GET", path: "/github/repos/acme/api/contents/README.md", want: 401},
	})
}

// 6. A refund above the threshold stops for a person's approval.
func (s *story) approveRefund(ctx context.Context) error {
	s.step("6. A refund of 300 stops for a person; an approver approves it; the retry goes through")
	var person struct {
		Credential string `json:"credential"`
	}
	if err := s.postJSON(ctx, s.authURL+"/v1/people", s.adminToken, map[string]any{"name": "dana@acme.test", "role": "approver", "orgs": []string{"acme"}}, http.StatusCreated, &person); err != nil {
		return fmt.Errorf("add the approver: %w", err)
	}
	s.say("POST /v1/people (admin) → dana@acme.test, approver for acme, with her own credential (mp_…, not shown)")
	var asked struct {
		ID         string `json:"id"`
		CallDigest string `json:"call_digest"`
		Reason     string `json:"reason"`
	}
	refund := map[string]any{"service": "payments", "tool": "create_refund", "operation": "write", "resource": "order:acme/1001",
		"args": map[string]any{"amount": 300}, "note": "customer returned two items"}
	if err := s.postJSON(ctx, s.authURL+"/v1/approvals", s.refunder, refund, http.StatusCreated, &asked); err != nil {
		return fmt.Errorf("ask for approval: %w", err)
	}
	s.say("POST /v1/approvals (the refunder's own token) → request %s for call %s", asked.ID, short(asked.CallDigest))
	s.say("  the authority checked that only the approval caveat stops it: %s", asked.Reason)

	// The refunder long-polls while dana decides.
	type waited struct {
		approval string
		err      error
	}
	got := make(chan waited, 1)
	go func() {
		var q struct {
			Status   string `json:"status"`
			Approval string `json:"approval"`
		}
		err := s.getJSON(ctx, s.authURL+"/v1/approvals/"+asked.ID+"?wait=30s", s.refunder, &q)
		if err == nil && q.Status != "approved" {
			err = fmt.Errorf("request %s is %s", asked.ID, q.Status)
		}
		got <- waited{q.Approval, err}
	}()
	var decided struct {
		Status string `json:"status"`
	}
	if err := s.postJSON(ctx, s.authURL+"/v1/approvals/"+asked.ID+"/approve", person.Credential, map[string]any{"comment": "checked the return"}, http.StatusOK, &decided); err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	s.say("POST /v1/approvals/%s/approve (dana's credential) → %s", asked.ID, decided.Status)
	w := <-got
	if w.err != nil {
		return fmt.Errorf("wait for the approval: %w", w.err)
	}
	s.say("GET /v1/approvals/%s?wait=30s (the refunder, long-polling) → the approval: signed by the authority, bound to this call, this session and the refunder's block, one use", asked.ID)
	return s.calls(ctx, []call{
		{who: "refunder", tok: s.refunder, method: "POST", path: "/payments/orders/1001/refunds", body: `{"amount":300}`, approval: w.approval, want: 200},
		{who: "refunder", tok: s.refunder, method: "POST", path: "/payments/orders/1001/refunds", body: `{"amount":300}`, approval: w.approval, want: 403},
		{who: "refunder", tok: s.refunder, method: "POST", path: "/payments/orders/1002/refunds", body: `{"amount":300}`, approval: w.approval, want: 403},
	})
}

// 7. Revoke the refunder by possession.
func (s *story) revokeRefunder(ctx context.Context) error {
	s.step("7. The refunder is revoked by possession of its token")
	if err := s.revoke(ctx, "", map[string]any{"token": s.refunder}, "POST /v1/revocations {\"token\": <refunder's token>} (no credential: holding the token is enough)"); err != nil {
		return err
	}
	return s.calls(ctx, []call{
		{who: "refunder", tok: s.refunder, method: "POST", path: "/payments/orders/1001/refunds", body: `{"amount":80}`, want: 401},
		{who: "reviewer", tok: s.reviewer, method: "GET", path: "/github/repos/acme/api/contents/README.md", want: 200},
		{who: "orchestrator", tok: s.orchestrator, method: "POST", path: "/payments/orders/1002/refunds", body: `{"amount":900}`, want: 200},
	})
}

// 8. Revoke the whole session.
func (s *story) revokeSession(ctx context.Context) error {
	s.step("8. The platform revokes the whole session")
	if err := s.revoke(ctx, s.clientSecret, map[string]any{"session": s.session}, "POST /v1/revocations {\"session\": \""+s.session+"\"} (the minting client)"); err != nil {
		return err
	}
	return s.calls(ctx, []call{
		{who: "reviewer", tok: s.reviewer, method: "GET", path: "/github/repos/acme/api/contents/README.md", want: 401},
		{who: "orchestrator", tok: s.orchestrator, method: "GET", path: "/github/repos/acme/web/contents/README.md", want: 401},
	})
}

// revoke asks the authority to revoke, then waits until the tool server's
// follower has applied the new log entries from the feed.
func (s *story) revoke(ctx context.Context, cred string, body map[string]any, what string) error {
	var res struct {
		Entries []struct {
			Seq          uint64 `json:"seq"`
			RevocationID string `json:"revocation_id"`
		} `json:"entries"`
		Total int `json:"total"`
	}
	start := time.Now()
	if err := s.postJSON(ctx, s.authURL+"/v1/revocations", cred, body, http.StatusOK, &res); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	var last uint64
	var ids []string
	for _, e := range res.Entries {
		last = max(last, e.Seq)
		ids = append(ids, short(e.RevocationID))
	}
	s.say("%s\n  → %d revocation ID(s) logged: %s (last seq %d)", what, res.Total, strings.Join(ids, ", "), last)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.follower.WaitSeq(wctx, last); err != nil {
		return fmt.Errorf("the tool server's follower did not apply seq %d: %w", last, err)
	}
	s.say("  the tool server's verifier applied seq %d from the feed %s after the API call", last, time.Since(start).Round(time.Millisecond))
	return nil
}

// call is one tool call and the status the story expects.
type call struct {
	who, tok     string
	method, path string
	body         string
	approval     string // sent as the Mandate-Approval header
	want         int
}

func (s *story) calls(ctx context.Context, cs []call) error {
	var failed []string
	for _, c := range cs {
		status, msg, err := s.callTool(ctx, c)
		if err != nil {
			return err
		}
		mark := "ok"
		if status != c.want {
			mark = fmt.Sprintf("UNEXPECTED, wanted %d", c.want)
			failed = append(failed, fmt.Sprintf("%s %s %s: got %d, want %d", c.who, c.method, c.path, status, c.want))
		}
		with := ""
		if c.approval != "" {
			with = " + approval"
		}
		line := fmt.Sprintf("  %-12s %-4s %-52s %s%s → %d %s", c.who, c.method, c.path, c.body, with, status, msg)
		s.say("%s  [%s]", strings.TrimRight(line, " "), mark)
	}
	if len(failed) > 0 {
		return fmt.Errorf("calls did not end as expected:\n  %s", strings.Join(failed, "\n  "))
	}
	return nil
}

func (s *story) callTool(ctx context.Context, c call) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, c.method, s.toolURL+c.path, strings.NewReader(c.body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.tok != "" {
		req.Header.Set("Authorization", "Bearer "+c.tok)
	}
	if c.approval != "" {
		req.Header.Set(approval.Header, c.approval)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body struct {
		Result      string `json:"result"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return 0, "", fmt.Errorf("%s %s: reading the answer: %w", c.method, c.path, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, body.Result, nil
	}
	return resp.StatusCode, body.Error + ": " + body.Description, nil
}

// postJSON posts v with an optional bearer credential and decodes the
// answer into out when the status is want.
func (s *story) postJSON(ctx context.Context, url, cred string, v any, want int, out any) error {
	return s.doJSON(ctx, http.MethodPost, url, cred, v, want, out)
}

// doJSON sends v (nil: no body) with an optional bearer credential and
// decodes the answer into out when the status is want.
func (s *story) doJSON(ctx context.Context, method, url, cred string, v any, want int, out any) error {
	var reqBody io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, reqBody)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, out)
}

// getJSON gets url with a bearer credential and decodes a 200 answer.
func (s *story) getJSON(ctx context.Context, url, cred string, out any) error {
	return s.doJSON(ctx, http.MethodGet, url, cred, nil, http.StatusOK, out)
}

// short abbreviates a hex revocation ID for the narration.
func short(id string) string {
	if len(id) > 16 {
		return id[:16] + "…"
	}
	return id
}
