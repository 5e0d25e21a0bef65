package usage_test

import (
	"context"
	"io"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/revocation"
	"github.com/mandate-dev/mandate/verifier/usage"
)

// clock is a settable clock shared by an authority and its verifiers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	// The start of an hour: hourly windows begin with the test.
	return &clock{t: time.Now().UTC().Truncate(time.Hour).Add(time.Second)}
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	a     *authority.Authority
	url   string
	srv   *httptest.Server
	clock *clock
}

// newEnv runs an authority (Badger on disk) over HTTP on 127.0.0.1.
func newEnv(t testing.TB, c *clock) *env {
	t.Helper()
	cfg := authority.Config{DataDir: t.TempDir(), AdminTokenOutput: io.Discard}
	if c != nil {
		cfg.Now = c.Now
	}
	a, err := authority.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(authority.NewHandler(a))
	t.Cleanup(func() {
		srv.Close()
		a.Shutdown()
		_ = a.Close()
	})
	return &env{a: a, url: srv.URL, srv: srv, clock: c}
}

var crm = token.Right{Service: "crm", Tool: "*", Operation: "*", Resource: "account:acme/"}

func (e *env) mint(t testing.TB, limits ...token.Limit) string {
	t.Helper()
	m, err := e.a.Mint(context.Background(), authority.Principal{Admin: true}, authority.MintRequest{
		Agent: "support-bot", Org: "acme", Rights: []token.Right{crm}, TTL: time.Hour, Limits: limits,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m.Token
}

func limit(t testing.TB, spec string) token.Limit {
	t.Helper()
	l, err := token.ParseLimit(spec)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// attenuated appends a block declaring the limits.
func attenuated(t testing.TB, tok string, now func() time.Time, limits ...string) string {
	t.Helper()
	b, err := attenuate.New(tok, attenuate.WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range limits {
		b.Limit(limit(t, s))
	}
	if len(limits) == 0 {
		b.DelegatedTo("sub-agent")
	}
	out, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// verifierFor returns a verifier that enforces limits through the
// authority's ledger, and its Enforcer.
func (e *env) verifier(t testing.TB, mut ...func(*usage.Config)) (*verifier.Verifier, *usage.Enforcer) {
	t.Helper()
	r, err := usage.NewRemote(e.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := usage.Config{Leaser: r, IdleReturn: -1}
	if e.clock != nil {
		cfg.Now = e.clock.Now
	}
	for _, m := range mut {
		m(&cfg)
	}
	enf, err := usage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = enf.Close() })
	vcfg := verifier.Config{Keys: e.a.KeySet(), Revocations: revocation.NewMemory(), Limits: enf}
	if e.clock != nil {
		vcfg.Now = e.clock.Now
	}
	v, err := verifier.New(vcfg)
	if err != nil {
		t.Fatal(err)
	}
	return v, enf
}

func call(tool string, args map[string]any) verifier.Request {
	return verifier.Request{Service: "crm", Tool: tool, Operation: "write", Resource: "account:acme/42", Args: args}
}

func (e *env) usage(t testing.TB, tok string) map[string]usageRow {
	t.Helper()
	us, err := e.a.LimitUsage(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]usageRow{}
	for _, u := range us {
		out[u.Limit.String()+"@"+itoa(u.Block)] = usageRow{Used: u.Used, Spent: u.Spent, Held: u.Held}
	}
	return out
}

type usageRow struct{ Used, Spent, Held int64 }

func itoa(i int) string { return string(rune('0' + i)) }
