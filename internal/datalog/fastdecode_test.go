package datalog

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// decodeBoth decodes raw with the fast paths and with the general decoder
// alone (each from a copy of syms) and reports any difference: in the
// block, the error or the symbol table left behind.
func decodeBoth(raw []byte, syms SymbolTable, lim *Limits) (string, bool) {
	var res [2]string
	var blocks [2]*Block
	for i, general := range []bool{false, true} {
		s := SymbolTable{added: append([]string(nil), syms.added...)}
		b, err := decodeBlock(raw, &s, lim, nil, general)
		blocks[i] = b
		res[i] = fmt.Sprintf("err=%v syms=%q", err, s.added)
	}
	if res[0] != res[1] || !reflect.DeepEqual(blocks[0], blocks[1]) {
		return fmt.Sprintf("fast: %s %+v\ngeneral: %s %+v", res[0], blocks[0], res[1], blocks[1]), false
	}
	return res[0], true
}

// TestFastDecodeMatchesGeneral holds the fast paths of fastdecode.go to
// the general decoder on blocks generated to be mostly well formed and
// often not: every kind of term, operator and field, repeated, unknown and
// mistyped fields, out-of-range values, unknown symbols, unbound
// variables, malformed expressions, and every limit exceeded by one.
func TestFastDecodeMatchesGeneral(t *testing.T) {
	tight := Limits{MaxSymbols: 512, MaxStringBytes: 12, MaxFacts: 3, MaxRules: 3, MaxChecks: 3, MaxQueries: 2,
		MaxBodyPredicates: 2, MaxExpressions: 2, MaxOps: 5, MaxTerms: 3, MaxSetSize: 3, MaxVariables: 2, MaxContextBytes: 16}
	syms := SymbolTable{added: []string{"p", "q", "x", "y", "a long string!", "^a.*$", "(?i)x", "\\d"}}
	accepted := 0
	for seed := range uint64(30000) {
		g := blockGen{r: rand.New(rand.NewPCG(seed, 7)), nsyms: len(syms.added), oddOneIn: []int{8, 40, 400}[seed%3]}
		lim := &testLimits
		if seed%2 == 0 {
			lim = &tight
		}
		raw := g.block()
		msg, ok := decodeBoth(raw, syms, lim)
		if !ok {
			t.Fatalf("seed %d, block %x:\n%s", seed, raw, msg)
		}
		if msg[:8] == "err=<nil" {
			accepted++
		}
	}
	if accepted < 3000 {
		t.Errorf("only %d of the generated blocks decode: the generator misses the common form", accepted)
	}
}

// blockGen writes random Biscuit blocks, field by field.
type blockGen struct {
	r        *rand.Rand
	nsyms    int
	oddOneIn int // how rare the unusual is
}

func (g *blockGen) odd() bool { return g.r.IntN(g.oddOneIn) == 0 }

func (g *blockGen) block() []byte {
	var b []byte
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, 3)
	for range g.r.IntN(3) {
		b = g.bytesField(b, 4, g.fact())
	}
	for range g.r.IntN(2) {
		b = g.bytesField(b, 5, g.rule())
	}
	for range 1 + g.r.IntN(3) {
		b = g.bytesField(b, 6, g.check())
	}
	return b
}

func (g *blockGen) bytesField(b []byte, num protowire.Number, v []byte) []byte {
	if g.r.IntN(20*g.oddOneIn) == 0 {
		return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), 1)
	}
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

func (g *blockGen) varintField(b []byte, num protowire.Number, x uint64) []byte {
	if g.r.IntN(20*g.oddOneIn) == 0 {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), nil)
	}
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), x)
}

// extra sometimes appends an unknown or repeated field.
func (g *blockGen) extra(b []byte, known protowire.Number) []byte {
	switch g.r.IntN(4 * g.oddOneIn) {
	case 0:
		return g.varintField(b, protowire.Number(1+g.r.IntN(int(known)+2)), uint64(g.r.IntN(3)))
	case 1:
		return g.bytesField(b, protowire.Number(1+g.r.IntN(int(known)+2)), nil)
	case 2:
		return protowire.AppendTag(b, known, protowire.Fixed32Type) // truncated
	}
	return b
}

func (g *blockGen) fact() []byte {
	return g.extra(g.bytesField(nil, 1, g.predicate(false)), 1)
}

func (g *blockGen) check() []byte {
	var b []byte
	n := 1 + g.r.IntN(2)
	if g.odd() {
		n = g.r.IntN(4)
	}
	for range n {
		b = g.bytesField(b, 1, g.rule())
	}
	if g.odd() {
		b = g.varintField(b, 2, uint64(g.r.IntN(3)))
	}
	return g.extra(b, 2)
}

func (g *blockGen) rule() []byte {
	var b []byte
	head := 1
	if g.odd() {
		head = g.r.IntN(3)
	}
	n := 1 + g.r.IntN(2)
	if g.odd() {
		n = g.r.IntN(5)
	}
	if !g.odd() { // binds $p and $q
		var p []byte
		p = g.varintField(p, 1, SymbolOffset)
		p = g.bytesField(p, 2, g.varintField(nil, 1, SymbolOffset))
		p = g.bytesField(p, 2, g.varintField(nil, 1, SymbolOffset+1))
		b = g.bytesField(b, 2, p)
		n--
	}
	for range n {
		b = g.bytesField(b, 2, g.predicate(true))
	}
	for range g.r.IntN(3) {
		b = g.bytesField(b, 3, g.expression())
	}
	for range head {
		var h []byte
		h = g.varintField(h, 1, g.symbol())
		if g.r.IntN(3) == 0 {
			h = g.bytesField(h, 2, g.term(true))
		}
		b = g.bytesField(b, 1, h)
	}
	return g.extra(b, 3)
}

// symbol returns a symbol index, now and then an unknown one.
func (g *blockGen) symbol() uint64 {
	if !g.odd() {
		return SymbolOffset + uint64(g.r.IntN(g.nsyms))
	}
	switch g.r.IntN(4) {
	case 0:
		return uint64(g.r.IntN(30))
	case 1:
		return SymbolOffset + uint64(g.nsyms+g.r.IntN(3))
	case 2:
		return math.MaxUint32 + uint64(g.r.IntN(2))
	}
	return SymbolOffset + uint64(g.r.IntN(g.nsyms))
}

func (g *blockGen) predicate(vars bool) []byte {
	var b []byte
	if !g.odd() {
		b = g.varintField(b, 1, g.symbol())
	}
	for range g.r.IntN(5) {
		b = g.bytesField(b, 2, g.term(vars))
	}
	if g.odd() {
		b = g.varintField(b, 1, g.symbol())
	}
	return g.extra(b, 2)
}

func (g *blockGen) term(vars bool) []byte { return g.termIn(vars, false) }

// termIn writes a term; inSet makes a nested set rare and shallow.
func (g *blockGen) termIn(vars, inSet bool) []byte {
	var b []byte
	k := 2 + g.r.IntN(6)
	if g.odd() {
		k = g.r.IntN(10)
	}
	if vars && g.r.IntN(2) == 0 {
		k = 1
	}
	if inSet && k == 7 && !g.odd() {
		k = 3
	}
	switch k {
	case 0:
		return nil
	case 1:
		v := SymbolOffset + uint64(g.r.IntN(2)) // $p or $q, mostly bound
		if g.odd() {
			v = g.symbol()
		}
		b = g.varintField(b, 1, v)
	case 2:
		b = g.varintField(b, 2, g.r.Uint64())
	case 3:
		b = g.varintField(b, 3, g.symbol())
	case 4:
		x := uint64(g.r.Int64())
		if g.odd() {
			x = math.MaxInt64 + uint64(g.r.IntN(2))
		}
		b = g.varintField(b, 4, x)
	case 5:
		b = g.bytesField(b, 5, make([]byte, g.r.IntN(16)))
	case 6:
		b = g.varintField(b, 6, uint64(g.r.IntN(3)))
	case 7:
		var s []byte
		kind := 2 + g.r.IntN(5)
		for range g.r.IntN(5) {
			e := g.termIn(false, true)
			if !g.odd() { // mostly one kind
				for range 20 {
					if len(e) > 0 && protowire.Number(e[0]>>3) == protowire.Number(kind) {
						break
					}
					e = g.termIn(g.odd(), true)
				}
			}
			s = g.bytesField(s, 1, e)
		}
		b = g.bytesField(b, 7, g.extra(s, 1))
	default:
		b = g.varintField(b, protowire.Number(7+g.r.IntN(5)), 1)
	}
	if g.r.IntN(3*g.oddOneIn) == 0 {
		b = g.varintField(b, protowire.Number(1+g.r.IntN(7)), 1)
	}
	return b
}

func (g *blockGen) expression() []byte {
	var b []byte
	depth := 0
	n := 1 + g.r.IntN(6)
	if g.odd() {
		n = g.r.IntN(8)
	}
	for i := 0; i < n || !g.odd() && depth > 1; i++ {
		var op []byte
		unary := depth >= 1 && g.r.IntN(4) == 0
		switch {
		case depth >= 2 && g.r.IntN(2) == 0 || depth >= 1 && i >= n || unary || g.odd():
			num := protowire.Number(3)
			if unary || depth == 1 || g.odd() {
				num = 2
			}
			kinds := 17
			if num == 2 {
				kinds = 3
			}
			if g.odd() {
				kinds += 5
			}
			var k []byte
			if !g.odd() {
				k = g.varintField(k, 1, uint64(g.r.IntN(kinds)))
			}
			op = g.bytesField(nil, num, g.extra(k, 1))
			depth -= int(num) - 2
		default:
			op = g.bytesField(nil, 1, g.term(true))
			depth++
		}
		if g.r.IntN(4*g.oddOneIn) == 0 {
			op = g.varintField(op, protowire.Number(1+g.r.IntN(4)), 0)
		}
		b = g.bytesField(b, 1, op)
	}
	return g.extra(b, 1)
}
