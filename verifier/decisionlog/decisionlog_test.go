package decisionlog_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/decisions"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/decisionlog"
)

const adminToken = "test-admin-token-0123456789abcdef"

// auth is a real authority (Badger on disk) served on addr.
type auth struct {
	a    *authority.Authority
	srv  *http.Server
	addr string
	done chan struct{}
}

// startAuthority opens the authority in dir and serves it on addr
// ("127.0.0.1:0" for any port).
func startAuthority(t *testing.T, dir, addr string) *auth {
	t.Helper()
	a, err := authority.Open(context.Background(), authority.Config{DataDir: dir, AdminToken: adminToken, AdminTokenOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	s := &auth{a: a, srv: &http.Server{Handler: authority.NewHandler(a)}, addr: ln.Addr().String(), done: make(chan struct{})}
	go func() { defer close(s.done); _ = s.srv.Serve(ln) }()
	t.Cleanup(s.stop)
	return s
}

func (s *auth) stop() {
	s.a.Shutdown()
	_ = s.srv.Close()
	<-s.done
	_ = s.a.Close()
}

func (s *auth) url() string { return "http://" + s.addr }

// credential creates a verifier credential through the API.
func (s *auth) credential(t *testing.T, name string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", s.url()+"/v1/verifiers", strings.NewReader(`{"name":"`+name+`"}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Credential string `json:"credential"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("add verifier: %d %v", resp.StatusCode, err)
	}
	return out.Credential
}

func (s *auth) stored(t *testing.T, f decisions.Filter) []decisions.Decision {
	t.Helper()
	var out []decisions.Decision
	q := decisions.Query{Filter: f, Limit: decisions.MaxLimit}
	for {
		p, err := s.a.Decisions().Query(context.Background(), q, decisions.Scope{All: true})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Decisions...)
		if p.Next == "" {
			return out
		}
		q.Cursor = p.Next
	}
}

// mintChain mints a session token at the authority and delegates it to a
// sub-agent that may only read.
func mintChain(t *testing.T, a *authority.Authority) (string, string) {
	t.Helper()
	m, err := a.Mint(context.Background(), authority.Principal{Admin: true}, authority.MintRequest{
		Agent: "support-bot", User: "alice@acme.test", Org: "acme", Session: "s_ship",
		Rights: []token.Right{{Service: "crm", Tool: "*", Operation: "*", Resource: "account:acme/"}}, TTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := attenuate.New(m.Token)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := b.DelegatedTo("reader").Tools("get_account").Build()
	if err != nil {
		t.Fatal(err)
	}
	return m.Token, sub
}

func newVerifier(t *testing.T, keys *token.KeySet, rec verifier.DecisionRecorder) *verifier.Verifier {
	t.Helper()
	v, err := verifier.New(verifier.Config{Keys: keys, InsecureNoRevocation: true, Decisions: rec})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func closeShipper(t *testing.T, s *decisionlog.Shipper) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestShipsEveryFieldButSecrets(t *testing.T) {
	s := startAuthority(t, t.TempDir(), "127.0.0.1:0")
	cred := s.credential(t, "crm-tools")
	sh, err := decisionlog.New(decisionlog.Config{URL: s.url(), Credential: cred, FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, sub := mintChain(t, s.a)
	v := newVerifier(t, s.a.KeySet(), sh)
	call := verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42", Args: map[string]any{"limit": 1, "secret_note": "hunter2"}}
	if d := v.Authorize(context.Background(), sub, call); !d.Allowed {
		t.Fatal(d.Reason)
	}
	call.Tool = "refund"
	denied := v.Authorize(context.Background(), sub, call)
	if denied.Allowed {
		t.Fatal("refund allowed")
	}
	v.Authorize(context.Background(), "not-a-token", call)
	closeShipper(t, sh)
	if st := sh.Stats(); st.Recorded != 3 || st.Shipped != 3 || st.Dropped != 0 {
		t.Fatalf("stats = %+v", st)
	}
	got := s.stored(t, decisions.Filter{Session: "s_ship"})
	if len(got) != 2 {
		t.Fatalf("%d decisions stored for the session, want 2", len(got))
	}
	d := got[0] // newest first: the denial
	u, _ := token.ParseString(sub)
	if d.ID != denied.DecisionID || d.Allowed || d.Kind != "caveat_denied" || d.Reason != denied.Reason ||
		d.FailedBlock == nil || *d.FailedBlock != 1 || d.CheckText == "" ||
		d.Service != "crm" || d.Tool != "refund" || d.Operation != "read" || d.Resource != "account:acme/42" ||
		strings.Join(d.ArgNames, ",") != "limit,secret_note" || d.Args != nil ||
		d.Agent != "support-bot" || d.User != "alice@acme.test" || d.Org != "acme" ||
		strings.Join(d.DelegatedTo, ",") != "reader" || len(d.RevocationIDs) != len(u.RevocationIDs()) || d.DurationNS <= 0 ||
		d.Verifier != "crm-tools" {
		t.Errorf("stored denial = %+v", d)
	}
	if all := s.stored(t, decisions.Filter{}); len(all) != 3 {
		t.Errorf("%d decisions stored, want 3 (with the unparsable token's)", len(all))
	}
	// Nothing secret: no token, no credential, no argument value.
	var buf strings.Builder
	if err := s.a.Decisions().Export(context.Background(), 0, decisions.Scope{All: true}, &buf); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{sub, sub[:40], cred, cred[len(cred)-20:], "hunter2"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("the log holds a secret (%.12s…)", secret)
		}
	}
}

func TestArgValuesOnlyWhenOptedIn(t *testing.T) {
	s := startAuthority(t, t.TempDir(), "127.0.0.1:0")
	sh, err := decisionlog.New(decisionlog.Config{URL: s.url(), Credential: s.credential(t, "v"), ArgValues: true})
	if err != nil {
		t.Fatal(err)
	}
	_, sub := mintChain(t, s.a)
	v := newVerifier(t, s.a.KeySet(), sh)
	v.Authorize(context.Background(), sub, verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/1", Args: map[string]any{"limit": 5}})
	closeShipper(t, sh)
	got := s.stored(t, decisions.Filter{Session: "s_ship"})
	if len(got) != 1 || string(got[0].Args) != `{"limit":5}` {
		t.Fatalf("stored = %+v", got)
	}
}

// A verifier whose authority is down keeps deciding: the buffer fills,
// the rest is dropped and counted; once the authority is back, retries
// deliver what was kept.
func TestDropsWhenDownAndRetriesWhenBack(t *testing.T) {
	dir := t.TempDir()
	first := startAuthority(t, dir, "127.0.0.1:0")
	addr, cred, keys := first.addr, first.credential(t, "v"), first.a.KeySet()
	_, sub := mintChain(t, first.a)
	first.stop()

	sh, err := decisionlog.New(decisionlog.Config{URL: "http://" + addr, Credential: cred, BufferSize: 10, BatchSize: 5,
		FlushInterval: time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, keys, sh)
	call := verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"}
	for range 200 {
		if d := v.Authorize(context.Background(), sub, call); !d.Allowed {
			t.Fatal(d.Reason)
		}
	}
	// Wait until the shipper has failed at least once (it is retrying).
	for sh.Stats().Retries == 0 {
		time.Sleep(time.Millisecond)
	}
	st := sh.Stats()
	if st.Recorded != 200 || st.Dropped < 200-10-5 || st.Shipped != 0 {
		t.Fatalf("while down: %+v (want at most a buffer and a batch kept, the rest dropped)", st)
	}

	back := startAuthority(t, dir, addr)
	for sh.Stats().Shipped+sh.Stats().Dropped < 200 {
		time.Sleep(time.Millisecond)
	}
	closeShipper(t, sh)
	st = sh.Stats()
	if st.Shipped == 0 || st.Shipped+st.Dropped+st.Rejected != st.Recorded {
		t.Fatalf("after the authority came back: %+v", st)
	}
	if n := uint64(len(back.stored(t, decisions.Filter{Session: "s_ship"}))); n != st.Shipped {
		t.Errorf("the authority holds %d decisions, the shipper says it shipped %d", n, st.Shipped)
	}
}

// Shipping never blocks a decision, even when the authority accepts the
// connection and never answers.
func TestNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer hang.Close()
	defer once.Do(func() { close(release) })
	sh, err := decisionlog.New(decisionlog.Config{URL: hang.URL, Credential: "mdv_x.y", BufferSize: 4, BatchSize: 2, FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := token.GenerateKey()
	m, _ := token.Mint(k, token.MintRequest{Subject: token.Subject{Agent: "a", Session: "s"}, Rights: []token.Right{{Service: "crm", Tool: "*", Operation: "*", Resource: ""}}, TTL: time.Hour})
	v := newVerifier(t, token.NewKeySet(k.Public()), sh)
	for range 1000 {
		v.Authorize(context.Background(), m.Token, verifier.Request{Service: "crm", Tool: "t", Operation: "read", Resource: "r"})
	}
	if st := sh.Stats(); st.Recorded != 1000 || st.Dropped < 1000-4-2 {
		t.Fatalf("stats = %+v", st)
	}
	once.Do(func() { close(release) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = sh.Close(ctx) // gives up at once: what is left is dropped and counted
	if st := sh.Stats(); st.Shipped+st.Dropped+st.Rejected != st.Recorded {
		t.Errorf("after Close: %+v", st)
	}
	// After Close, decisions are dropped and counted, never blocked on.
	v.Authorize(context.Background(), m.Token, verifier.Request{Service: "crm", Tool: "t", Operation: "read", Resource: "r"})
	if st := sh.Stats(); st.Recorded != 1001 || st.Shipped+st.Dropped+st.Rejected != st.Recorded {
		t.Errorf("after Close: %+v", st)
	}
}

// A batch the authority refuses as invalid is dropped and counted, not
// retried for ever; a wrong credential is retried (the admin may create it).
func TestRejectedAndUnauthorized(t *testing.T) {
	s := startAuthority(t, t.TempDir(), "127.0.0.1:0")
	sh, err := decisionlog.New(decisionlog.Config{URL: s.url(), Credential: "mdv_nobody.secret", FlushInterval: time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, sub := mintChain(t, s.a)
	v := newVerifier(t, s.a.KeySet(), sh)
	v.Authorize(context.Background(), sub, verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/1"})
	for sh.Stats().Retries < 3 {
		time.Sleep(time.Millisecond)
	}
	if st := sh.Stats(); st.Shipped != 0 || st.Rejected != 0 {
		t.Fatalf("unauthorized: %+v, want retries only", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = sh.Close(ctx)

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"no"}`))
	}))
	defer bad.Close()
	sh, _ = decisionlog.New(decisionlog.Config{URL: bad.URL, Credential: "mdv_x.y", FlushInterval: time.Millisecond})
	v = newVerifier(t, s.a.KeySet(), sh)
	v.Authorize(context.Background(), sub, verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/1"})
	closeShipper(t, sh)
	if st := sh.Stats(); st.Rejected != 1 || st.Retries != 0 {
		t.Errorf("refused batch: %+v", st)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []decisionlog.Config{{Credential: "x"}, {URL: "ftp://x", Credential: "x"}, {URL: "http://127.0.0.1:1"}} {
		if _, err := decisionlog.New(c); err == nil {
			t.Errorf("New(%+v) = nil error", c)
		}
	}
}
