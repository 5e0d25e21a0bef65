package verifier

import (
	"context"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/verifier/revocation"

	"github.com/mandate-dev/mandate/internal/tokentest"

	"github.com/mandate-dev/mandate/token"
)

// noRevocations is a RevocationChecker that revokes nothing.
type noRevocations struct{}

func (noRevocations) Revoked([][]byte) int { return -1 }

// revoke adds ids to a revocation store, as the follower would.
func revoke(t testing.TB, s *revocation.Memory, ids ...[]byte) {
	t.Helper()
	for _, id := range ids {
		if err := s.Add(context.Background(), revocation.Entry{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
}

// testAuthority mints tokens with a fresh key.
type testAuthority struct {
	key token.SigningKey
}

func newTestAuthority(t testing.TB) *testAuthority {
	t.Helper()
	k, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &testAuthority{key: k}
}

func (a *testAuthority) keys() *token.KeySet { return token.NewKeySet(a.key.Public()) }

func (a *testAuthority) mint(t testing.TB, ttl time.Duration, rights ...token.Right) string {
	t.Helper()
	if len(rights) == 0 {
		rights = []token.Right{{Service: "crm", Tool: "*", Operation: "*", Resource: "account:acme/"}}
	}
	m, err := token.Mint(a.key, token.MintRequest{
		Subject: token.Subject{Agent: "support-bot", User: "alice@acme.test", Org: "acme"},
		Rights:  rights,
		TTL:     ttl,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m.Token
}

// appendBlock appends Datalog with biscuit-go, as any token holder can.
func appendBlock(t testing.TB, tok, src string) string {
	t.Helper()
	return tokentest.AppendDatalog(t, tok, src)
}

func newVerifier(t testing.TB, a *testAuthority, mut ...func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{Keys: a.keys(), Revocations: noRevocations{}}
	for _, m := range mut {
		m(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var readAccount = Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"}

// fourBlocks returns a typical 4-block delegation chain.
func fourBlocks(t testing.TB, a *testAuthority) string {
	tok := a.mint(t, time.Hour)
	tok = appendBlock(t, tok, `check if tool($t), ["get_account", "list_invoices"].contains($t); delegated_to("triage")`)
	tok = appendBlock(t, tok, `check if resource($r), $r.starts_with("account:acme/42")`)
	tok = appendBlock(t, tok, `check if tool($t), !($t == "refund") or arg("amount", $a), $a <= 500; check if time($t), $t <= 2099-01-01T00:00:00Z`)
	return tok
}
