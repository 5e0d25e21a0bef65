package interop

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// t0 is the minting instant of every token; tokens live one hour.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func at(min, sec int) time.Time {
	return t0.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
}

// testSeed is a test-only root key; it signs nothing but these tests' tokens.
var testSeed = []byte("mandate-interop-test-root-key-01")

func testKey() token.SigningKey { return token.NewSigningKey(ed25519.NewKeyFromSeed(testSeed)) }

// otherKey is a second trusted key, tried before testKey when a token has
// no usable root key ID hint.
func otherKey() token.SigningKey {
	return token.NewSigningKey(ed25519.NewKeyFromSeed([]byte("mandate-interop-other-root-key-2")))
}

func pubHex(k token.SigningKey) string { return token.FormatPublicKey(k.Public().Key) }

// rights are the authority's grant: anything in the CRM under
// account:acme/, and refunds in billing.
var rights = []token.Right{
	{Service: "crm", Tool: "*", Operation: "*", Resource: "account:acme/"},
	{Service: "billing", Tool: "refund", Operation: "write", Resource: "account:acme/"},
}

// mint returns a token minted by mandate at t0, expiring at 11:00.
func mint(t *testing.T) *token.Minted {
	t.Helper()
	m, err := token.Mint(testKey(), token.MintRequest{
		Subject: token.Subject{Agent: "orchestrator", User: "alice@acme.test", Org: "acme", Session: "s_interop"},
		Rights:  rights,
		TTL:     time.Hour,
		Now:     t0,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// verifierAt returns mandate's verifier trusting otherKey and testKey, its
// clock reading now.
func verifierAt(t *testing.T, now time.Time) *verifier.Verifier {
	t.Helper()
	v, err := verifier.New(verifier.Config{
		Keys:                 token.NewKeySet(otherKey().Public(), testKey().Public()),
		InsecureNoRevocation: true,
		Now:                  func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func authorize(t *testing.T, tok string, now time.Time, req verifier.Request) verifier.Decision {
	t.Helper()
	return verifierAt(t, now).Authorize(context.Background(), tok, req)
}

func build(t *testing.T, b *attenuate.Builder, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	out, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	getAccount = verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"}
	listLimit  = func(n int) verifier.Request {
		return verifier.Request{Service: "crm", Tool: "list_invoices", Operation: "read", Resource: "account:acme/42/invoices", Args: map[string]any{"limit": n}}
	}
	refund = func(amount int) verifier.Request {
		return verifier.Request{Service: "billing", Tool: "refund", Operation: "write", Resource: "account:acme/42", Args: map[string]any{"amount": amount}}
	}
	sendEmail = func(to any) verifier.Request {
		return verifier.Request{Service: "crm", Tool: "send_email", Operation: "write", Resource: "account:acme/42", Args: map[string]any{"to": to}}
	}
)

func with(r verifier.Request, f func(*verifier.Request)) verifier.Request {
	f(&r)
	return r
}

// Tokens minted and attenuated by mandate verify in Rust, and Rust's
// authorizer, given the request facts and mandate's policy, decides every
// request as mandate's verifier does.
func TestMandateTokensAuthorizeInRust(t *testing.T) {
	t.Parallel()
	minted := mint(t).Token
	b, err := attenuate.New(minted, attenuate.WithClock(func() time.Time { return t0 }))
	attenuated := build(t, b.
		Tools("get_account", "list_invoices", "refund", "send_email").
		ResourcePrefix("account:acme/42").
		ArgMax("refund", "amount", 500).
		ArgOneOf("send_email", "to", "bob@acme.test", "carol@acme.test").
		TTL(30*time.Minute).
		DelegatedTo("sub-agent"), err)
	b, err = attenuate.New(attenuated)
	readOnly := build(t, b.Operations("read").Services("crm"), err)
	pub := pubHex(testKey())

	tokens := []struct {
		name   string
		tok    string
		blocks int
	}{{"minted", minted, 1}, {"attenuated", attenuated, 2}, {"attenuated twice", readOnly, 3}}

	tests := []struct {
		name    string
		tok     string
		now     time.Time
		req     verifier.Request
		allowed bool
	}{
		{"minted: right with tool wildcard", minted, at(5, 0), getAccount, true},
		{"minted: right with named tool", minted, at(5, 0), refund(10000), true},
		{"minted: resource under the plain prefix", minted, at(5, 0), with(getAccount, func(r *verifier.Request) { r.Resource = "account:acme/420" }), true},
		{"minted: operation not granted", minted, at(5, 0), with(refund(1), func(r *verifier.Request) { r.Operation = "read" }), false},
		{"minted: tool not granted", minted, at(5, 0), with(refund(1), func(r *verifier.Request) { r.Tool = "charge" }), false},
		{"minted: resource outside the prefix", minted, at(5, 0), with(getAccount, func(r *verifier.Request) { r.Resource = "account:globex/1" }), false},
		{"minted: service not granted", minted, at(5, 0), with(getAccount, func(r *verifier.Request) { r.Service = "hr" }), false},
		{"minted: last second", minted, at(60, 0), getAccount, true},
		{"minted: expired", minted, at(60, 1), getAccount, false},

		{"attenuated: inside", attenuated, at(5, 0), getAccount, true},
		{"attenuated: below the segment prefix", attenuated, at(5, 0), listLimit(10), true},
		{"attenuated: beside the segment prefix", attenuated, at(5, 0), with(getAccount, func(r *verifier.Request) { r.Resource = "account:acme/420" }), false},
		{"attenuated: tool outside", attenuated, at(5, 0), with(getAccount, func(r *verifier.Request) { r.Tool = "delete_account"; r.Operation = "write" }), false},
		{"attenuated: refund at the bound", attenuated, at(5, 0), refund(500), true},
		{"attenuated: refund over the bound", attenuated, at(5, 0), refund(501), false},
		{"attenuated: refund without amount", attenuated, at(5, 0), with(refund(1), func(r *verifier.Request) { r.Args = nil }), false},
		{"attenuated: email to an allowed recipient", attenuated, at(5, 0), sendEmail("bob@acme.test"), true},
		{"attenuated: email to allowed recipients", attenuated, at(5, 0), sendEmail([]string{"bob@acme.test", "carol@acme.test"}), true},
		{"attenuated: email list with one outsider", attenuated, at(5, 0), sendEmail([]string{"bob@acme.test", "eve@evil.test"}), false},
		{"attenuated: email to an outsider", attenuated, at(5, 0), sendEmail("eve@evil.test"), false},
		{"attenuated: at its expiry", attenuated, at(30, 0), getAccount, true},
		{"attenuated: after its expiry", attenuated, at(30, 1), getAccount, false},

		{"attenuated twice: read inside", readOnly, at(5, 0), getAccount, true},
		{"attenuated twice: write", readOnly, at(5, 0), sendEmail("bob@acme.test"), false},
		{"attenuated twice: other service", readOnly, at(5, 0), refund(10), false},
	}

	ops := make([]op, 0, len(tokens)+len(tests))
	for _, tk := range tokens {
		ops = append(ops, op{Op: "inspect", PublicKey: pub, Token: tk.tok})
	}
	for _, tt := range tests {
		ops = append(ops, authorizeOp(t, pub, tt.tok, tt.now, tt.req))
	}
	res := rust(t, ops...)
	for i, tk := range tokens {
		r := must(t, "verifying the "+tk.name+" token", res[i])
		if r.Blocks != tk.blocks {
			t.Errorf("%s: Rust reads %d blocks, want %d", tk.name, r.Blocks, tk.blocks)
		}
	}
	res = res[len(tokens):]
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := authorize(t, tt.tok, tt.now, tt.req)
			if d.Allowed != tt.allowed {
				t.Errorf("mandate: allowed = %v, want %v (%s)", d.Allowed, tt.allowed, d.Reason)
			}
			r := must(t, "authorizing", res[i])
			if r.Allowed != tt.allowed {
				t.Errorf("Rust: allowed = %v, want %v (%s)", r.Allowed, tt.allowed, r.Reason)
			}
		})
	}
}

// A block appended in Rust, with Rust's {..} set syntax, is honoured by
// mandate's verifier, which locates the failed check where Rust does.
func TestRustCaveatHonoured(t *testing.T) {
	t.Parallel()
	pub := pubHex(testKey())
	caveats := []string{
		`check if tool($t), {"get_account", "list_invoices"}.contains($t);`,
		`check if resource($r), $r.starts_with("account:acme/42/");`,
		// Rust >= 6 reads == as Datalog 3.3 heterogeneous equality (block
		// version 6); === is the Biscuit v3 equality.
		`check if tool($t), !($t === "list_invoices") or arg("limit", $l), $l <= 50;`,
		`check if time($t), $t <= 2026-11-22T10:30:00Z;`,
		`delegated_to("rust-agent");`,
	}
	appended := must(t, "appending", rust(t, op{Op: "append", PublicKey: pub, Token: mint(t).Token, Code: strings.Join(caveats, "\n")})[0]).Token

	u, err := token.ParseString(appended)
	if err != nil {
		t.Fatalf("mandate cannot parse the Rust-appended token: %v", err)
	}
	if got := u.UnsafeBlocks()[1].Version; got != 3 {
		t.Fatalf("Rust wrote block version %d, want 3 (the test's caveats are all Biscuit v3)", got)
	}

	inside := verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42/profile"}
	type loc struct{ block, check int }
	tests := []struct {
		name    string
		now     time.Time
		req     verifier.Request
		want    *loc    // the failed check mandate reports; nil: allowed
		rust    []loc   // every check Rust reports failed
		text    string  // in mandate's failed check text
		wantErr []error // errors.Is(d.Err, ...)
	}{
		{name: "inside", now: at(5, 0), req: inside},
		{name: "inside, other tool with limit", now: at(5, 0), req: with(inside, func(r *verifier.Request) { r.Tool = "list_invoices"; r.Args = map[string]any{"limit": 50} })},
		{name: "inside, last second", now: at(30, 0), req: inside},
		{name: "tool outside the set", now: at(5, 0), req: with(inside, func(r *verifier.Request) { r.Tool = "delete_account"; r.Operation = "write" }),
			want: &loc{1, 0}, rust: []loc{{1, 0}}, text: "get_account", wantErr: []error{verifier.ErrCheckFailed}},
		{name: "resource beside the prefix", now: at(5, 0), req: with(inside, func(r *verifier.Request) { r.Resource = "account:acme/420" }),
			want: &loc{1, 1}, rust: []loc{{1, 1}}, text: "account:acme/42/", wantErr: []error{verifier.ErrCheckFailed}},
		{name: "limit over the bound", now: at(5, 0), req: with(inside, func(r *verifier.Request) { r.Tool = "list_invoices"; r.Args = map[string]any{"limit": 51} }),
			want: &loc{1, 2}, rust: []loc{{1, 2}}, text: "limit", wantErr: []error{verifier.ErrCheckFailed}},
		{name: "limit missing", now: at(5, 0), req: with(inside, func(r *verifier.Request) { r.Tool = "list_invoices" }),
			want: &loc{1, 2}, rust: []loc{{1, 2}}, text: "limit", wantErr: []error{verifier.ErrCheckFailed}},
		{name: "after the appended expiry", now: at(30, 1), req: inside,
			want: &loc{1, 3}, rust: []loc{{1, 3}}, text: "2026-11-22T10:30:00Z", wantErr: []error{token.ErrExpired}}, // an attenuation block's expiry: an expired token, as Authenticate says
		{name: "after the authority expiry", now: at(60, 1), req: inside,
			want: &loc{0, 0}, rust: []loc{{0, 0}, {1, 3}}, text: "2026-11-22T11:00:00Z", wantErr: []error{token.ErrExpired}},
	}
	ops := make([]op, len(tests))
	for i, tt := range tests {
		ops[i] = authorizeOp(t, pub, appended, tt.now, tt.req)
	}
	res := rust(t, ops...)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := must(t, "authorizing", res[i])
			var rustFailed []loc
			for _, c := range r.FailedChecks {
				rustFailed = append(rustFailed, loc{c.Block, c.Check})
			}
			if r.Allowed != (tt.want == nil) || !slices.Equal(rustFailed, tt.rust) {
				t.Errorf("Rust: allowed = %v, failed checks %v; want allowed = %v, failed %v (%s)", r.Allowed, rustFailed, tt.want == nil, tt.rust, r.Reason)
			}

			d := authorize(t, appended, tt.now, tt.req)
			if tt.want == nil {
				if !d.Allowed {
					t.Fatalf("mandate denied: %s", d.Reason)
				}
				return
			}
			if d.Allowed {
				t.Fatal("mandate allowed a request outside the Rust caveat")
			}
			for _, e := range tt.wantErr {
				if !errors.Is(d.Err, e) {
					t.Errorf("mandate: err = %v, want errors.Is %v", d.Err, e)
				}
			}
			fc := d.FailedCheck
			if fc == nil || fc.Block != tt.want.block || fc.Check != tt.want.check {
				t.Fatalf("mandate: failed check = %+v, want block %d check %d", fc, tt.want.block, tt.want.check)
			}
			if !strings.Contains(fc.Text, tt.text) {
				t.Errorf("mandate: failed check text %q does not contain %q", fc.Text, tt.text)
			}
			if !slices.Contains(tt.rust, *tt.want) {
				t.Errorf("test table: mandate's failed check %v is not among Rust's %v", *tt.want, tt.rust)
			}
		})
	}
}

// A block using Datalog newer than Biscuit v3, appended in Rust, is denied
// by mandate with token.ErrUnsupported and a reason naming the newer
// version, although Rust itself allows the request.
func TestNewerRustBlocksDenied(t *testing.T) {
	t.Parallel()
	pub := pubHex(testKey())
	minted := mint(t).Token
	req := with(getAccount, func(r *verifier.Request) { r.Args = map[string]any{"limit": 10} })
	// version is the block version Rust writes: note that it labels blocks
	// holding arrays or maps as version 3, and writes a block signature of
	// version 1 for version 6 blocks, which mandate meets first. reason
	// holds what mandate's denial must say besides "newer than Biscuit v3".
	tests := []struct {
		name    string
		code    string
		version uint32
		reason  []string
	}{
		{"check all", `check all tool($t), $t === "get_account";`, 4, []string{"block 1", "block version 4 (Datalog 3.1)", "check all"}},
		{"reject if", `reject if tool("delete_account");`, 6, []string{"block 1", "block version 6 (Datalog 3.3)", "reject if"}},
		{"== is heterogeneous equality", `check if tool($t), $t == "get_account";`, 6, []string{"block 1", "block version 6 (Datalog 3.3)", "write === for a v3 verifier"}},
		{"!=", `check if tool($t), $t != "delete_account";`, 6, []string{"block 1", "block version 6 (Datalog 3.3)", "!="}},
		{"!==", `check if tool($t), $t !== "delete_account";`, 4, []string{"block 1", "block version 4 (Datalog 3.1)", "!=="}},
		{"lazy ||", `check if tool($t), $t === "get_account" || false;`, 6, []string{"block 1", "block version 6 (Datalog 3.3)", "lazy && and ||"}},
		{"bitwise and", `check if arg("limit", $l), ($l & 1) === 0;`, 4, []string{"block 1", "block version 4 (Datalog 3.1)", "bitwise"}},
		{"array", `check if tool($t), ["get_account", "list_invoices"].contains($t);`, 3, []string{"block 1", "array", "Datalog 3.3", `{"a", "b"}`}},
		{"map", `check if tool($t), {"get_account": 1}.contains($t);`, 3, []string{"block 1", "maps"}},
	}
	ops := make([]op, len(tests))
	for i, tt := range tests {
		ops[i] = op{Op: "append", PublicKey: pub, Token: minted, Code: tt.code}
	}
	res := rust(t, ops...)
	toks := make([]string, len(tests))
	for i, tt := range tests {
		toks[i] = must(t, "appending "+tt.name, res[i]).Token
		ops[i] = authorizeOp(t, pub, toks[i], at(5, 0), req)
	}
	res = rust(t, ops...)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := must(t, "authorizing", res[i]); !r.Allowed {
				t.Errorf("Rust denies the request too (%s); the test means to show a denial caused by the format alone", r.Reason)
			}
			if got := blockVersion(t, toks[i], 1); got != tt.version {
				t.Errorf("Rust wrote block version %d, want %d", got, tt.version)
			}

			d := authorize(t, toks[i], at(5, 0), req)
			if d.Allowed {
				t.Fatal("mandate allowed a token with a block newer than Biscuit v3")
			}
			if !errors.Is(d.Err, token.ErrUnsupported) || !errors.Is(d.Err, verifier.ErrDenied) || !d.InvalidToken() {
				t.Errorf("err = %v, want token.ErrUnsupported, verifier.ErrDenied and an invalid token", d.Err)
			}
			for _, s := range append([]string{"newer than Biscuit v3"}, tt.reason...) {
				if !strings.Contains(d.Reason, s) {
					t.Errorf("reason %q does not contain %q", d.Reason, s)
				}
			}
			if _, err := token.ParseString(toks[i]); !errors.Is(err, token.ErrUnsupported) {
				t.Errorf("token.ParseString: err = %v, want token.ErrUnsupported", err)
			}
			if _, err := attenuate.New(toks[i]); !errors.Is(err, token.ErrUnsupported) {
				t.Errorf("attenuate.New: err = %v, want token.ErrUnsupported", err)
			}
		})
	}
}

// blockVersion reads the version field of block i of a token straight from
// its protobuf, without mandate's decoder (which refuses versions above 3).
func blockVersion(t *testing.T, tok string, i int) uint32 {
	t.Helper()
	raw, err := token.Decode(tok)
	if err != nil {
		t.Fatal(err)
	}
	v, err := rawBlockVersion(raw, i)
	if err != nil {
		t.Fatalf("reading block %d's version: %v", i, err)
	}
	return v
}

// Revocation IDs agree between Rust and mandate, block by block, whichever
// implementation wrote the blocks, and whether the base64 is padded or not.
func TestRevocationIDsAgree(t *testing.T) {
	t.Parallel()
	pub := pubHex(testKey())
	m := mint(t)
	b, err := attenuate.New(m.Token)
	attenuated := build(t, b.Tools("get_account"), err)
	sealed, err := attenuate.Seal(attenuated)
	if err != nil {
		t.Fatal(err)
	}
	caveat := `check if operation($o), {"read"}.contains($o);`
	res := rust(t,
		op{Op: "append", PublicKey: pub, Token: m.Token, Code: caveat},
		op{Op: "append", PublicKey: pub, Token: attenuated, Code: caveat},
	)
	rustAppended := must(t, "appending", res[0]).Token
	mixed := must(t, "appending", res[1]).Token
	b, err = attenuate.New(mixed)
	mixed4 := build(t, b.Services("crm"), err)

	tokens := []struct {
		name   string
		tok    string
		blocks int
	}{
		{"minted", m.Token, 1},
		{"attenuated in Go", attenuated, 2},
		{"sealed in Go", sealed, 2},
		{"attenuated in Rust", rustAppended, 2},
		{"Go, then Rust", mixed, 3},
		{"Go, Rust, Go", mixed4, 4},
	}
	padded := 0
	var ops []op
	for _, tk := range tokens {
		if strings.HasSuffix(tk.tok, "=") {
			padded++
		}
		ops = append(ops,
			op{Op: "inspect", PublicKey: pub, Token: tk.tok},
			op{Op: "inspect", PublicKey: pub, Token: strings.TrimRight(tk.tok, "=")})
	}
	if padded == 0 {
		t.Fatal("no test token ends in padding, so the padded/unpadded cases test nothing; change a fact's length")
	}
	res = rust(t, ops...)
	for i, tk := range tokens {
		t.Run(tk.name, func(t *testing.T) {
			rp := must(t, "reading padded base64", res[2*i])
			ru := must(t, "reading unpadded base64", res[2*i+1])
			if rp.Blocks != tk.blocks || ru.Blocks != tk.blocks {
				t.Errorf("Rust reads %d and %d blocks, want %d", rp.Blocks, ru.Blocks, tk.blocks)
			}
			if !slices.Equal(rp.RevocationIDs, ru.RevocationIDs) {
				t.Errorf("Rust revocation IDs differ between padded and unpadded base64")
			}
			for _, enc := range []string{tk.tok, strings.TrimRight(tk.tok, "=")} {
				u, err := token.ParseString(enc)
				if err != nil {
					t.Fatalf("mandate: %v", err)
				}
				if got := hexIDs(u.RevocationIDs()); !slices.Equal(got, rp.RevocationIDs) {
					t.Errorf("mandate revocation IDs\n%v\nRust\n%v", got, rp.RevocationIDs)
				}
				d := authorize(t, enc, at(5, 0), getAccount)
				if !d.Allowed {
					t.Fatalf("mandate denied: %s", d.Reason)
				}
				if !slices.Equal(d.RevocationIDs, rp.RevocationIDs) {
					t.Errorf("decision revocation IDs\n%v\nRust\n%v", d.RevocationIDs, rp.RevocationIDs)
				}
			}
		})
	}
	if got := hexIDs(m.RevocationIDs); !slices.Equal(got, must(t, "inspect", res[0]).RevocationIDs) {
		t.Errorf("Minted.RevocationIDs %v differ from Rust's %v", got, res[0].RevocationIDs)
	}
}

func hexIDs(ids [][]byte) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = hex.EncodeToString(id)
	}
	return out
}

// Tokens sealed in Rust verify and authorize in mandate, and tokens sealed
// by mandate verify and authorize in Rust; neither side appends to them.
func TestSealedTokens(t *testing.T) {
	t.Parallel()
	pub := pubHex(testKey())
	minted := mint(t).Token
	res := rust(t,
		op{Op: "seal", PublicKey: pub, Token: minted},
		op{Op: "append", PublicKey: pub, Token: minted, Code: `check if tool($t), {"get_account"}.contains($t);`},
	)
	rustSealed := must(t, "sealing", res[0]).Token
	rustAppended := must(t, "appending", res[1]).Token

	goSealed, err := attenuate.Seal(minted)
	if err != nil {
		t.Fatal(err)
	}
	b, err := attenuate.New(minted)
	goAttenuatedSealed := build(t, b.Tools("get_account").Seal(), err)

	res = rust(t,
		op{Op: "seal", PublicKey: pub, Token: rustAppended},
		op{Op: "append", PublicKey: pub, Token: goSealed, Code: `check if tool("get_account");`},
		op{Op: "append", PublicKey: pub, Token: rustSealed, Code: `check if tool("get_account");`},
	)
	rustAppendedSealed := must(t, "sealing", res[0]).Token
	for i, name := range []string{"a token sealed by mandate", "a token sealed in Rust"} {
		if r := res[1+i]; r.OK || !strings.Contains(r.Error, "Sealed") {
			t.Errorf("Rust appending a block to %s: ok = %v, error %q; want a Sealed error", name, r.OK, r.Error)
		}
	}

	other := with(getAccount, func(r *verifier.Request) { r.Tool = "delete_account"; r.Operation = "write" })
	tests := []struct {
		name   string
		tok    string
		blocks int
		// whether the token restricts tools to get_account
		attenuated bool
	}{
		{"sealed in Rust", rustSealed, 1, false},
		{"attenuated and sealed in Rust", rustAppendedSealed, 2, true},
		{"sealed by mandate", goSealed, 1, false},
		{"attenuated and sealed by mandate", goAttenuatedSealed, 2, true},
	}
	var ops []op
	for _, tt := range tests {
		ops = append(ops, op{Op: "inspect", PublicKey: pub, Token: tt.tok},
			authorizeOp(t, pub, tt.tok, at(5, 0), getAccount),
			authorizeOp(t, pub, tt.tok, at(5, 0), other))
	}
	res = rust(t, ops...)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := must(t, "verifying", res[3*i]); r.Blocks != tt.blocks {
				t.Errorf("Rust reads %d blocks, want %d", r.Blocks, tt.blocks)
			}
			if r := must(t, "authorizing", res[3*i+1]); !r.Allowed {
				t.Errorf("Rust denied a request inside the token: %s", r.Reason)
			}
			if r := must(t, "authorizing", res[3*i+2]); r.Allowed == tt.attenuated {
				t.Errorf("Rust: allowed = %v for a tool outside the attenuation, want %v", r.Allowed, !tt.attenuated)
			}

			u, err := token.ParseString(tt.tok)
			if err != nil {
				t.Fatal(err)
			}
			if !u.Sealed() || u.BlockCount() != tt.blocks {
				t.Errorf("mandate: sealed = %v, blocks = %d; want sealed, %d blocks", u.Sealed(), u.BlockCount(), tt.blocks)
			}
			if d := authorize(t, tt.tok, at(5, 0), getAccount); !d.Allowed {
				t.Errorf("mandate denied a request inside the token: %s", d.Reason)
			}
			if d := authorize(t, tt.tok, at(5, 0), other); d.Allowed == tt.attenuated {
				t.Errorf("mandate: allowed = %v for a tool outside the attenuation, want %v (%s)", d.Allowed, !tt.attenuated, d.Reason)
			}
			if _, err := attenuate.New(tt.tok); !errors.Is(err, token.ErrSealed) {
				t.Errorf("attenuate.New: err = %v, want token.ErrSealed", err)
			}
		})
	}
}

// A token minted in Rust with mandate's vocabulary verifies in mandate,
// whether its root key ID hint names the key, names another key or is
// absent; mandate can attenuate it and Rust honours that block.
func TestRustMintedToken(t *testing.T) {
	t.Parallel()
	key := testKey()
	code := `session("s_rust"); agent("rust-agent"); user("alice@acme.test"); org("acme");
right("crm", "*", "*", "account:acme/");
check if time($time), $time <= 2026-11-22T11:00:00Z;`
	seed := hex.EncodeToString(key.Private.Seed())
	wrong := key.ID + 1
	res := rust(t,
		op{Op: "mint", PrivateKey: seed, Code: code, RootKeyID: &key.ID},
		op{Op: "mint", PrivateKey: seed, Code: code, RootKeyID: &wrong},
		op{Op: "mint", PrivateKey: seed, Code: code},
	)
	tests := []struct {
		name string
		hint *uint32
	}{{"hint names the key", &key.ID}, {"hint names another key", &wrong}, {"no hint", nil}}
	var toks []string
	for i, tt := range tests {
		r := must(t, "minting", res[i])
		if r.PublicKey != pubHex(key) {
			t.Fatalf("Rust derived public key %s from the seed, mandate %s", r.PublicKey, pubHex(key))
		}
		toks = append(toks, r.Token)
		t.Run(tt.name, func(t *testing.T) {
			u, err := token.ParseString(r.Token)
			if err != nil {
				t.Fatal(err)
			}
			id, ok := u.RootKeyIDHint()
			if ok != (tt.hint != nil) || (ok && id != *tt.hint) {
				t.Errorf("RootKeyIDHint = %d, %v; want %v", id, ok, fmtHint(tt.hint))
			}
			vt, err := u.Verify(token.NewKeySet(otherKey().Public(), key.Public()), at(5, 0))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := token.Subject{Agent: "rust-agent", User: "alice@acme.test", Org: "acme", Session: "s_rust"}
			if vt.Subject() != want || vt.KeyID() != key.ID || !vt.ExpiresAt().Equal(at(60, 0)) {
				t.Errorf("subject %+v, key ID %d, expiry %s; want %+v, %d, %s", vt.Subject(), vt.KeyID(), vt.ExpiresAt(), want, key.ID, at(60, 0))
			}
			if d := authorize(t, r.Token, at(5, 0), getAccount); !d.Allowed {
				t.Errorf("mandate denied: %s", d.Reason)
			}
			if d := authorize(t, r.Token, at(60, 1), getAccount); d.Allowed || !errors.Is(d.Err, token.ErrExpired) {
				t.Errorf("after expiry: allowed = %v, err = %v; want token.ErrExpired", d.Allowed, d.Err)
			}
		})
	}

	// mandate attenuates the Rust-minted token; Rust authorizes the result.
	b, err := attenuate.New(toks[0])
	att := build(t, b.Tools("get_account"), err)
	if u, err := token.ParseString(att); err != nil {
		t.Fatal(err)
	} else if id, ok := u.RootKeyIDHint(); !ok || id != key.ID {
		t.Errorf("attenuating a Rust-minted token lost its root key ID hint: %d, %v", id, ok)
	}
	other := with(getAccount, func(r *verifier.Request) { r.Tool = "delete_account" })
	res = rust(t,
		authorizeOp(t, pubHex(key), att, at(5, 0), getAccount),
		authorizeOp(t, pubHex(key), att, at(5, 0), other))
	if r := must(t, "authorizing", res[0]); !r.Allowed {
		t.Errorf("Rust denied a request inside mandate's block: %s", r.Reason)
	}
	if r := must(t, "authorizing", res[1]); r.Allowed || len(r.FailedChecks) != 1 || r.FailedChecks[0].Block != 1 {
		t.Errorf("Rust: allowed = %v, failed checks %+v; want a denial by block 1", r.Allowed, r.FailedChecks)
	}
}

func fmtHint(h *uint32) string {
	if h == nil {
		return "no hint"
	}
	return fmt.Sprint(*h)
}
