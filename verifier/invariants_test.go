package verifier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/verifier/revocation"

	"github.com/mandate-dev/mandate/internal/tokentest"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/mandate-dev/mandate/token"
)

func mustDeny(t *testing.T, d Decision, want ...error) {
	t.Helper()
	if d.Allowed {
		t.Fatalf("allowed, want deny")
	}
	if !errors.Is(d.Err, ErrDenied) {
		t.Errorf("Err = %v, want it to match ErrDenied", d.Err)
	}
	for _, w := range want {
		if !errors.Is(d.Err, w) {
			t.Errorf("Err = %v, want it to match %v", d.Err, w)
		}
	}
	if d.Reason == "" || d.DecisionID == "" {
		t.Errorf("denial without reason or decision ID: %+v", d)
	}
}

func mustAllow(t *testing.T, d Decision) {
	t.Helper()
	if !d.Allowed || d.Err != nil {
		t.Fatalf("denied: %s (%v)", d.Reason, d.Err)
	}
}

// Invariant 1: fail closed. Every kind of bad input is a deny with a reason.
func TestFailClosed(t *testing.T) {
	a := newTestAuthority(t)
	good := a.mint(t, time.Hour)
	raw, _ := token.Decode(good)
	flipped := bytes.Clone(raw)
	flipped[len(flipped)/2] ^= 0x40
	expired := func() string {
		m, err := token.Mint(a.key, token.MintRequest{
			Subject: token.Subject{Agent: "a"}, TTL: time.Minute, Now: time.Now().Add(-time.Hour),
			Rights: []token.Right{{Service: "crm", Tool: "*", Operation: "*", Resource: ""}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return m.Token
	}()
	other := newTestAuthority(t).mint(t, time.Hour)
	v4 := tokentest.AppendRawBlock(t, good, mustMarshal(t, &pb.Block{Version: proto.Uint32(4)}))

	tests := []struct {
		name string
		tok  string
		req  Request
		ctx  context.Context
		cfg  func(*Config)
		want []error
	}{
		{name: "empty", tok: "", want: []error{token.ErrMalformed}},
		{name: "garbage", tok: "not a token!", want: []error{token.ErrMalformed}},
		{name: "base64 garbage", tok: token.Encode([]byte("hello world")), want: []error{token.ErrMalformed}},
		{name: "truncated", tok: token.Encode(raw[:len(raw)-10]), want: []error{token.ErrInvalid}},
		{name: "tampered", tok: token.Encode(flipped), want: []error{token.ErrInvalid}},
		{name: "oversized", tok: strings.Repeat("A", token.MaxEncodedBytes+1), want: []error{token.ErrTooLarge}},
		{name: "expired", tok: expired, want: []error{token.ErrExpired}},
		{name: "wrong key", tok: other, want: []error{token.ErrUnknownKey}},
		{name: "newer block version", tok: v4, want: []error{token.ErrUnsupported}},
		{name: "no trusted keys", tok: good, cfg: func(c *Config) { c.Keys = token.NewKeySet() }, want: []error{token.ErrUnknownKey}},
		{name: "stale revocations", tok: good, cfg: func(c *Config) { c.Fresh = func() error { return errors.New("no sync for 2m") } }, want: []error{ErrStale}},
		{name: "canceled context", tok: good, ctx: canceled(), want: []error{ErrCanceled}},
		{name: "no service", tok: good, req: Request{Tool: "t", Operation: "o"}, want: []error{ErrBadRequest}},
		{name: "float argument", tok: good, req: Request{Service: "crm", Tool: "t", Operation: "o", Resource: "account:acme/1", Args: map[string]any{"amount": 1.5}}, want: []error{ErrBadRequest}},
		{name: "nested list argument", tok: good, req: Request{Service: "crm", Tool: "t", Operation: "o", Resource: "account:acme/1", Args: map[string]any{"x": []any{[]any{1}}}}, want: []error{ErrBadRequest}},
		{name: "no right", tok: good, req: Request{Service: "billing", Tool: "t", Operation: "o", Resource: "account:acme/1"}, want: []error{ErrNoRight}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, a, func(c *Config) {
				if tt.cfg != nil {
					tt.cfg(c)
				}
			})
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			req := tt.req
			if req.Service == "" && req.Tool == "" {
				req = readAccount
			}
			mustDeny(t, v.Authorize(ctx, tt.tok, req), tt.want...)
		})
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewRequiresRevocations(t *testing.T) {
	if _, err := New(Config{Keys: token.NewKeySet()}); err == nil {
		t.Fatal("New without Revocations succeeded; want an error unless InsecureNoRevocation")
	}
	if _, err := New(Config{Keys: token.NewKeySet(), InsecureNoRevocation: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Revocations: noRevocations{}}); err == nil {
		t.Fatal("New without Keys succeeded")
	}
}

// Invariant 2: signature first. A token whose chain does not verify is never
// decided from, whatever its Datalog says; and a cached chain stops counting
// once its root key is no longer trusted.
func TestSignatureFirst(t *testing.T) {
	a := newTestAuthority(t)
	v := newVerifier(t, a)
	ctx := context.Background()
	good := fourBlocks(t, a)
	mustAllow(t, v.Authorize(ctx, good, readAccount))

	raw, _ := token.Decode(good)
	var c pb.Biscuit
	if err := proto.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	t.Run("block signature replaced", func(t *testing.T) {
		cc := proto.Clone(&c).(*pb.Biscuit)
		cc.Blocks[1].Signature = bytes.Repeat([]byte{1}, 64)
		mustDeny(t, v.Authorize(ctx, token.Encode(mustMarshal(t, cc)), readAccount), token.ErrSignature)
	})
	t.Run("authority rights forged", func(t *testing.T) {
		// Re-sign a forged authority block with a key of our own.
		forged := newTestAuthority(t).mint(t, time.Hour, token.Right{Service: "crm", Tool: "*", Operation: "*", Resource: ""})
		mustDeny(t, v.Authorize(ctx, forged, readAccount), token.ErrUnknownKey)
	})
	t.Run("block dropped", func(t *testing.T) {
		cc := proto.Clone(&c).(*pb.Biscuit)
		cc.Blocks = cc.Blocks[:1]
		mustDeny(t, v.Authorize(ctx, token.Encode(mustMarshal(t, cc)), readAccount), token.ErrSignature)
	})
	t.Run("proof of another token", func(t *testing.T) {
		other, _ := token.Decode(fourBlocks(t, a))
		var oc pb.Biscuit
		if err := proto.Unmarshal(other, &oc); err != nil {
			t.Fatal(err)
		}
		cc := proto.Clone(&c).(*pb.Biscuit)
		cc.Proof = oc.Proof
		mustDeny(t, v.Authorize(ctx, token.Encode(mustMarshal(t, cc)), readAccount), token.ErrSignature)
	})
	t.Run("cached chain after key removal", func(t *testing.T) {
		keys := a.keys()
		v := newVerifier(t, a, func(c *Config) { c.Keys = keys })
		mustAllow(t, v.Authorize(ctx, good, readAccount))
		keys.Set()
		mustDeny(t, v.Authorize(ctx, good, readAccount))
	})
	t.Run("cached chain after key retirement", func(t *testing.T) {
		keys := a.keys()
		now := time.Now()
		v := newVerifier(t, a, func(c *Config) { c.Keys = keys; c.Now = func() time.Time { return now } })
		mustAllow(t, v.Authorize(ctx, good, readAccount))
		pub := a.key.Public()
		pub.NotAfter = now.Add(-time.Second)
		keys.Set(pub)
		mustDeny(t, v.Authorize(ctx, good, readAccount))
	})
}

// Invariant 3: revocation of any block, before Datalog, on cold and warm
// paths alike; revoking a block revokes every token attenuated from it and
// nothing above it.
func TestRevocationBeforeDatalog(t *testing.T) {
	a := newTestAuthority(t)
	ctx := context.Background()
	parent := a.mint(t, time.Hour)
	child := appendBlock(t, parent, `check if resource($r), $r.starts_with("account:acme/42")`)
	grandchild := appendBlock(t, child, `check if operation("read")`)
	sibling := appendBlock(t, parent, `check if operation("read")`)
	childIDs := mustParse(t, child).RevocationIDs()

	revoked := revocation.NewMemory()
	v := newVerifier(t, a, func(c *Config) { c.Revocations = revoked })
	for _, tok := range []string{parent, child, grandchild, sibling} {
		mustAllow(t, v.Authorize(ctx, tok, readAccount)) // now cached
	}
	revoke(t, revoked, childIDs[1])
	mustDeny(t, v.Authorize(ctx, child, readAccount), ErrRevoked)
	mustDeny(t, v.Authorize(ctx, grandchild, readAccount), ErrRevoked)
	mustAllow(t, v.Authorize(ctx, parent, readAccount))
	mustAllow(t, v.Authorize(ctx, sibling, readAccount))

	// Revocation is decided before any Datalog runs: a revoked join bomb
	// is denied as revoked.
	bomb := worstCaseTokens(t, a)["join"]
	revoke(t, revoked, mustParse(t, bomb).RevocationIDs()[0])
	mustDeny(t, v.Authorize(ctx, bomb, readAccount), ErrRevoked)
	// Revoking the authority block revokes everything.
	revoke(t, revoked, childIDs[0])
	for _, tok := range []string{parent, child, grandchild, sibling} {
		mustDeny(t, v.Authorize(ctx, tok, readAccount), ErrRevoked)
	}
}

func mustParse(t testing.TB, tok string) *token.Unverified {
	t.Helper()
	u, err := token.ParseString(tok)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Invariant 4: the verifier owns the request facts. Facts in attenuation
// blocks never stand in for time, service, tool, operation, resource or arg
// outside their own block, and never for the authority's checks or policy.
func TestVerifierOwnsRequestFacts(t *testing.T) {
	a := newTestAuthority(t)
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	tok := a.mint(t, time.Hour)

	t.Run("time fact cannot revive an expired token", func(t *testing.T) {
		v := newVerifier(t, a, func(c *Config) { c.Now = func() time.Time { return now.Add(2 * time.Hour) } })
		forged := appendBlock(t, tok, `time(2000-01-01T00:00:00Z); check if time($t), $t <= 2001-01-01T00:00:00Z`)
		mustDeny(t, v.Authorize(ctx, forged, readAccount), token.ErrExpired)
	})
	t.Run("tool fact cannot satisfy another block's check", func(t *testing.T) {
		v := newVerifier(t, a, func(c *Config) { c.Now = clock })
		narrowed := appendBlock(t, tok, `check if tool("refund")`)
		forged := appendBlock(t, narrowed, `tool("refund"); operation("write"); resource("account:acme/1")`)
		d := v.Authorize(ctx, forged, readAccount)
		mustDeny(t, d, ErrCheckFailed)
		if d.FailedCheck == nil || d.FailedCheck.Block != 1 || !strings.Contains(d.FailedCheck.Text, `tool("refund")`) {
			t.Fatalf("FailedCheck = %+v, want block 1's tool check", d.FailedCheck)
		}
	})
	t.Run("resource fact cannot widen the policy", func(t *testing.T) {
		v := newVerifier(t, a, func(c *Config) { c.Now = clock })
		forged := appendBlock(t, tok, `resource("account:acme/1"); service("crm")`)
		out := Request{Service: "crm", Tool: "get", Operation: "read", Resource: "account:other/1"}
		mustDeny(t, v.Authorize(ctx, forged, out), ErrNoRight)
	})
	t.Run("arg fact cannot satisfy an argument bound", func(t *testing.T) {
		v := newVerifier(t, a, func(c *Config) { c.Now = clock })
		bound := appendBlock(t, tok, `check if arg("amount", $a), $a <= 500`)
		forged := appendBlock(t, bound, `arg("amount", 1)`)
		req := readAccount
		req.Args = map[string]any{"amount": 10000}
		mustDeny(t, v.Authorize(ctx, forged, req), ErrCheckFailed)
		req.Args = map[string]any{"amount": 400}
		mustAllow(t, v.Authorize(ctx, forged, req))
	})
	t.Run("clock is the verifier's", func(t *testing.T) {
		v := newVerifier(t, a, func(c *Config) { c.Now = clock })
		until := appendBlock(t, tok, fmt.Sprintf(`check if time($t), $t <= %s`, now.Add(time.Minute).UTC().Format(time.RFC3339)))
		mustAllow(t, v.Authorize(ctx, until, readAccount))
		later := newVerifier(t, a, func(c *Config) { c.Now = func() time.Time { return now.Add(2 * time.Minute) } })
		// An attenuation block's expiry makes the token expired, as
		// Authenticate says: a token problem, not a caveat on the call.
		mustDeny(t, later.Authorize(ctx, until, readAccount), token.ErrExpired)
	})
	t.Run("list argument must hold for every element", func(t *testing.T) {
		v := newVerifier(t, a, func(c *Config) { c.Now = clock })
		only := appendBlock(t, tok, `check if arg("to", $to), ["bob@acme.test", "carol@acme.test"].contains($to)`)
		req := readAccount
		req.Args = map[string]any{"to": []string{"bob@acme.test", "eve@evil.test"}}
		mustDeny(t, v.Authorize(ctx, only, req), ErrCheckFailed)
		req.Args = map[string]any{"to": []string{"bob@acme.test", "carol@acme.test"}}
		mustAllow(t, v.Authorize(ctx, only, req))
		// A check written for one scalar cannot be met by a list.
		scalar := appendBlock(t, tok, `check if arg("to", $to), $to.ends_with("@acme.test")`)
		req.Args = map[string]any{"to": []string{"bob@acme.test", "eve@evil.test"}}
		mustDeny(t, v.Authorize(ctx, scalar, req))
	})
}

// Invariant 6 (through the verifier): nothing appended widens the token.
func TestAttenuationOnlyNarrows(t *testing.T) {
	a := newTestAuthority(t)
	ctx := context.Background()
	tok := a.mint(t, time.Hour, token.Right{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"})
	outside := Request{Service: "crm", Tool: "refund", Operation: "write", Resource: "account:acme/42"}
	v := newVerifier(t, a)
	mustDeny(t, v.Authorize(ctx, tok, outside), ErrNoRight)
	for name, src := range map[string]string{
		"right fact":       `right("crm", "*", "*", "")`,
		"rule deriving it": `right($s, $t, $o, $r) <- service($s), tool($t), operation($o), resource($r)`,
		"check if true":    `check if true`,
		"subject facts":    `agent("admin"); org("root"); session("other")`,
	} {
		t.Run(name, func(t *testing.T) {
			mustDeny(t, v.Authorize(ctx, appendBlock(t, tok, src), outside), ErrNoRight)
		})
	}
}

// Invariant 5: bounded work. A join bomb is denied by the step budget, on
// the caller's goroutine, leaving none behind.
func TestJoinBombBounded(t *testing.T) {
	a := newTestAuthority(t)
	v := newVerifier(t, a, func(c *Config) { c.CacheSize = -1 })
	ctx := context.Background()
	before := runtime.NumGoroutine()
	for name, tok := range worstCaseTokens(t, a) {
		d := v.Authorize(ctx, tok, readAccount)
		if d.Allowed {
			t.Fatalf("%s: worst-case token allowed", name)
		}
		if name == "join" || name == "rules" {
			mustDeny(t, d, ErrEvaluation)
			if !strings.Contains(d.Reason, "budget") {
				t.Errorf("%s: reason %q does not name the budget", name, d.Reason)
			}
		}
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("goroutines: %d before, %d after: evaluation left some behind", before, after)
	}
}

// Invariant 5: no false denials under load. The budget counts steps, not
// wall-clock time, so 16 goroutines on 2 cores decide exactly as one does.
func TestNoSpuriousDenialsUnderLoad(t *testing.T) {
	a := newTestAuthority(t)
	v := newVerifier(t, a, func(c *Config) { c.CacheSize = 8 })
	ctx := context.Background()
	var toks []string
	for i := 0; i < 4; i++ {
		toks = append(toks, fourBlocks(t, a))
	}
	bomb := worstCaseTokens(t, a)["join"]
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if g%4 == 0 { // a quarter of the load is join bombs
					if d := v.Authorize(ctx, bomb, readAccount); d.Allowed {
						mu.Lock()
						failures = append(failures, "join bomb allowed")
						mu.Unlock()
					}
					continue
				}
				if d := v.Authorize(ctx, toks[(g+i)%len(toks)], readAccount); !d.Allowed {
					mu.Lock()
					failures = append(failures, d.Reason)
					mu.Unlock()
				}
			}
		}(g)
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d wrong decisions under load, first: %s", len(failures), failures[0])
	}
}

// The cache skips signatures but never revocation or Datalog, and stays
// within its bound.
func TestCache(t *testing.T) {
	a := newTestAuthority(t)
	v := newVerifier(t, a, func(c *Config) { c.CacheSize = 3 })
	ctx := context.Background()
	tok := fourBlocks(t, a)
	mustAllow(t, v.Authorize(ctx, tok, readAccount))
	if v.cache.len() != 1 {
		t.Fatalf("cache holds %d chains, want 1", v.cache.len())
	}
	// Same token, request outside its caveats: Datalog runs on a hit.
	d := v.Authorize(ctx, tok, Request{Service: "crm", Tool: "refund", Operation: "write", Resource: "account:acme/42"})
	mustDeny(t, d, ErrCheckFailed)
	// Padded and unpadded forms are one entry.
	mustAllow(t, v.Authorize(ctx, strings.TrimRight(tok, "="), readAccount))
	if v.cache.len() != 1 {
		t.Fatalf("padding variants made %d entries", v.cache.len())
	}
	for i := 0; i < 5; i++ {
		mustAllow(t, v.Authorize(ctx, fourBlocks(t, a), readAccount))
	}
	if n := v.cache.len(); n != 3 {
		t.Fatalf("cache holds %d chains, want its bound 3", n)
	}
}

// Invariant 7: audit events carry decision and revocation IDs, never the
// token or the proof secret.
func TestAuditNeverLogsTokens(t *testing.T) {
	a := newTestAuthority(t)
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	v := newVerifier(t, a, func(c *Config) { c.Audit = &log })
	ctx := context.Background()
	tok := fourBlocks(t, a)
	d1 := v.Authorize(ctx, tok, readAccount)
	d2 := v.Authorize(ctx, tok, Request{Service: "crm", Tool: "refund", Operation: "write", Resource: "x"})
	v.Authorize(ctx, tok[:len(tok)/2], readAccount)
	out := buf.String()
	raw, _ := token.Decode(tok)
	var c pb.Biscuit
	_ = proto.Unmarshal(raw, &c)
	secret := fmt.Sprintf("%x", c.Proof.GetNextSecret())
	for _, leak := range []string{tok, strings.TrimRight(tok, "="), tok[:40], secret} {
		if strings.Contains(out, leak) {
			t.Fatalf("audit log contains token material %.20q…", leak)
		}
	}
	for _, want := range []string{d1.DecisionID, d2.DecisionID, d1.RevocationIDs[3], `"allowed":true`, `"allowed":false`, `"duration_ms":`} {
		if !strings.Contains(out, want) {
			t.Errorf("audit log lacks %q", want)
		}
	}
}
