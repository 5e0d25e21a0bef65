package attenuate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/proto"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/internal/tokentest"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// overlapBlock is a v3 block, `check if true`, whose symbol table repeats
// syms. Any holder can sign such a block with the token's proof key.
func overlapBlock(t *testing.T, syms ...string) []byte {
	t.Helper()
	query := uint64(27) // default symbol "query"
	version := uint32(3)
	b := &pb.Block{
		Symbols: syms,
		Version: &version,
		ChecksV2: []*pb.CheckV2{{Queries: []*pb.RuleV2{{
			Head:        &pb.PredicateV2{Name: &query},
			Expressions: []*pb.ExpressionV2{{Ops: []*pb.Op{{Content: &pb.Op_Value{Value: &pb.TermV2{Content: &pb.TermV2_Bool{Bool: true}}}}}}},
		}}}},
	}
	raw, err := proto.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A holder appends a block whose symbol table repeats default symbols (or
// symbols of the authority block). biscuit-go, which the Builder appends
// with, drops the repeats when it reads the token; a positional reader
// (the specification, mandate's verifier) does not. Before symbol tables
// were checked, the next honest delegator's Resource caveat was written at
// indexes the verifier resolved to the attacker's repeated strings: a check
// on a different resource, allowing one the delegator never meant and
// denying the one it did. Such a token is now refused at parse, by the
// Builder and by the verifier.
func TestOverlappingSymbolTablesRefused(t *testing.T) {
	a := newAuthority(t)
	tok := a.mint(t)
	const meant = "account:acme/42/orders/7"
	tests := []struct {
		name string
		syms []string
	}{
		{"default symbols", []string{"read", "write"}},
		{"a symbol of the authority block", []string{"account:acme/", "x"}},
		{"a repeated symbol of its own", []string{"x", "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evil := tokentest.AppendRawBlock(t, tok, overlapBlock(t, tt.syms...))

			b, err := attenuate.New(evil, attenuate.WithClock(clockAt(t0)))
			if err == nil {
				out, berr := b.Resource(meant).Build()
				if berr == nil {
					checks, _ := lastBlock(t, out)
					t.Fatalf("the Builder attenuated a token with an overlapping symbol table; its Resource(%q) caveat reads back as %q", meant, checks)
				}
				err = berr
			}
			if !errors.Is(err, token.ErrMalformed) || !errors.Is(err, token.ErrSymbolOverlap) {
				t.Fatalf("attenuate: %v; want token.ErrMalformed and token.ErrSymbolOverlap", err)
			}
			if !strings.Contains(err.Error(), "symbol table overlap") {
				t.Errorf("error %q does not name the symbol table overlap", err)
			}

			d := a.authorize(t, evil, verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: meant})
			if d.Allowed || !errors.Is(d.Err, token.ErrSymbolOverlap) {
				t.Errorf("verifier: allowed=%v err=%v; want a denial for the symbol table overlap", d.Allowed, d.Err)
			}
		})
	}
}

// A token without overlap keeps attenuating: the honest delegator's caveat
// reads back as written and decides as meant.
func TestResourceCaveatReadsBackAsWritten(t *testing.T) {
	a := newAuthority(t)
	tok := a.mint(t)
	const meant = "account:acme/42/orders/7"
	tok = tokentest.AppendRawBlock(t, tok, overlapBlock(t, "fresh-1", "fresh-2"))
	out := build(t, tok, func(b *attenuate.Builder) { b.Resource(meant) })
	checks, _ := lastBlock(t, out)
	if want := `check if resource($r), $r == "` + meant + `"`; len(checks) != 1 || checks[0] != want {
		t.Fatalf("caveat reads back as %q, want %q", checks, want)
	}
	req := verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: meant}
	if d := a.authorize(t, out, req); !d.Allowed {
		t.Errorf("meant resource denied: %s", d.Reason)
	}
	req.Resource = "account:acme/43"
	if d := a.authorize(t, out, req); d.Allowed {
		t.Error("another resource allowed")
	}
}
