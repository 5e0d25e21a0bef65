package token_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/biscuit-auth/biscuit-go/v2/pb"

	"github.com/mandate-dev/mandate/token"
)

// A block whose symbol table repeats a default symbol, a symbol of an
// earlier block or one of its own is refused at parse, naming the symbol:
// biscuit-go would intern the repeat away and a positional reader would
// not, so the two would read the block's strings differently.
func TestParseRefusesOverlappingSymbols(t *testing.T) {
	key := testKey(1)
	auth := authorityBlock()
	authSym := auth.Symbols[0]
	tests := []struct {
		name  string
		extra []string // symbols of an appended block
		auth  []string // replaces the authority block's symbols when set
		want  string
	}{
		{"authority repeats a default symbol", nil, append(append([]string{}, auth.Symbols...), "write"), `"write"`},
		{"block repeats a default symbol", []string{"read"}, nil, `"read"`},
		{"block repeats an authority symbol", []string{"fresh", authSym}, nil, authSym},
		{"block repeats its own symbol", []string{"x", "y", "x"}, nil, `"x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := authorityBlock()
			if tt.auth != nil {
				a.Symbols = tt.auth
			}
			blocks := [][]byte{marshal(t, a)}
			if tt.extra != nil {
				blocks = append(blocks, marshal(t, &pb.Block{Version: u32(3), Symbols: tt.extra}))
			}
			_, err := token.Parse(chain{root: key.Private, blocks: blocks}.build(t))
			if !errors.Is(err, token.ErrSymbolOverlap) || !errors.Is(err, token.ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v; want ErrSymbolOverlap naming %s", err, tt.want)
			}
		})
	}
}
