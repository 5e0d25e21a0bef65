package interop

import (
	"errors"
	"strings"
	"testing"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/proto"

	"github.com/mandate-dev/mandate/internal/tokentest"
	"github.com/mandate-dev/mandate/token"
)

// A block whose symbol table overlaps the default symbols or an earlier
// block's is refused by the Rust implementation (SymbolTableOverlap) and by
// mandate (token.ErrSymbolOverlap) alike. mandate also refuses a block that
// repeats one of its own symbols, which biscuit-wasm 0.6.0 accepts: an
// interning reader (biscuit-go, which attenuate appends with) drops the
// repeat and a positional one does not, so the next block would be read
// two ways (attenuate's TestOverlappingSymbolTablesRefused shows it).
func TestOverlappingSymbolTablesRefusedLikeRust(t *testing.T) {
	t.Parallel()
	pub := pubHex(testKey())
	minted := mint(t).Token
	query, version := uint64(27), uint32(3)
	block := func(syms ...string) []byte {
		raw, err := proto.Marshal(&pb.Block{
			Symbols: syms,
			Version: &version,
			ChecksV2: []*pb.CheckV2{{Queries: []*pb.RuleV2{{
				Head:        &pb.PredicateV2{Name: &query},
				Expressions: []*pb.ExpressionV2{{Ops: []*pb.Op{{Content: &pb.Op_Value{Value: &pb.TermV2{Content: &pb.TermV2_Bool{Bool: true}}}}}}},
			}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	tests := []struct {
		name        string
		syms        []string
		rustRefuses bool
	}{
		{"default symbols", []string{"read", "write"}, true},
		{"an authority symbol", []string{"fresh", "orchestrator"}, true},
		{"its own symbol twice", []string{"x", "x"}, false},
	}
	ops := make([]op, len(tests))
	toks := make([]string, len(tests))
	for i, tt := range tests {
		toks[i] = tokentest.AppendRawBlock(t, minted, block(tt.syms...))
		ops[i] = op{Op: "inspect", PublicKey: pub, Token: toks[i]}
	}
	res := rust(t, ops...)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if refused := !res[i].OK && strings.Contains(res[i].Error, "SymbolTableOverlap"); refused != tt.rustRefuses {
				t.Errorf("Rust: ok = %v, error %q; want refused with SymbolTableOverlap = %v", res[i].OK, res[i].Error, tt.rustRefuses)
			}
			if _, err := token.ParseString(toks[i]); !errors.Is(err, token.ErrSymbolOverlap) {
				t.Errorf("mandate: %v; want token.ErrSymbolOverlap", err)
			}
		})
	}
}
