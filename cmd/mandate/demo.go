package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/approval"
	"github.com/mandate-dev/mandate/verifier/decisionlog"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

func newDemoCmd(a *app) *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo [--keep]",
		Short: "Run the whole story in one process: mint, delegate, call tools, revoke",
		Long: `Run mandate end to end in one process and narrate each step:

  1. start an authority (embedded Badger storage in a temporary folder)
     and a tool server on 127.0.0.1 that embeds the verifier and follows
     the authority's keys and revocations;
  2. register a platform backend as a client with a mint ceiling;
  3. mint a session token for an orchestrator agent;
  4. attenuate it offline for two sub-agents: one read-only on one
     repository, one limited to the refund tool with amount <= 500;
  5. make allowed and denied tool calls over HTTP, with the reasons;
  6. revoke one sub-agent by possession of its token: it stops, its sibling
     and its parent keep working;
  7. revoke the whole session: everything stops.

Nothing leaves the machine. The temporary folder is removed at the end
unless --keep is given: then the authority keeps running with its web
console, and the demo prints where to open it and a demo admin's name and
credential to sign in with, until Ctrl-C. The demo exits 1 if any step does not behave as
narrated.`,
		Example: `  mandate demo
  mandate demo --keep     # then open the console it prints, and sign in`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), keep)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the authority and its console running (until Ctrl-C) and its data folder")
	return cmd
}

// demo narrates the story. Every outcome it prints is checked: a surprise
// ends the demo with an error.
type demo struct {
	out      io.Writer
	step     int
	auth     *authClient
	toolURL  string
	http     *http.Client
	store    *revocation.Memory
	follower *follow.Follower
}

func (d *demo) stepf(format string, args ...any) {
	d.step++
	fmt.Fprintf(d.out, "\n%d. %s\n", d.step, fmt.Sprintf(format, args...))
}

func (d *demo) linef(format string, args ...any) {
	fmt.Fprintf(d.out, "   %s\n", fmt.Sprintf(format, args...))
}

func runDemo(ctx context.Context, out io.Writer, keep bool) (err error) {
	dir, err := os.MkdirTemp("", "mandate-demo-")
	if err != nil {
		return fmt.Errorf("demo: temporary folder: %w", err)
	}
	defer func() {
		if keep {
			fmt.Fprintf(out, "\nThe authority's data is kept in %s.\n", dir)
			return
		}
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = fmt.Errorf("demo: remove %s: %w", dir, rerr)
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	fmt.Fprintln(out, "mandate demo: capability tokens for AI agents, end to end, in one process.")
	fmt.Fprintf(out, "Temporary data folder: %s\n", dir)
	d := &demo{out: out, http: &http.Client{Timeout: 10 * time.Second}}

	// The authority and a tool server that follows it.
	auth, err := startEmbeddedAuthority(ctx, dir)
	if err != nil {
		return fmt.Errorf("demo: start the authority: %w", err)
	}
	defer func() {
		if cerr := auth.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("demo: stop the authority: %w", cerr)
		}
	}()
	admin := &authClient{base: auth.URL, bearer: auth.AdminToken, http: d.http}
	d.stepf("Start an authority on %s (embedded Badger storage, a new Ed25519 root key).", auth.URL)
	d.linef("Platform backends call it to mint session tokens; anyone entitled calls it to revoke them.")

	// The tool server ships its decisions to the authority's decision
	// log (the console draws each session's hops from them), with a
	// verifier credential of its own.
	var ver struct {
		Credential string `json:"credential"`
	}
	if err := admin.do(ctx, http.MethodPost, "/v1/verifiers", map[string]any{"name": "demo-tools"}, &ver); err != nil {
		return fmt.Errorf("demo: create the tool server's verifier credential: %w", err)
	}
	stopTools, err := d.startToolServer(ctx, auth.URL, auth.RootKey, ver.Credential)
	if err != nil {
		return fmt.Errorf("demo: start the tool server: %w", err)
	}
	defer stopTools()
	d.stepf("Start a tool server on %s with mandate's verifier embedded.", d.toolURL)
	d.linef("It trusts the authority's published keys and follows its revocation log.")
	d.linef("Its tools, and the operation each performs:")
	for _, t := range demoTools {
		d.linef("  %-20s service %-9s operation %s", t.name, t.service, t.op)
	}

	// The platform registers as a client with a ceiling.
	ceiling := map[string]any{
		"services": []string{"github", "payments"}, "tools": []string{"*"}, "operations": []string{"*"},
		"resource_prefixes": []string{"repo:acme/", "order:acme/"}, "orgs": []string{"acme"}, "max_ttl_seconds": 3600,
	}
	var client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := admin.do(ctx, http.MethodPost, "/v1/clients", map[string]any{"client_id": "platform", "ceiling": ceiling}, &client); err != nil {
		return fmt.Errorf("demo: register the platform client: %w", err)
	}
	d.auth = &authClient{base: auth.URL, bearer: client.Secret, http: d.http}
	d.stepf("The admin registers the platform backend as client %q, with a ceiling:", client.ID)
	d.linef("services github, payments; resources under repo:acme/ and order:acme/; org acme; TTL at most 1h.")
	d.linef("The platform can never mint beyond it:")
	greedy := mintBody{Agent: "orchestrator", Org: "acme", TTLSeconds: 900, Rights: []token.Right{{Service: "github", Tool: "*", Operation: "*", Resource: "repo:globex/"}}}
	var ae *apiError
	if err := d.auth.do(ctx, http.MethodPost, "/v1/tokens", greedy, nil); !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		return fmt.Errorf("demo: a mint beyond the ceiling was not refused with 403: %v", err)
	}
	d.linef("  right(\"github\", \"*\", \"*\", \"repo:globex/\")  ->  %d %s", ae.Status, ae.Code)

	// Mint.
	var m mintAnswer
	body := mintBody{Agent: "orchestrator", User: "alice@acme.test", Org: "acme", TTLSeconds: 900, Rights: []token.Right{
		{Service: "github", Tool: "*", Operation: "*", Resource: "repo:acme/"},
		{Service: "payments", Tool: "refund", Operation: "write", Resource: "order:acme/"},
	}}
	if err := d.auth.do(ctx, http.MethodPost, "/v1/tokens", body, &m); err != nil {
		return fmt.Errorf("demo: mint: %w", err)
	}
	d.stepf("The platform mints a session token for agent %q acting for %s (org %s).", body.Agent, body.User, body.Org)
	d.linef("POST /v1/tokens  ->  session %s, key ID %s, expires %s, 1 block:", m.Session, m.KeyID, m.ExpiresAt.UTC().Format(time.RFC3339))
	for _, r := range body.Rights {
		d.linef("  right(%q, %q, %q, %q)", r.Service, r.Tool, r.Operation, r.Resource)
	}
	sess := m.Token

	// Attenuate offline.
	d.stepf("The orchestrator delegates to two sub-agents, offline: no key, no network.")
	reader, err := d.attenuate(sess, "reader: read-only on repo:acme/web", func(b *attenuate.Builder) {
		b.DelegatedTo("reader").Operations("read").ResourcePrefix("repo:acme/web").TTL(10 * time.Minute)
	})
	if err != nil {
		return err
	}
	refunder, err := d.attenuate(sess, "refunder: the refund tool only, amount <= 500, above 300 only with a person's approval", func(b *attenuate.Builder) {
		b.DelegatedTo("refunder").Tools("refund").ArgMax("refund", "amount", 500).
			RequireApproval("refund", attenuate.Above("amount", 300), attenuate.ApprovedByOrg())
	})
	if err != nil {
		return err
	}

	// Calls.
	d.stepf("The agents call tools; the tool server decides each call before the tool runs.")
	calls := []demoCall{
		{"reader", reader, "get_file", "repo:acme/web/README.md", nil, http.StatusOK, ""},
		{"reader", reader, "create_pull_request", "repo:acme/web", nil, http.StatusForbidden, ""},
		{"reader", reader, "get_file", "repo:acme/website/index.html", nil, http.StatusForbidden, ""},
		{"refunder", refunder, "refund", "order:acme/1001", map[string]any{"amount": 200}, http.StatusOK, ""},
		{"refunder", refunder, "refund", "order:acme/1002", map[string]any{"amount": 900}, http.StatusForbidden, ""},
		{"refunder", refunder, "get_file", "repo:acme/web/README.md", nil, http.StatusForbidden, ""},
		{"orchestrator", sess, "create_pull_request", "repo:acme/web", nil, http.StatusOK, ""},
		{"orchestrator", sess, "get_file", "repo:globex/secrets", nil, http.StatusForbidden, ""},
	}
	if err := d.calls(ctx, calls); err != nil {
		return err
	}

	if err := d.approval(ctx, auth, admin, refunder); err != nil {
		return err
	}

	// Revoke one hop by possession: no credential.
	d.stepf("Revoke the reader by possession of its token (no credential needed): its last block only.")
	readerIDs, err := revocationIDs(reader)
	if err != nil {
		return err
	}
	anyone := &authClient{base: auth.URL, http: d.http}
	if err := d.revoke(ctx, anyone, map[string]string{"token": reader}, readerIDs[len(readerIDs)-1]); err != nil {
		return err
	}
	if err := d.calls(ctx, []demoCall{
		{"reader", reader, "get_file", "repo:acme/web/README.md", nil, http.StatusUnauthorized, ""},
		{"refunder", refunder, "refund", "order:acme/1003", map[string]any{"amount": 200}, http.StatusOK, ""},
		{"orchestrator", sess, "get_file", "repo:acme/web/README.md", nil, http.StatusOK, ""},
	}); err != nil {
		return err
	}
	d.linef("The sibling and the parent keep working: their blocks were not revoked.")

	// Revoke the session.
	d.stepf("The platform revokes the whole session %s.", m.Session)
	if err := d.revoke(ctx, d.auth, map[string]string{"session": m.Session}, readerIDs[0]); err != nil {
		return err
	}
	if err := d.calls(ctx, []demoCall{
		{"orchestrator", sess, "get_file", "repo:acme/web/README.md", nil, http.StatusUnauthorized, ""},
		{"refunder", refunder, "refund", "order:acme/1004", map[string]any{"amount": 200}, http.StatusUnauthorized, ""},
	}); err != nil {
		return err
	}
	d.linef("Every token of the session stops: they all contain the revoked authority block.")

	fmt.Fprintln(out, "\nDone. Try it yourself: \"mandate authority serve\", then the walkthrough in the README,")
	fmt.Fprintln(out, "or \"mandate --help\" for the commands.")
	if keep {
		return keepConsole(ctx, out, auth)
	}
	return nil
}

// demoAdmin is the person --keep creates to sign in to the console.
const demoAdmin = "demo-admin@mandate.test"

// keepConsole leaves the authority and its console running until SIGINT
// or SIGTERM, with a demo admin person to sign in as.
func keepConsole(ctx context.Context, out io.Writer, auth *embeddedAuthority) error {
	_, cred, err := auth.Authority.AddPerson(ctx, authority.Principal{Admin: true}, people.Person{Name: demoAdmin, Role: people.RoleAdmin})
	if err != nil {
		return fmt.Errorf("demo: create the console's demo admin: %w", err)
	}
	fmt.Fprintf(out, "\nThe console is running on %s/console/\n", auth.URL)
	fmt.Fprintf(out, "Sign in with name %s and credential %s\n", demoAdmin, cred)
	fmt.Fprintln(out, "(a demo account of this temporary authority; press Ctrl-C to stop it)")
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}

// attenuate narrows tok with the caveats add writes, and prints the block.
func (d *demo) attenuate(tok, title string, add func(*attenuate.Builder)) (string, error) {
	b, err := attenuate.New(tok)
	if err != nil {
		return "", fmt.Errorf("demo: attenuate: %w", err)
	}
	add(b)
	out, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("demo: attenuate: %w", err)
	}
	u, err := token.ParseString(out)
	if err != nil {
		return "", fmt.Errorf("demo: attenuate: %w", err)
	}
	in := token.Inspect(u)
	last := in.Blocks[len(in.Blocks)-1]
	d.linef("%s  (%d blocks)", title, len(in.Blocks))
	for _, f := range last.Facts {
		d.linef("  %s", f)
	}
	for _, c := range last.Checks {
		d.linef("  %s", c)
	}
	return out, nil
}

// revoke revokes through the authority's API with c, then waits until the
// tool server's follower has applied the log up to the new entries, and
// checks that it holds id, the revocation ID that must now be denied.
func (d *demo) revoke(ctx context.Context, c *authClient, body map[string]string, id string) error {
	var answer struct {
		Entries []struct {
			Seq uint64 `json:"seq"`
		} `json:"entries"`
	}
	start := time.Now()
	if err := c.do(ctx, http.MethodPost, "/v1/revocations", body, &answer); err != nil {
		return fmt.Errorf("demo: revoke: %w", err)
	}
	var seq uint64
	for _, e := range answer.Entries {
		seq = max(seq, e.Seq)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.follower.WaitSeq(wctx, seq); err != nil {
		return fmt.Errorf("demo: the tool server did not see the revocation within 5s (%v)", err)
	}
	elapsed := time.Since(start)
	raw, err := hex.DecodeString(id)
	if err != nil || d.store.Revoked([][]byte{raw}) < 0 {
		return fmt.Errorf("demo: the tool server's revocation list lacks %.16s…", id)
	}
	entries := fmt.Sprintf("%d log entries", len(answer.Entries))
	if len(answer.Entries) == 1 {
		entries = "1 log entry"
	}
	d.linef("POST /v1/revocations  ->  %s, durable (seq %d). The tool server's follower", entries, seq)
	d.linef("had it %.1f ms after the request was sent.", float64(elapsed)/float64(time.Millisecond))
	return nil
}

// demoTool is a tool of the demo's tool server.
type demoTool struct{ name, service, op string }

var demoTools = []demoTool{
	{"get_file", "github", "read"},
	{"create_pull_request", "github", "write"},
	{"refund", "payments", "write"},
}

// demoCallBody is what an agent sends to the tool server.
type demoCallBody struct {
	Resource string         `json:"resource"`
	Args     map[string]any `json:"args,omitempty"`
}

type demoCall struct {
	who, tok, tool, resource string
	args                     map[string]any
	want                     int
	approval                 string // the Mandate-Approval header, if any
}

// calls makes each call and checks its status.
func (d *demo) calls(ctx context.Context, calls []demoCall) error {
	for _, c := range calls {
		status, reason, err := d.call(ctx, c)
		if err != nil {
			return err
		}
		desc := c.tool + " " + c.resource
		for _, k := range slices.Sorted(maps.Keys(c.args)) {
			desc += fmt.Sprintf(" %s=%v", k, c.args[k])
		}
		if c.approval != "" {
			desc += " +approval"
		}
		verdict := fmt.Sprintf("allowed (%d)", status)
		if status != http.StatusOK {
			verdict = fmt.Sprintf("denied (%d)", status)
		}
		d.linef("%-13s %-50s %s", c.who, desc, verdict)
		if reason != "" {
			d.linef("%-13s   %s", "", reason)
		}
		if status != c.want {
			return fmt.Errorf("demo: %s calling %s: status %d, expected %d", c.who, desc, status, c.want)
		}
	}
	return nil
}

// call sends one tool call with the token as a bearer token.
func (d *demo) call(ctx context.Context, c demoCall) (int, string, error) {
	b, err := json.Marshal(demoCallBody{Resource: c.resource, Args: c.args})
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.toolURL+"/tools/"+c.tool, bytes.NewReader(b))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.tok)
	req.Header.Set("Content-Type", "application/json")
	if c.approval != "" {
		req.Header.Set(approval.Header, c.approval)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("demo: tool server: %w", err)
	}
	defer resp.Body.Close()
	var answer struct {
		Description string `json:"error_description"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&answer)
	return resp.StatusCode, answer.Description, nil
}

// startToolServer starts an HTTP tool server on 127.0.0.1 whose verifier
// follows the authority at authURL, pinned to its root key. It returns once
// the follower synced.
func (d *demo) startToolServer(ctx context.Context, authURL string, root token.PublicKey, verifierCred string) (stop func(), err error) {
	d.store = revocation.NewMemory()
	keys := token.NewKeySet()
	f, err := follow.New(follow.Config{Authority: authURL, Store: d.store, Keys: keys, TrustAnchors: []token.PublicKey{root}})
	if err != nil {
		return nil, err
	}
	d.follower = f
	// Approvals are checked offline; each use is redeemed at the authority.
	red, err := approval.NewAuthorityRedeemer(authURL, d.http)
	if err != nil {
		return nil, err
	}
	approvals, err := approval.New(approval.Config{Redeemer: red})
	if err != nil {
		return nil, err
	}
	shipper, err := decisionlog.New(decisionlog.Config{URL: authURL, Credential: verifierCred, HTTPClient: d.http, FlushInterval: 50 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	v, err := verifier.New(verifier.Config{Keys: keys, Revocations: d.store, Fresh: f.Fresh, Approvals: approvals, Decisions: shipper})
	if err != nil {
		_ = shipper.Close(ctx)
		return nil, err
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	stopFollower, err := f.Start(wctx)
	if err != nil {
		return nil, fmt.Errorf("the follower did not sync with the authority: %w", err)
	}

	mux := http.NewServeMux()
	protect := verifier.Middleware(v, demoRequest, verifier.HTTPOptions{Realm: "demo-tools", ApprovalURL: authURL, ApprovalPageURL: authURL + "/console/approvals"})
	mux.Handle("POST /tools/{tool}", protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dec, _ := verifier.DecisionFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "tool": r.PathValue("tool"), "decision_id": dec.DecisionID})
	})))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		stopFollower()
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	d.toolURL = "http://" + ln.Addr().String()
	stop = func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		<-served
		_ = shipper.Close(sctx)
		stopFollower()
		_ = d.store.Close()
	}
	return stop, nil
}

// demoRequest maps a tool call to the verifier's request: the tool from
// the path, its service and operation from the tool table, the resource and
// arguments from the JSON body.
func demoRequest(r *http.Request) (verifier.Request, error) {
	name := r.PathValue("tool")
	var tool *demoTool
	for i := range demoTools {
		if demoTools[i].name == name {
			tool = &demoTools[i]
		}
	}
	if tool == nil {
		return verifier.Request{}, fmt.Errorf("no tool %q", name)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		return verifier.Request{}, err
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	var body demoCallBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return verifier.Request{}, fmt.Errorf("body: %w", err)
	}
	return verifier.Request{Service: tool.service, Tool: tool.name, Operation: tool.op, Resource: body.Resource, Args: body.Args}, nil
}

// approval plays the approval loop: a refund above the threshold stops;
// the refunder asks the authority with its own token, a person approves,
// and the retry with the approval goes through, once. It speaks the same
// API as "mandate approval request|list|approve|wait".
func (d *demo) approval(ctx context.Context, auth *embeddedAuthority, admin *authClient, refunder string) error {
	args := map[string]any{"amount": 400}
	d.stepf("A refund of 400 is above the refunder's approval threshold: it stops for a person.")
	if err := d.calls(ctx, []demoCall{{"refunder", refunder, "refund", "order:acme/1005", args, http.StatusForbidden, ""}}); err != nil {
		return err
	}
	var person struct {
		Credential string `json:"credential"`
	}
	if err := admin.do(ctx, http.MethodPost, "/v1/people", map[string]any{"name": "dana@acme.test", "role": "approver", "orgs": []string{"acme"}}, &person); err != nil {
		return fmt.Errorf("demo: add an approver: %w", err)
	}
	d.linef("The admin adds dana@acme.test, an approver for acme, with her own credential (mandate authority people add).")
	agent := &authClient{base: auth.URL, bearer: refunder, http: d.http}
	var q struct {
		ID     string `json:"id"`
		Digest string `json:"call_digest"`
	}
	if err := agent.do(ctx, http.MethodPost, "/v1/approvals", map[string]any{"service": "payments", "tool": "refund", "operation": "write",
		"resource": "order:acme/1005", "args": args, "note": "damaged in transit"}, &q); err != nil {
		return fmt.Errorf("demo: ask for approval: %w", err)
	}
	d.linef("The refunder asks with its own token (mandate approval request)  ->  request %s, call %s…", q.ID, q.Digest[:16])
	dana := &authClient{base: auth.URL, bearer: person.Credential, http: d.http}
	if err := dana.do(ctx, http.MethodPost, "/v1/approvals/"+q.ID+"/approve", map[string]string{"comment": "checked the photos"}, nil); err != nil {
		return fmt.Errorf("demo: approve: %w", err)
	}
	d.linef("dana approves it (mandate approval approve %s)", q.ID)
	var got struct {
		Status   string `json:"status"`
		Approval string `json:"approval"`
	}
	if err := agent.do(ctx, http.MethodGet, "/v1/approvals/"+q.ID+"?wait=10s", nil, &got); err != nil || got.Status != "approved" {
		return fmt.Errorf("demo: wait for the approval: %v (status %q)", err, got.Status)
	}
	d.linef("The refunder receives the approval (mandate approval wait %s): bound to this call, session and token, one use.", q.ID)
	if err := d.calls(ctx, []demoCall{
		{"refunder", refunder, "refund", "order:acme/1005", args, http.StatusOK, got.Approval},
		{"refunder", refunder, "refund", "order:acme/1005", args, http.StatusForbidden, got.Approval},
	}); err != nil {
		return err
	}
	d.linef("The approval was redeemed once at the authority: a replay is refused.")
	return nil
}

// revocationIDs returns a token's revocation IDs in hex.
func revocationIDs(tok string) ([]string, error) {
	u, err := token.ParseString(tok)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	var ids []string
	for _, id := range u.RevocationIDs() {
		ids = append(ids, hex.EncodeToString(id))
	}
	if len(ids) == 0 {
		return nil, errors.New("demo: token without blocks")
	}
	return ids, nil
}
