package datalog

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestFastPathsMatchWalk holds the single-field fast paths of term and op to
// the general walk: the same term or operation, or the same error, for
// every single field of every number and wire type, with edge values,
// trailing bytes, repeated fields and random bytes.
func TestFastPathsMatchWalk(t *testing.T) {
	lim := Limits{MaxSymbols: 512, MaxStringBytes: 8, MaxFacts: 64, MaxRules: 16, MaxChecks: 32, MaxQueries: 8,
		MaxBodyPredicates: 4, MaxExpressions: 8, MaxOps: 64, MaxTerms: 8, MaxSetSize: 64, MaxVariables: 2, MaxContextBytes: 256}
	syms := SymbolTable{added: []string{"short", "much too long a string"}}
	decode := func(fast bool, inRule bool, fn func(d *decoder) (any, error)) string {
		fastPaths = fast
		defer func() { fastPaths = true }()
		d := &decoder{syms: &syms, lim: &lim, inRule: inRule}
		d.varSyms, d.varNames = []uint32{1024}, []string{"short"} // one variable already seen
		v, err := fn(d)
		return fmt.Sprintf("%+v | %v | %v", v, err, d.varNames)
	}
	var inputs [][]byte
	values := []uint64{0, 1, 2, 3, 27, 28, 1023, 1024, 1025, 1026, 1 << 31, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64}
	for num := protowire.Number(0); num <= 11; num++ {
		for _, v := range values {
			inputs = append(inputs, protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v))
		}
		for _, typ := range []protowire.Type{protowire.Fixed32Type, protowire.Fixed64Type} {
			b := protowire.AppendTag(nil, num, typ)
			inputs = append(inputs, append(b, make([]byte, 8)...), append(b, make([]byte, 4)...))
		}
		for _, inner := range [][]byte{nil, {0x08, 0x00}, {0x08, 0x05}, {0x08, 0x10}, {0x08, 0x11}, {0x08, 0x7f}, {0x08, 0x80, 0x01}, {0x10, 0x01}, {0x08, 0x01, 0x08, 0x02}, {0x0a, 0x00}, {0x18, 0x03}, {0x08}, {0x3a, 0x02, 0x18, 0x03}} {
			inputs = append(inputs, protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), inner))
		}
	}
	n := len(inputs)
	for i := 0; i < n; i++ {
		inputs = append(inputs, append(append([]byte{}, inputs[i]...), 0x18, 0x01), inputs[i][:len(inputs[i])-1])
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		inputs = append(inputs, b)
	}
	for _, b := range inputs {
		for _, inRule := range []bool{false, true} {
			for _, allowSet := range []bool{false, true} {
				term := func(d *decoder) (any, error) { return d.term(b, allowSet) }
				if fast, walk := decode(true, inRule, term), decode(false, inRule, term); fast != walk {
					t.Errorf("term(%x): fast path %s, walk %s", b, fast, walk)
				}
			}
			op := func(d *decoder) (any, error) { return d.op(b) }
			if fast, walk := decode(true, inRule, op), decode(false, inRule, op); fast != walk {
				t.Errorf("op(%x): fast path %s, walk %s", b, fast, walk)
			}
		}
	}
}

// TestConsumeMatchesProtowire holds the one-byte fast paths of consumeTag,
// consumeVarint and consumeBytes to protowire on every input of up to two
// bytes, and on longer ones.
func TestConsumeMatchesProtowire(t *testing.T) {
	var inputs [][]byte
	inputs = append(inputs, nil)
	for a := range 256 {
		inputs = append(inputs, []byte{byte(a)})
		for b := range 256 {
			inputs = append(inputs, []byte{byte(a), byte(b)})
		}
	}
	for n := range 130 {
		inputs = append(inputs, protowire.AppendBytes(nil, make([]byte, n)), protowire.AppendBytes(nil, make([]byte, n))[:max(0, n)])
	}
	for _, b := range inputs {
		n1, t1, l1 := consumeTag(b)
		n2, t2, l2 := protowire.ConsumeTag(b)
		if n1 != n2 || t1 != t2 || l1 != l2 {
			t.Fatalf("consumeTag(%x) = %v %v %v, protowire %v %v %v", b, n1, t1, l1, n2, t2, l2)
		}
		x1, l1 := consumeVarint(b)
		x2, l2 := protowire.ConsumeVarint(b)
		if x1 != x2 || l1 != l2 {
			t.Fatalf("consumeVarint(%x) = %v %v, protowire %v %v", b, x1, l1, x2, l2)
		}
		v1, l1 := consumeBytes(b)
		v2, l2 := protowire.ConsumeBytes(b)
		if string(v1) != string(v2) || (v1 == nil) != (v2 == nil) || l1 != l2 {
			t.Fatalf("consumeBytes(%x) = %x %v, protowire %x %v", b, v1, l1, v2, l2)
		}
	}
}
