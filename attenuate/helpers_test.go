package attenuate_test

import (
	"context"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/internal/tokentest"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// t0 is the fixed "now" of every test: the authority mints at t0, builders
// and verifiers run at t0 unless a test moves a clock.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func clockAt(t time.Time) func() time.Time { return func() time.Time { return t } }

// authority mints tokens with a fresh key and verifies them with a verifier
// that trusts only that key.
type authority struct {
	key token.SigningKey
}

func newAuthority(t testing.TB) *authority {
	t.Helper()
	k, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &authority{key: k}
}

// broadRights are the rights of the orchestrator's token in most tests.
var broadRights = []token.Right{
	{Service: "crm", Tool: "*", Operation: "*", Resource: "account:acme/"},
	{Service: "billing", Tool: "*", Operation: "*", Resource: "account:acme/"},
}

func (a *authority) mint(t testing.TB, rights ...token.Right) string {
	t.Helper()
	if len(rights) == 0 {
		rights = broadRights
	}
	m, err := token.Mint(a.key, token.MintRequest{
		Subject: token.Subject{Agent: "orchestrator", User: "alice@acme.test", Org: "acme"},
		Rights:  rights,
		TTL:     time.Hour,
		Now:     t0,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m.Token
}

// verifier returns a verifier trusting a's key whose clock reads now.
func (a *authority) verifier(t testing.TB, now time.Time) *verifier.Verifier {
	t.Helper()
	v, err := verifier.New(verifier.Config{
		Keys:                 token.NewKeySet(a.key.Public()),
		InsecureNoRevocation: true,
		CacheSize:            -1,
		Now:                  clockAt(now),
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (a *authority) authorize(t testing.TB, tok string, req verifier.Request) verifier.Decision {
	t.Helper()
	return a.verifier(t, t0).Authorize(context.Background(), tok, req)
}

// build attenuates tok with the caveats fn adds, at t0, and fails the test
// on error.
func build(t testing.TB, tok string, fn func(*attenuate.Builder)) string {
	t.Helper()
	b, err := attenuate.New(tok, attenuate.WithClock(clockAt(t0)))
	if err != nil {
		t.Fatal(err)
	}
	fn(b)
	out, err := b.Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return out
}

// lastBlock returns the Datalog of the token's last block: checks, then
// facts.
func lastBlock(t testing.TB, tok string) (checks, facts []string) {
	t.Helper()
	u, err := token.ParseString(tok)
	if err != nil {
		t.Fatal(err)
	}
	blocks := u.UnsafeBlocks()
	last := blocks[len(blocks)-1]
	for _, c := range last.Checks {
		checks = append(checks, c.String())
	}
	for _, f := range last.Facts {
		facts = append(facts, f.String())
	}
	return checks, facts
}

// Requests used across tests.
var (
	getAccount42 = verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"}
	listInvoices = verifier.Request{Service: "billing", Tool: "list_invoices", Operation: "read", Resource: "account:acme/42/invoices"}
)

func refund(amount any) verifier.Request {
	r := verifier.Request{Service: "billing", Tool: "refund", Operation: "write", Resource: "account:acme/42"}
	if amount != nil {
		r.Args = map[string]any{"amount": amount}
	}
	return r
}

func hintOf(t testing.TB, tok string) (uint32, bool) {
	t.Helper()
	u, err := token.ParseString(tok)
	if err != nil {
		t.Fatal(err)
	}
	return u.RootKeyIDHint()
}

// appendRaw appends a block of Datalog source with biscuit-go directly, as
// any token holder can without this package's validation: the widening
// tests use it.
func appendRaw(t testing.TB, tok, src string) string {
	t.Helper()
	return tokentest.AppendDatalog(t, tok, src)
}
