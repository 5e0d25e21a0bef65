package token_test

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/biscuit-auth/biscuit-go/v2"
	bdatalog "github.com/biscuit-auth/biscuit-go/v2/datalog"
	"github.com/biscuit-auth/biscuit-go/v2/parser"
	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/proto"

	"github.com/mandate-dev/mandate/token"
)

// TestStandIn: biscuit-go writes the same block bytes on StandIn (symbols
// given to its Unmarshaler) as on AppendBase (symbols in the block), for
// blocks that reuse the token's strings, add new ones, and both; and never
// writes into the symbols StandIn returns.
func TestStandIn(t *testing.T) {
	blocks := [][]string{
		{`check if tool($t), ["get_account", "list_invoices"].contains($t)`, `check if resource($r), $r.starts_with("account:acme/42")`, `check if time($t), $t <= 2099-01-01T00:00:00Z`},
		{`delegated_to("triage")`, `check if tool($t), ["brand_new", "triage", "crm"].contains($t)`},
		{`check if arg("amount", $a), $a <= 5`, `brand_new_fact("x", "account:acme/42")`},
		{`check if session($s), user($u), $s.starts_with($u)`},
	}
	for bi, u := range spliceBases(t) {
		for _, src := range blocks {
			old, err := u.AppendBase()
			if err != nil {
				t.Fatal(err)
			}
			oldBt, err := biscuit.Unmarshal(old)
			if err != nil {
				t.Fatal(err)
			}
			base, syms, err := u.StandIn()
			if err != nil {
				t.Fatal(err)
			}
			before := append([]string(nil), syms[:cap(syms)]...)
			table := bdatalog.SymbolTable(syms)
			newBt, err := (&biscuit.Unmarshaler{Symbols: &table}).Unmarshal(base)
			if err != nil {
				t.Fatal(err)
			}
			want := appendedBlock(t, oldBt, src)
			for range 2 { // twice: nothing of the first append may leak into the second
				if got := appendedBlock(t, newBt, src); !bytes.Equal(got, want) {
					t.Fatalf("base %d, %q: StandIn gives block %x, AppendBase %x", bi, src, got, want)
				}
			}
			if !slicesEqual(syms[:cap(syms)], before) {
				t.Fatalf("biscuit-go wrote into StandIn's symbols")
			}
		}
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// appendedBlock appends the facts and checks of src to bt with biscuit-go
// and returns the new block's bytes.
func appendedBlock(t *testing.T, bt *biscuit.Biscuit, src []string) []byte {
	t.Helper()
	bb := bt.CreateBlock()
	for _, s := range src {
		if c, err := parser.FromStringCheck(s); err == nil {
			if err := bb.AddCheck(c); err != nil {
				t.Fatal(err)
			}
			continue
		}
		f, err := parser.FromStringFact(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := bb.AddFact(f); err != nil {
			t.Fatal(err)
		}
	}
	nt, err := bt.Append(rand.Reader, bb.Build())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := nt.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	var c pb.Biscuit
	if err := proto.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c.Blocks[len(c.Blocks)-1].Block
}

var _ = token.Parse
