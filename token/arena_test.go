package token_test

import (
	"reflect"
	"testing"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/proto"

	"github.com/mandate-dev/mandate/internal/datalog"
	"github.com/mandate-dev/mandate/token"
)

// TestArenaBlocks: blocks decoded into one arena (as Parse does) are the
// blocks decoded each on its own, and appending to any slice of one never
// changes another.
func TestArenaBlocks(t *testing.T) {
	for _, raw := range containerSeeds(t) {
		u, err := token.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		var c pb.Biscuit
		if err := proto.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		signed := append([]*pb.SignedBlock{c.Authority}, c.Blocks...)
		var syms datalog.SymbolTable
		got := u.UnsafeBlocks()
		snapshot := make([]string, len(got))
		for i, sb := range signed {
			want, err := datalog.DecodeBytes(sb.Block, &syms, token.DecodeLimits)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got[i], want) {
				t.Fatalf("block %d in the arena reads %v, alone %v", i, got[i], want)
			}
			snapshot[i] = blockText(got[i])
		}
		for i, b := range got {
			for j := range b.Checks {
				q := b.Checks[j].Queries
				_ = append(q, datalog.Rule{})
				for k := range q {
					_ = append(q[k].Body, datalog.Predicate{Name: "evil"})
					_ = append(q[k].Expressions, nil)
					for _, p := range q[k].Body {
						_ = append(p.Terms, datalog.String("evil"))
					}
				}
			}
			for _, f := range b.Facts {
				_ = append(f.Terms, datalog.String("evil"))
			}
			for k, bb := range got {
				if blockText(bb) != snapshot[k] {
					t.Fatalf("appending to block %d changed block %d", i, k)
				}
			}
		}
	}
}
