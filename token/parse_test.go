package token_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/mandate-dev/mandate/internal/tokentest"
	"github.com/mandate-dev/mandate/token"
)

func TestParseRejectsGarbage(t *testing.T) {
	key := testKey(1)
	valid := mint(t, key).Raw
	noProof := func() []byte {
		c := new(pb.Biscuit)
		if err := proto.Unmarshal(valid, c); err != nil {
			t.Fatal(err)
		}
		c.Proof = &pb.Proof{}
		return marshal(t, c)
	}()
	tests := []struct {
		name    string
		raw     []byte
		wantErr error
	}{
		{"nil", nil, token.ErrMalformed},
		{"empty", []byte{}, token.ErrMalformed},
		{"one zero byte", []byte{0}, token.ErrMalformed},
		{"text", []byte("hello, I am a token"), token.ErrMalformed},
		{"ff bytes", bytes.Repeat([]byte{0xff}, 64), token.ErrMalformed},
		{"protobuf of an empty block", marshal(t, authorityBlock()), token.ErrMalformed},
		{"proof without content", noProof, token.ErrMalformed},
		{"authority block is garbage", chain{root: key.Private, blocks: [][]byte{[]byte("garbage")}}.build(t), token.ErrMalformed},
		{"block without version", chain{root: key.Private, blocks: [][]byte{marshal(t, &pb.Block{Symbols: []string{"x"}})}}.build(t), token.ErrMalformed},
		{"block version 2", chain{root: key.Private, blocks: [][]byte{marshal(t, &pb.Block{Version: u32(2)})}}.build(t), token.ErrMalformed},
		{"dangling symbol", chain{root: key.Private, blocks: [][]byte{marshal(t, &pb.Block{Version: u32(3), FactsV2: []*pb.FactV2{pbFact(sym0 + 5)}})}}.build(t), token.ErrMalformed},
		{"variable in a fact", chain{root: key.Private, blocks: [][]byte{marshal(t, &pb.Block{Version: u32(3), Symbols: []string{"f", "v"}, FactsV2: []*pb.FactV2{pbFact(sym0, pbVar(sym0+1))}})}}.build(t), token.ErrMalformed},
		{"symbol not UTF-8", chain{root: key.Private, blocks: [][]byte{marshal(t, &pb.Block{Version: u32(3), Symbols: []string{"\xff"}})}}.build(t), token.ErrMalformed},
		{"check without query", chain{root: key.Private, blocks: [][]byte{marshal(t, &pb.Block{Version: u32(3), ChecksV2: []*pb.CheckV2{{}}})}}.build(t), token.ErrMalformed},
		{"unbound head variable", chain{root: key.Private, blocks: [][]byte{marshal(t, &pb.Block{Version: u32(3), Symbols: []string{"x", "v", "w"},
			RulesV2: []*pb.RuleV2{{Head: pbPred(sym0, pbVar(sym0+2)), Body: []*pb.PredicateV2{pbPred(sym0, pbVar(sym0+1))}}}})}}.build(t), token.ErrMalformed},
		{"expression leaves two values", chain{root: key.Private, blocks: [][]byte{marshal(t, checkBlock(sym0, 1, &pb.ExpressionV2{Ops: []*pb.Op{pbValue(pbInt(1)), pbValue(pbInt(2))}}))}}.build(t), token.ErrMalformed},
		{"binary operator without operands", chain{root: key.Private, blocks: [][]byte{marshal(t, checkBlock(sym0, 1, &pb.ExpressionV2{Ops: []*pb.Op{pbValue(pbInt(1)), pbBinary(pb.OpBinary_Add)}}))}}.build(t), token.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := token.Parse(tt.raw)
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, token.ErrInvalid) {
				t.Fatalf("Parse = %v, %v; want %v", u, err, tt.wantErr)
			}
		})
	}
}

func TestParseStringRejects(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{"empty", "", token.ErrMalformed},
		{"blank", " \n\t", token.ErrMalformed},
		{"not base64", "not a token!", token.ErrMalformed},
		{"base64 of text", token.Encode([]byte("not a biscuit")), token.ErrMalformed},
		{"oversize", strings.Repeat("A", token.MaxEncodedBytes+1), token.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := token.ParseString(tt.in); !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseString = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// Every proper prefix of a valid token is rejected by Parse.
func TestParseTruncated(t *testing.T) {
	key := testKey(1)
	raw := attenuate(t, mint(t, key).Raw, "", nil, `check if tool("get_account")`)
	for _, sealed := range []bool{false, true} {
		tok := raw
		if sealed {
			tok = seal(t, raw)
		}
		if _, err := token.Parse(tok); err != nil {
			t.Fatalf("Parse(valid, sealed=%v): %v", sealed, err)
		}
		for n := 0; n < len(tok); n++ {
			if u, err := token.Parse(tok[:n]); !errors.Is(err, token.ErrMalformed) {
				t.Fatalf("sealed=%v: Parse(first %d of %d bytes) = %v, %v; want ErrMalformed", sealed, n, len(tok), u, err)
			}
		}
	}
}

// hintBytes returns the byte range of the root key ID hint Mint prepends.
func hintBytes(raw []byte) (int, int) {
	if len(raw) == 0 || raw[0] != 0x08 {
		return 0, 0
	}
	_, n := protowire.ConsumeVarint(raw[1:])
	return 0, 1 + n
}

// The tamper test: changing any byte of a valid token makes it fail Parse or
// Verify. The one exception is the root key ID hint, which is unsigned by
// design (biscuit-go drops it on append): changing it may still verify,
// with every block, revocation ID and the verifying key unchanged.
func TestTamper(t *testing.T) {
	key := testKey(1)
	keys := token.NewKeySet(key.Public(), testKey(2).Public())
	m := mint(t, key)
	attenuated := attenuate(t, m.Raw, "sub", []string{`delegated_to("x")`}, `check if tool("get_account")`)
	tokens := map[string][]byte{
		"minted":            m.Raw,
		"attenuated":        attenuated,
		"attenuated sealed": seal(t, attenuated),
	}
	for name, raw := range tokens {
		t.Run(name, func(t *testing.T) {
			orig, err := token.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			want, err := orig.Verify(keys, t0)
			if err != nil {
				t.Fatal(err)
			}
			hs, he := hintBytes(raw)
			for i := range raw {
				// Every byte inverted, and every byte with one bit flipped
				// (a different bit from byte to byte).
				masks := []byte{0xff, 1 << (i % 8)}
				if raceEnabled {
					masks = masks[:1]
				}
				for _, mask := range masks {
					tampered := bytes.Clone(raw)
					tampered[i] ^= mask
					u, err := token.Parse(tampered)
					if err != nil {
						if !errors.Is(err, token.ErrInvalid) {
							t.Fatalf("byte %d ^ %#x: Parse error %v is not ErrInvalid", i, mask, err)
						}
						continue
					}
					v, err := u.Verify(keys, t0)
					if err != nil {
						if !errors.Is(err, token.ErrSignature) && !errors.Is(err, token.ErrUnknownKey) {
							t.Fatalf("byte %d ^ %#x: Verify error %v is neither ErrSignature nor ErrUnknownKey", i, mask, err)
						}
						continue
					}
					if i < hs || i >= he {
						t.Fatalf("byte %d ^ %#x: tampered token verifies", i, mask)
					}
					if v.KeyID() != want.KeyID() || !equalIDs(v.RevocationIDs(), want.RevocationIDs()) {
						t.Fatalf("byte %d ^ %#x (hint): verified with a different key or chain", i, mask)
					}
				}
			}
		})
	}
}

func equalIDs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestTamperedProofAndSignatures(t *testing.T) {
	key := testKey(1)
	keys := token.NewKeySet(key.Public())
	raw := attenuate(t, mint(t, key).Raw, "", nil, `check if tool("get_account")`)
	edit := func(raw []byte, f func(c *pb.Biscuit)) []byte {
		c := new(pb.Biscuit)
		if err := proto.Unmarshal(raw, c); err != nil {
			t.Fatal(err)
		}
		f(c)
		return marshal(t, c)
	}
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	tests := []struct {
		name    string
		raw     []byte
		wantErr error
	}{
		{"proof secret of another key", edit(raw, func(c *pb.Biscuit) {
			c.Proof = &pb.Proof{Content: &pb.Proof_NextSecret{NextSecret: otherPriv.Seed()}}
		}), token.ErrSignature},
		{"seal signature of another key", edit(seal(t, raw), func(c *pb.Biscuit) {
			last := c.Blocks[len(c.Blocks)-1]
			msg := append(append(append(append([]byte{}, last.Block...), le32(0)...), last.NextKey.Key...), last.Signature...)
			c.Proof = &pb.Proof{Content: &pb.Proof_FinalSignature{FinalSignature: ed25519.Sign(otherPriv, msg)}}
		}), token.ErrSignature},
		{"block removed", edit(raw, func(c *pb.Biscuit) { c.Blocks = nil }), token.ErrSignature},
		{"blocks swapped in", edit(raw, func(c *pb.Biscuit) {
			other := attenuate(t, mint(t, key).Raw, "", nil, `check if tool("x")`)
			oc := new(pb.Biscuit)
			if err := proto.Unmarshal(other, oc); err != nil {
				t.Fatal(err)
			}
			c.Blocks = oc.Blocks
		}), token.ErrSignature},
		{"authority signed by another root", chain{root: otherPriv, blocks: [][]byte{marshal(t, authorityBlock())}}.build(t), token.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := token.Parse(tt.raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if _, err := u.Verify(keys, t0); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestSealedTokensVerify(t *testing.T) {
	key := testKey(1)
	keys := token.NewKeySet(key.Public())
	minted := mint(t, key)
	tests := []struct {
		name string
		raw  []byte
	}{
		{"minted, sealed by biscuit-go", seal(t, minted.Raw)},
		{"attenuated, sealed by biscuit-go", seal(t, attenuate(t, minted.Raw, "", nil, `check if tool("get_account")`))},
		{"sealed by hand", chain{root: key.Private, blocks: [][]byte{marshal(t, authorityBlock())}, sealed: true}.build(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := token.Parse(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if !u.Sealed() {
				t.Fatal("Sealed() = false")
			}
			if _, err := u.Verify(keys, t0); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
	u, err := token.Parse(minted.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if u.Sealed() {
		t.Fatal("a fresh token reports Sealed() = true")
	}
}

// block is the table row of TestParseLimits: a signed authority block
// followed by extra blocks built from pb messages.
func TestParseLimits(t *testing.T) {
	key := testKey(1)
	auth := marshal(t, authorityBlock())
	with := func(blocks ...*pb.Block) []byte {
		raw := [][]byte{auth}
		for _, b := range blocks {
			raw = append(raw, marshal(t, b))
		}
		return chain{root: key.Private, blocks: raw}.build(t)
	}
	// The block added after authorityBlock (2 symbols) starts at symbol 1026.
	const s = sym0 + 2
	facts := func(n int) *pb.Block {
		b := &pb.Block{Version: u32(3), Symbols: []string{"f"}}
		for i := 0; i < n; i++ {
			b.FactsV2 = append(b.FactsV2, pbFact(s, pbInt(int64(i))))
		}
		return b
	}
	rules := func(n int) *pb.Block {
		b := &pb.Block{Version: u32(3), Symbols: []string{"f", "v", "g"}}
		for i := 0; i < n; i++ {
			b.RulesV2 = append(b.RulesV2, &pb.RuleV2{Head: pbPred(s+2, pbVar(s+1)), Body: []*pb.PredicateV2{pbPred(s, pbVar(s+1))}})
		}
		return b
	}
	checks := func(n int) *pb.Block {
		b := checkBlock(s, 1)
		for len(b.ChecksV2) < n {
			b.ChecksV2 = append(b.ChecksV2, b.ChecksV2[0])
		}
		return b
	}
	queries := func(n int) *pb.Block {
		b := checkBlock(s, 1)
		for len(b.ChecksV2[0].Queries) < n {
			b.ChecksV2[0].Queries = append(b.ChecksV2[0].Queries, b.ChecksV2[0].Queries[0])
		}
		return b
	}
	body := func(n int) *pb.Block { return checkBlock(s, n) }
	eq := &pb.ExpressionV2{Ops: []*pb.Op{pbValue(pbVar(s + 1)), pbValue(pbInt(1)), pbBinary(pb.OpBinary_Equal)}}
	exprs := func(n int) *pb.Block {
		b := checkBlock(s, 1)
		for i := 0; i < n; i++ {
			b.ChecksV2[0].Queries[0].Expressions = append(b.ChecksV2[0].Queries[0].Expressions, eq)
		}
		return b
	}
	ops := func(n int) *pb.Block {
		// $v + 1 + 1 ... == $v: 2k+3 ops for k additions, padded with parens.
		x := []*pb.Op{pbValue(pbVar(s + 1))}
		for len(x)+2+3 <= n {
			x = append(x, pbValue(pbInt(1)), pbBinary(pb.OpBinary_Add))
		}
		x = append(x, pbValue(pbVar(s+1)), pbBinary(pb.OpBinary_GreaterThan))
		k := pb.OpUnary_Parens
		for len(x) < n {
			x = append(x, &pb.Op{Content: &pb.Op_Unary{Unary: &pb.OpUnary{Kind: &k}}})
		}
		return checkBlock(s, 1, &pb.ExpressionV2{Ops: x})
	}
	terms := func(n int) *pb.Block {
		b := &pb.Block{Version: u32(3), Symbols: []string{"f"}}
		f := pbFact(s)
		for i := 0; i < n; i++ {
			f.Predicate.Terms = append(f.Predicate.Terms, pbInt(int64(i)))
		}
		b.FactsV2 = []*pb.FactV2{f}
		return b
	}
	set := func(n int) *pb.Block {
		ts := &pb.TermSet{}
		for i := 0; i < n; i++ {
			ts.Set = append(ts.Set, pbInt(int64(i)))
		}
		return &pb.Block{Version: u32(3), Symbols: []string{"f"}, FactsV2: []*pb.FactV2{pbFact(s, &pb.TermV2{Content: &pb.TermV2_Set{Set: ts}})}}
	}
	vars := func(n int) *pb.Block {
		b := &pb.Block{Version: u32(3), Symbols: []string{"f"}}
		var preds []*pb.PredicateV2
		for i := 0; i < n; i += token.MaxTermsPerPredicate {
			p := pbPred(s)
			for j := i; j < n && j < i+token.MaxTermsPerPredicate; j++ {
				b.Symbols = append(b.Symbols, "v"+string(rune('a'+j)))
				p.Terms = append(p.Terms, pbVar(uint32(s+1+j)))
			}
			preds = append(preds, p)
		}
		b.ChecksV2 = []*pb.CheckV2{{Queries: []*pb.RuleV2{{Head: pbPred(27), Body: preds}}}}
		return b
	}
	symbols := func(n int) *pb.Block {
		b := &pb.Block{Version: u32(3)}
		for i := 0; i < n; i++ {
			b.Symbols = append(b.Symbols, fmt.Sprintf("s%d", i)) // distinct: tables must not overlap
		}
		return b
	}
	str := func(n int) *pb.Block {
		return &pb.Block{Version: u32(3), Symbols: []string{"f", strings.Repeat("a", n)}, FactsV2: []*pb.FactV2{pbFact(s, pbStr(s+1))}}
	}
	byteTerm := func(n int) *pb.Block {
		return &pb.Block{Version: u32(3), Symbols: []string{"f"}, FactsV2: []*pb.FactV2{pbFact(s, &pb.TermV2{Content: &pb.TermV2_Bytes{Bytes: make([]byte, n)}})}}
	}
	context := func(n int) *pb.Block {
		return &pb.Block{Version: u32(3), Context: proto.String(strings.Repeat("c", n))}
	}
	manyBlocks := func(n int) []byte {
		raw := [][]byte{auth}
		for len(raw) < n {
			raw = append(raw, marshal(t, &pb.Block{Version: u32(3)}))
		}
		return chain{root: key.Private, blocks: raw}.build(t)
	}
	// MaxSymbols is shared by all blocks: the authority block has 2.
	tests := []struct {
		name  string
		limit int
		make  func(n int) []byte
	}{
		{"blocks", token.MaxBlocks, manyBlocks},
		{"facts", token.MaxFactsPerBlock, func(n int) []byte { return with(facts(n)) }},
		{"rules", token.MaxRulesPerBlock, func(n int) []byte { return with(rules(n)) }},
		{"checks", token.MaxChecksPerBlock, func(n int) []byte { return with(checks(n)) }},
		{"queries", token.MaxQueriesPerCheck, func(n int) []byte { return with(queries(n)) }},
		{"body predicates", token.MaxBodyPredicates, func(n int) []byte { return with(body(n)) }},
		{"expressions", token.MaxExpressionsPerRule, func(n int) []byte { return with(exprs(n)) }},
		{"ops", token.MaxOpsPerExpression, func(n int) []byte { return with(ops(n)) }},
		{"terms", token.MaxTermsPerPredicate, func(n int) []byte { return with(terms(n)) }},
		{"set elements", token.MaxSetSize, func(n int) []byte { return with(set(n)) }},
		{"variables", token.MaxVariablesPerRule, func(n int) []byte { return with(vars(n)) }},
		{"symbols", token.MaxSymbols - 2, func(n int) []byte { return with(symbols(n)) }},
		{"string bytes", token.MaxStringBytes, func(n int) []byte { return with(str(n)) }},
		{"bytes term", token.MaxStringBytes, func(n int) []byte { return with(byteTerm(n)) }},
		{"context bytes", token.MaxContextBytes, func(n int) []byte { return with(context(n)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := tt.make(tt.limit)
			if _, err := token.Parse(at); err != nil {
				t.Fatalf("at the limit (%d): Parse: %v", tt.limit, err)
			}
			over := tt.make(tt.limit + 1)
			if _, err := token.Parse(over); !errors.Is(err, token.ErrTooLarge) {
				t.Fatalf("over the limit (%d): Parse = %v, want ErrTooLarge", tt.limit+1, err)
			}
		})
	}
	t.Run("token bytes", func(t *testing.T) {
		raw := with(str(10))
		big := append(bytes.Clone(raw), make([]byte, token.MaxTokenBytes+1-len(raw))...)
		if _, err := token.Parse(big); !errors.Is(err, token.ErrTooLarge) {
			t.Fatalf("Parse(%d bytes) = %v, want ErrTooLarge", len(big), err)
		}
	})
}

// unknownField appends a protobuf field the v3 schema does not define to an
// encoded message.
func unknownField(msg []byte, num protowire.Number, v uint64) []byte {
	msg = protowire.AppendTag(msg, num, protowire.VarintType)
	return protowire.AppendVarint(msg, v)
}

// Blocks from newer Biscuit libraries are rejected as unsupported, and the
// error names the feature or version so that the agent author can act.
func TestNewerFormatsUnsupported(t *testing.T) {
	key := testKey(1)
	auth := marshal(t, authorityBlock())
	const s = sym0 + 2
	signed := func(blocks ...[]byte) []byte {
		return chain{root: key.Private, blocks: append([][]byte{auth}, blocks...)}.build(t)
	}
	versioned := func(v uint32) []byte {
		b := checkBlock(s, 1)
		b.Version = u32(v)
		return marshal(t, b)
	}
	// check all: CheckV2 field 2 (kind = 1, All) on the wire.
	checkAll := func(version uint32) []byte {
		b := checkBlock(s, 1)
		b.Version = u32(version)
		c := marshal(t, b.ChecksV2[0])
		b.ChecksV2[0] = new(pb.CheckV2)
		if err := proto.Unmarshal(unknownField(c, 2, 1), b.ChecksV2[0]); err != nil {
			t.Fatal(err)
		}
		return marshal(t, b)
	}
	// An array term (TermV2 field 9), as Rust/JS/Python write [..] since
	// Datalog 3.3: encode a fact f(<term with field 9>).
	array := func() []byte {
		term := protowire.AppendTag(nil, 9, protowire.BytesType)
		term = protowire.AppendBytes(term, nil)
		pred := protowire.AppendTag(nil, 1, protowire.VarintType)
		pred = protowire.AppendVarint(pred, s)
		pred = protowire.AppendTag(pred, 2, protowire.BytesType)
		pred = protowire.AppendBytes(pred, term)
		fact := protowire.AppendTag(nil, 1, protowire.BytesType)
		fact = protowire.AppendBytes(fact, pred)
		blk := marshal(t, &pb.Block{Version: u32(3), Symbols: []string{"f"}})
		blk = protowire.AppendTag(blk, 4, protowire.BytesType)
		return protowire.AppendBytes(blk, fact)
	}
	// != is OpBinary kind 20 since Datalog 3.1: an unknown value of a
	// required proto2 enum.
	notEqual := func(version uint32) []byte {
		b := checkBlock(s, 1)
		b.Version = u32(version)
		// Rebuild the check by hand: x($v), $v != 1.
		op := protowire.AppendTag(nil, 1, protowire.VarintType)
		op = protowire.AppendVarint(op, 20)
		binary := protowire.AppendTag(nil, 3, protowire.BytesType)
		binary = protowire.AppendBytes(binary, op)
		val := func(term []byte) []byte {
			o := protowire.AppendTag(nil, 1, protowire.BytesType)
			return protowire.AppendBytes(o, term)
		}
		expr := protowire.AppendTag(nil, 1, protowire.BytesType)
		expr = protowire.AppendBytes(expr, val(marshal(t, pbVar(s+1))))
		expr = protowire.AppendTag(expr, 1, protowire.BytesType)
		expr = protowire.AppendBytes(expr, val(marshal(t, pbInt(1))))
		expr = protowire.AppendTag(expr, 1, protowire.BytesType)
		expr = protowire.AppendBytes(expr, binary)
		rule := marshal(t, b.ChecksV2[0].Queries[0])
		rule = protowire.AppendTag(rule, 3, protowire.BytesType)
		rule = protowire.AppendBytes(rule, expr)
		check := protowire.AppendTag(nil, 1, protowire.BytesType)
		check = protowire.AppendBytes(check, rule)
		blk := marshal(t, &pb.Block{Version: b.Version, Symbols: b.Symbols})
		blk = protowire.AppendTag(blk, 6, protowire.BytesType)
		return protowire.AppendBytes(blk, check)
	}
	// A P-256 next key (algorithm 1 since Biscuit 3.2) in the container.
	p256 := func() []byte {
		raw := signed()
		c := new(pb.Biscuit)
		if err := proto.Unmarshal(raw, c); err != nil {
			t.Fatal(err)
		}
		nk := marshalPartial(t, &pb.PublicKey{Key: c.Authority.NextKey.Key})
		nk = unknownField(nk, 1, 1)
		c.Authority.NextKey = nil
		sb := marshalPartial(t, c.Authority)
		sb = protowire.AppendTag(sb, 2, protowire.BytesType)
		sb = protowire.AppendBytes(sb, nk)
		c.Authority = nil
		out := marshalPartial(t, c)
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		return protowire.AppendBytes(out, sb)
	}
	tests := []struct {
		name     string
		raw      []byte
		mentions []string
	}{
		{"block version 4", signed(versioned(4)), []string{"version 4", "Datalog 3.1"}},
		{"block version 5", signed(versioned(5)), []string{"version 5", "Datalog 3.2"}},
		{"block version 6", signed(versioned(6)), []string{"version 6", "Datalog 3.3"}},
		{"check all in a v3 block", signed(checkAll(3)), []string{"check all"}},
		{"check all in a v5 block", signed(checkAll(5)), []string{"version 5"}},
		{"array term", signed(array()), []string{"arrays", `{"a", "b"}`}},
		{"!= operator in a v4 block", signed(notEqual(4)), []string{"version 4"}},
		{"!= operator in a v3 block", signed(notEqual(3)), []string{"operator newer than Datalog 3.0"}},
		{"unknown field in the authority block", chain{root: key.Private, blocks: [][]byte{unknownField(auth, 7, 1)}}.build(t), []string{"scope annotations"}},
		{"third-party block signature", func() []byte {
			raw := signed(versioned(3))
			c := new(pb.Biscuit)
			if err := proto.Unmarshal(raw, c); err != nil {
				t.Fatal(err)
			}
			sb := unknownField(marshal(t, c.Blocks[0]), 4, 1)
			c.Blocks = nil
			out := marshal(t, c)
			out = protowire.AppendTag(out, 3, protowire.BytesType)
			return protowire.AppendBytes(out, sb)
		}(), []string{"third-party"}},
		{"P-256 key", p256(), []string{"P-256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := token.Parse(tt.raw)
			if !errors.Is(err, token.ErrUnsupported) {
				t.Fatalf("Parse = %v, want ErrUnsupported", err)
			}
			for _, m := range tt.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func TestVerifyKeys(t *testing.T) {
	a, b, c := testKey(1), testKey(2), testKey(3)
	minted := mint(t, a)
	// biscuit-go drops the hint when appending.
	appended := attenuate(t, minted.Raw, "", nil, `check if tool("get_account")`)
	tests := []struct {
		name    string
		raw     []byte
		keys    []token.PublicKey
		wantErr error
		wantID  uint32
	}{
		{"hint names the key", minted.Raw, []token.PublicKey{b.Public(), c.Public(), a.Public()}, nil, a.ID},
		{"no hint, key last", appended, []token.PublicKey{b.Public(), c.Public(), a.Public()}, nil, a.ID},
		{"hint names an unknown key", token.WithRootKeyID(appended, 12345), []token.PublicKey{b.Public(), a.Public()}, nil, a.ID},
		{"hint names another trusted key", token.WithRootKeyID(appended, b.ID), []token.PublicKey{b.Public(), a.Public()}, nil, a.ID},
		{"wrong key", minted.Raw, []token.PublicKey{b.Public()}, token.ErrUnknownKey, 0},
		{"wrong key, no hint", appended, []token.PublicKey{b.Public(), c.Public()}, token.ErrUnknownKey, 0},
		{"right key under the wrong ID", minted.Raw, []token.PublicKey{{ID: b.ID, Key: a.Public().Key}}, nil, b.ID},
		{"no keys", minted.Raw, nil, token.ErrUnknownKey, 0},
		{"key of bad length", minted.Raw, []token.PublicKey{{ID: a.ID, Key: a.Public().Key[:31]}}, token.ErrUnknownKey, 0},
		{"key retired before now", minted.Raw, []token.PublicKey{{ID: a.ID, Key: a.Public().Key, NotAfter: t0.Add(-time.Second)}}, token.ErrUnknownKey, 0},
		{"key retired at now", minted.Raw, []token.PublicKey{{ID: a.ID, Key: a.Public().Key, NotAfter: t0}}, nil, a.ID},
		{"key retired later", minted.Raw, []token.PublicKey{{ID: a.ID, Key: a.Public().Key, NotAfter: t0.Add(time.Hour)}}, nil, a.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := token.Parse(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			v, err := u.Verify(token.NewKeySet(tt.keys...), t0)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if v.KeyID() != tt.wantID || !v.RootKey().Equal(a.Public().Key) {
				t.Fatalf("verified by key %d (%x), want %d", v.KeyID(), v.RootKey(), tt.wantID)
			}
		})
	}
}

func TestRootKeyIDHint(t *testing.T) {
	key := testKey(1)
	m := mint(t, key)
	u, err := token.Parse(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := u.RootKeyIDHint(); !ok || id != key.ID || m.KeyID != key.ID {
		t.Fatalf("minted hint = %d, %v (Minted.KeyID %d); want %d", id, ok, m.KeyID, key.ID)
	}
	u, err = token.Parse(attenuate(t, m.Raw, "", nil, `check if tool("x")`))
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := u.RootKeyIDHint(); ok {
		t.Fatalf("biscuit-go appended token has hint %d; the fallback tests assume it drops it", id)
	}
	for _, id := range []uint32{0, 1, 127, 128, 1 << 21, 1<<32 - 1} {
		u, err := token.Parse(token.WithRootKeyID(mustStripHint(t, m.Raw), id))
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := u.RootKeyIDHint(); !ok || got != id {
			t.Fatalf("WithRootKeyID(%d): hint = %d, %v", id, got, ok)
		}
	}
}

func mustStripHint(t *testing.T, raw []byte) []byte {
	c := new(pb.Biscuit)
	if err := proto.Unmarshal(raw, c); err != nil {
		t.Fatal(err)
	}
	c.RootKeyId = nil
	return marshal(t, c)
}

func TestKeySetTrusted(t *testing.T) {
	a, b := testKey(1), testKey(2)
	retired := a.Public()
	retired.NotAfter = t0
	s := token.NewKeySet(retired, b.Public())
	tests := []struct {
		name string
		pub  ed25519.PublicKey
		now  time.Time
		want bool
	}{
		{"retired key before NotAfter", a.Public().Key, t0.Add(-time.Minute), true},
		{"retired key at NotAfter", a.Public().Key, t0, true},
		{"retired key after NotAfter", a.Public().Key, t0.Add(time.Second), false},
		{"current key", b.Public().Key, t0.Add(1000 * time.Hour), true},
		{"unknown key", testKey(3).Public().Key, t0, false},
		{"nil key", nil, t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Trusted(tt.pub, tt.now); got != tt.want {
				t.Fatalf("Trusted = %v, want %v", got, tt.want)
			}
		})
	}
	s.Set(a.Public())
	if s.Trusted(b.Public().Key, t0) {
		t.Fatal("Set did not remove key b")
	}
	keys := s.Keys()
	if len(keys) != 1 || keys[0].ID != a.ID {
		t.Fatalf("Keys = %v", keys)
	}
	keys[0].ID = 99 // a copy: the set must not change
	if s.Keys()[0].ID != a.ID {
		t.Fatal("Keys returned the set's own slice")
	}
}

func TestVerifiedAccessors(t *testing.T) {
	key := testKey(1)
	m := mint(t, key)
	raw := attenuate(t, m.Raw, "", nil, `check if time($t), $t <= 2026-11-22T10:05:00Z`)
	raw = attenuate(t, raw, "", nil, `check if time($t), $t < 2026-11-22T10:07:00Z`)
	u, err := token.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	v, err := u.Verify(token.NewKeySet(key.Public()), t0)
	if err != nil {
		t.Fatal(err)
	}
	req := baseRequest()
	if v.Subject() != req.Subject {
		t.Errorf("Subject = %+v, want %+v", v.Subject(), req.Subject)
	}
	if got := v.Rights(); len(got) != 2 || got[0] != req.Rights[0] || got[1] != req.Rights[1] {
		t.Errorf("Rights = %+v, want %+v", got, req.Rights)
	}
	if want := t0.Add(15 * time.Minute); !v.ExpiresAt().Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", v.ExpiresAt(), want)
	}
	if want := t0.Add(5 * time.Minute); !v.EffectiveExpiry().Equal(want) {
		t.Errorf("EffectiveExpiry = %v, want %v", v.EffectiveExpiry(), want)
	}
	if v.BlockCount() != 3 || u.BlockCount() != 3 || len(v.Datalog()) != 3 {
		t.Errorf("BlockCount = %d", v.BlockCount())
	}
	ids := v.RevocationIDs()
	if len(ids) != 3 || !bytes.Equal(ids[0], m.RevocationIDs[0]) {
		t.Errorf("RevocationIDs do not start with the minted authority block's ID")
	}
	if !bytes.Equal(v.Bytes(), raw) || v.Unverified() != u {
		t.Error("Bytes/Unverified do not return the parsed token")
	}
}

// An attenuation block that can prove time itself satisfies its own expiry
// check (Biscuit scoping), so its stated expiry binds no verifier and must
// not count as the token's (DESIGN.md, invariant 9).
func TestEffectiveExpiryIgnoresSelfSatisfiedBlocks(t *testing.T) {
	key := testKey(1)
	m := mint(t, key)
	real := attenuate(t, m.Raw, "", nil, `check if time($t), $t <= 2026-11-22T10:05:00Z`)
	withFact := attenuate(t, m.Raw, "", []string{`time(2000-01-01T00:00:00Z)`}, `check if time($t), $t <= 2026-11-22T10:01:00Z`)
	raw, err := token.Decode(tokentest.AppendDatalog(t, token.Encode(m.Raw),
		`time(2000-01-01T00:00:00Z) <- right($s, $a, $b, $c); check if time($t), $t <= 2026-11-22T10:01:00Z`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		raw  []byte
		want time.Time
	}{
		{"no attenuation expiry", m.Raw, t0.Add(15 * time.Minute)},
		{"attenuation expiry", real, t0.Add(5 * time.Minute)},
		{"block with its own time fact", withFact, t0.Add(15 * time.Minute)},
		{"block with a rule that derives time", raw, t0.Add(15 * time.Minute)},
		{"self-satisfied block after a real one", attenuate(t, real, "", []string{`time(2000-01-01T00:00:00Z)`}, `check if time($t), $t <= 2026-11-22T10:01:00Z`), t0.Add(5 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := token.Parse(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			v, err := u.Verify(token.NewKeySet(key.Public()), t0)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.EffectiveExpiry(); !got.Equal(tt.want) {
				t.Errorf("EffectiveExpiry = %v, want %v", got, tt.want)
			}
			if got := v.ExpiresAt(); !got.Equal(t0.Add(15 * time.Minute)) {
				t.Errorf("ExpiresAt = %v, want the authority block's", got)
			}
		})
	}
}
