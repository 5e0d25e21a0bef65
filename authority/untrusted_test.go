package authority_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/internal/tokentest"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// An attenuation block is attacker-controlled (DESIGN.md, invariant 9). A
// block that states an expiry and satisfies it with its own time fact is
// ignored by every verifier (Biscuit scoping: the block's facts satisfy its
// own check), so its "expiry" must not decide how long a revocation is
// kept, nor tell the authority that the token is dead.
func TestAttenuationExpiryIsNotTrusted(t *testing.T) {
	c := newClock()
	e := newEnv(t, withClock(c))
	m := e.mint(adminToken, crmMint("s_untrusted"))
	trusted := m.ExpiresAt

	fake := func(d time.Time) string {
		return tokentest.AppendDatalog(t, m.Token,
			`time(2000-01-01T00:00:00Z); check if time($t), $t <= `+d.UTC().Format(time.RFC3339))
	}

	tests := []struct {
		name string
		tok  string
	}{
		// D in the past: the authority used to answer already_expired
		// and revoke nothing, while every verifier kept allowing it.
		{"expiry in the past", fake(c.Now().Add(-24 * time.Hour))},
		// D soon: the entry used to be purged at D, and the token
		// allowed again while still valid.
		{"expiry soon", fake(c.Now().Add(time.Minute))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Verifiers allow it: the block's own time fact satisfies
			// its check.
			if d := e.verifierFor(t, c.Now).Authorize(t.Context(), tt.tok, crmRead); !d.Allowed {
				t.Fatalf("verifier denies the faked-expiry token: %s", d.Reason)
			}
			// Introspection reports it active, with the trusted expiry.
			in := e.introspect(adminToken, tt.tok)
			if in["active"] != true || in["exp"] != expUnix(t, trusted) {
				t.Errorf("introspect = %v, want active with exp of the authority block (%s)", in, trusted)
			}
			rr := e.revoke("", map[string]string{"token": tt.tok})
			if rr.Expired || rr.Created != 1 || len(rr.Entries) != 1 {
				t.Fatalf("revoke = %+v, want one new entry", rr)
			}
			if got := rr.Entries[0].ExpiresAt; got != trusted {
				t.Errorf("entry kept until %s, want the token's trusted expiry %s", got, trusted)
			}
		})
	}

	// The entry outlives the fake expiry: pruning one minute later keeps it.
	c.Advance(2*time.Minute + authority.RetentionGrace)
	e.a.Prune()
	if f := e.feed(0); len(f.Entries) != 2 {
		t.Errorf("feed after the fake expiry has %d entries, want 2 (kept until the trusted expiry)", len(f.Entries))
	}
	if got := e.introspect(adminToken, tests[1].tok)["active"]; got != false {
		t.Errorf("revoked token active = %v", got)
	}
	if r := e.do(http.MethodGet, "/healthz", "", nil); r.status != http.StatusOK {
		t.Errorf("healthz = %d", r.status)
	}
}

// verifierFor is a verifier of e's keys that follows e's revocation feed
// once, now.
func (e *env) verifierFor(t *testing.T, now func() time.Time) *verifier.Verifier {
	t.Helper()
	store := revocation.NewMemory()
	e.follow(store)
	v, err := verifier.New(verifier.Config{Keys: e.keySet(), Revocations: store, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func expUnix(t *testing.T, rfc string) float64 {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, rfc)
	if err != nil {
		t.Fatal(err)
	}
	return float64(ts.Unix())
}
