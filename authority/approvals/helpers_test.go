package approvals_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/approvals"
	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/approval"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

const adminToken = "approvals-test-admin-token-0123456789abcdef"

// clock is a settable clock shared by the authority and the verifiers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is an authority (Badger on disk) served on 127.0.0.1, with people.
type env struct {
	t     testing.TB
	a     *authority.Authority
	url   string
	clock *clock
	log   *syncBuffer
	dir   string
	// Credentials of people: alice and bob approve for acme, carol for
	// globex, vic views acme, root is an admin person.
	alice, bob, carol, vic, root string
}

func newEnv(t testing.TB, cfg approvals.Config) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}, log: &syncBuffer{}, dir: t.TempDir()}
	logger := zerolog.New(e.log)
	a, err := authority.Open(context.Background(), authority.Config{
		DataDir: e.dir, AdminToken: adminToken, AdminTokenOutput: io.Discard,
		Now: e.clock.Now, Logger: &logger, Approvals: cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.a, e.url = a, serve(t, a)
	for _, p := range []struct {
		cred *string
		p    people.Person
	}{
		{&e.alice, people.Person{Name: "alice@acme.test", Role: people.RoleApprover, Orgs: []string{"acme"}}},
		{&e.bob, people.Person{Name: "bob@acme.test", Role: people.RoleApprover, Orgs: []string{"acme"}}},
		{&e.carol, people.Person{Name: "carol@globex.test", Role: people.RoleApprover, Orgs: []string{"globex"}}},
		{&e.vic, people.Person{Name: "vic@acme.test", Role: people.RoleViewer, Orgs: []string{"acme"}}},
		{&e.root, people.Person{Name: "root@mandate.test", Role: people.RoleAdmin}},
	} {
		cred, err := a.People().Create(context.Background(), p.p)
		if err != nil {
			t.Fatal(err)
		}
		*p.cred = cred
	}
	return e
}

// serve serves a on 127.0.0.1 until the test ends, and returns its URL.
func serve(t testing.TB, a *authority.Authority) string {
	srv := httptest.NewServer(authority.NewHandler(a))
	t.Cleanup(func() {
		a.Shutdown()
		srv.Close()
		_ = a.Close()
	})
	return srv.URL
}

// mint mints a token for an agent of org acme, with the right to refund
// and read orders of acme.
func (e *env) mint(session string) string {
	e.t.Helper()
	res, err := e.a.Mint(context.Background(), authority.Principal{Admin: true}, authority.MintRequest{
		Agent: "support-bot", User: "ursula@acme.test", Org: "acme", Session: session,
		Rights: []token.Right{{Service: "payments", Tool: "*", Operation: "*", Resource: "order:acme/"}},
		TTL:    time.Hour,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Token
}

// attenuate narrows tok with add, delegating to name.
func (e *env) attenuate(tok, name string, add func(*attenuate.Builder)) string {
	e.t.Helper()
	b, err := attenuate.New(tok, attenuate.WithClock(e.clock.Now))
	if err != nil {
		e.t.Fatal(err)
	}
	add(b)
	out, err := b.DelegatedTo(name).Build()
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// refunder is a sub-agent token whose refunds above 100 need approval by
// any approver of acme.
func (e *env) refunder(parent string) string {
	return e.attenuate(parent, "refunder", func(b *attenuate.Builder) {
		b.RequireApproval("refund", attenuate.Above("amount", 100), attenuate.ApprovedByOrg())
	})
}

func refund(order string, amount int) approvals.Call {
	return approvals.Call{Service: "payments", Tool: "refund", Operation: "write", Resource: "order:acme/" + order, Args: map[string]any{"amount": amount}}
}

func vreq(c approvals.Call) verifier.Request {
	return verifier.Request{Service: c.Service, Tool: c.Tool, Operation: c.Operation, Resource: c.Resource, Args: c.Args}
}

// do sends a JSON request to the authority and decodes the answer.
func (e *env) do(method, path, bearer string, body any, out any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return res.StatusCode, m
}

// ask files a request over HTTP and wants 201.
func (e *env) ask(tok string, c approvals.Call, maxUses int) approvals.Request {
	e.t.Helper()
	var q approvals.Request
	st, m := e.do("POST", "/v1/approvals", tok, askBody(c, maxUses), &q)
	if st != http.StatusCreated {
		e.t.Fatalf("ask: %d %v", st, m)
	}
	return q
}

func askBody(c approvals.Call, maxUses int) map[string]any {
	return map[string]any{"service": c.Service, "tool": c.Tool, "operation": c.Operation, "resource": c.Resource, "args": c.Args, "max_uses": maxUses}
}

// approve approves over HTTP as cred and returns the encoded approval.
func (e *env) approve(cred, id string) string {
	e.t.Helper()
	var q approvals.Request
	st, m := e.do("POST", "/v1/approvals/"+id+"/approve", cred, map[string]any{"comment": "ok"}, &q)
	if st != http.StatusOK || q.Approval == "" {
		e.t.Fatalf("approve %s: %d %v", id, st, m)
	}
	return q.Approval
}

// verifier is a tool server's verifier that redeems at the authority
// over HTTP.
func (e *env) verifier(client *http.Client) *verifier.Verifier {
	e.t.Helper()
	red, err := approval.NewAuthorityRedeemer(e.url, client)
	if err != nil {
		e.t.Fatal(err)
	}
	chk, err := approval.New(approval.Config{Redeemer: red})
	if err != nil {
		e.t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Keys: e.a.KeySet(), Revocations: revocation.NewMemory(), Now: e.clock.Now, Approvals: chk})
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func wantKind(t testing.TB, what string, d verifier.Decision, k verifier.Kind, reason string) {
	t.Helper()
	if d.Allowed || d.Kind() != k || !strings.Contains(d.Reason, reason) {
		t.Fatalf("%s: allowed=%v kind=%q reason=%q; want kind %q, reason containing %q", what, d.Allowed, d.Kind(), d.Reason, k, reason)
	}
}

// signingKey reads the authority's only root key from its data folder.
func (e *env) signingKey() token.SigningKey {
	e.t.Helper()
	files, err := filepath.Glob(filepath.Join(e.dir, "keys", "*.pem"))
	if err != nil || len(files) != 1 {
		e.t.Fatalf("key files %v (%v)", files, err)
	}
	pem, err := os.ReadFile(files[0])
	if err != nil {
		e.t.Fatal(err)
	}
	priv, err := token.ParsePrivateKey(pem)
	if err != nil {
		e.t.Fatal(err)
	}
	k := token.NewSigningKey(priv)
	k.ID = e.a.Keys()[0].ID
	return k
}

func adminPrincipal() authority.Principal { return authority.Principal{Admin: true} }
