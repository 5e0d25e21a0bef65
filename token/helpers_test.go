package token_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"testing"
	"time"

	"github.com/biscuit-auth/biscuit-go/v2"
	"github.com/biscuit-auth/biscuit-go/v2/parser"
	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/proto"

	"github.com/mandate-dev/mandate/token"
)

// t0 is the fixed clock of these tests.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// testKey returns a deterministic root key; different seeds give different
// keys.
func testKey(seed byte) token.SigningKey {
	return token.NewSigningKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
}

func baseRequest() token.MintRequest {
	return token.MintRequest{
		Subject: token.Subject{Agent: "support-bot", User: "alice@acme.test", Org: "acme", Session: "s_test"},
		Rights: []token.Right{
			{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"},
			{Service: "billing", Tool: "*", Operation: "*", Resource: "invoice:acme/"},
		},
		TTL: 15 * time.Minute,
		Now: t0,
	}
}

// mint mints baseRequest with key.
func mint(t testing.TB, key token.SigningKey) *token.Minted {
	t.Helper()
	m, err := token.Mint(key, baseRequest())
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return m
}

// attenuate appends a block holding checks (Datalog text) and facts with
// biscuit-go, as an agent would. biscuit-go drops the root key ID hint.
func attenuate(t testing.TB, raw []byte, context string, facts []string, checks ...string) []byte {
	t.Helper()
	b, err := biscuit.Unmarshal(raw)
	if err != nil {
		t.Fatalf("biscuit.Unmarshal: %v", err)
	}
	bb := b.CreateBlock()
	if context != "" {
		bb.SetContext(context)
	}
	for _, f := range facts {
		fact, err := parser.FromStringFact(f)
		if err != nil {
			t.Fatalf("parse fact %q: %v", f, err)
		}
		if err := bb.AddFact(fact); err != nil {
			t.Fatalf("AddFact: %v", err)
		}
	}
	for _, c := range checks {
		check, err := parser.FromStringCheck(c)
		if err != nil {
			t.Fatalf("parse check %q: %v", c, err)
		}
		if err := bb.AddCheck(check); err != nil {
			t.Fatalf("AddCheck: %v", err)
		}
	}
	next, err := b.Append(rand.Reader, bb.Build())
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	out, err := next.Serialize()
	if err != nil {
		t.Fatalf("Serialize: %v", err)
	}
	return out
}

// seal seals a token with biscuit-go.
func seal(t testing.TB, raw []byte) []byte {
	t.Helper()
	b, err := biscuit.Unmarshal(raw)
	if err != nil {
		t.Fatalf("biscuit.Unmarshal: %v", err)
	}
	s, err := b.Seal(rand.Reader)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	out, err := s.Serialize()
	if err != nil {
		t.Fatalf("Serialize: %v", err)
	}
	return out
}

// fourBlocks returns a minted token with three attenuation blocks, the
// shape of the benchmarks.
func fourBlocks(t testing.TB, key token.SigningKey) []byte {
	t.Helper()
	raw := mint(t, key).Raw
	raw = attenuate(t, raw, "sub-agent 1", []string{`delegated_to("planner")`},
		`check if tool($t), ["get_account", "list_invoices"].contains($t)`)
	raw = attenuate(t, raw, "", nil, `check if resource($r), $r.starts_with("account:acme/42")`)
	raw = attenuate(t, raw, "", nil, `check if time($t), $t <= 2026-11-22T10:05:00Z`)
	return raw
}

// chain signs raw pb.Block encodings into a token by hand, so tests can put
// anything in a correctly signed block. With sealed it ends in a final
// signature; rootKeyID, when non-nil, is the hint.
type chain struct {
	root      ed25519.PrivateKey
	blocks    [][]byte
	sealed    bool
	rootKeyID *uint32
}

func (c chain) build(t testing.TB) []byte {
	t.Helper()
	cur := c.root
	out := &pb.Biscuit{RootKeyId: c.rootKeyID}
	var last *pb.SignedBlock
	for i, blk := range c.blocks {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		alg := pb.PublicKey_Ed25519
		msg := append(append(append([]byte{}, blk...), le32(uint32(alg))...), pub...)
		sb := &pb.SignedBlock{Block: blk, NextKey: &pb.PublicKey{Algorithm: &alg, Key: pub}, Signature: ed25519.Sign(cur, msg)}
		if i == 0 {
			out.Authority = sb
		} else {
			out.Blocks = append(out.Blocks, sb)
		}
		cur, last = priv, sb
	}
	if c.sealed {
		msg := append(append(append(append([]byte{}, last.Block...), le32(uint32(last.NextKey.GetAlgorithm()))...), last.NextKey.Key...), last.Signature...)
		out.Proof = &pb.Proof{Content: &pb.Proof_FinalSignature{FinalSignature: ed25519.Sign(cur, msg)}}
	} else {
		out.Proof = &pb.Proof{Content: &pb.Proof_NextSecret{NextSecret: cur.Seed()}}
	}
	raw, err := proto.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// Block construction helpers: symbols added by a block start at 1024.
const sym0 = 1024

func u32(v uint32) *uint32 { return &v }
func u64(v uint64) *uint64 { return &v }

func pbInt(i int64) *pb.TermV2  { return &pb.TermV2{Content: &pb.TermV2_Integer{Integer: i}} }
func pbStr(s uint64) *pb.TermV2 { return &pb.TermV2{Content: &pb.TermV2_String_{String_: s}} }
func pbVar(v uint32) *pb.TermV2 { return &pb.TermV2{Content: &pb.TermV2_Variable{Variable: v}} }

func pbPred(name uint64, terms ...*pb.TermV2) *pb.PredicateV2 {
	return &pb.PredicateV2{Name: u64(name), Terms: terms}
}

func pbFact(name uint64, terms ...*pb.TermV2) *pb.FactV2 {
	return &pb.FactV2{Predicate: pbPred(name, terms...)}
}

func pbValue(t *pb.TermV2) *pb.Op { return &pb.Op{Content: &pb.Op_Value{Value: t}} }

func pbBinary(k pb.OpBinary_Kind) *pb.Op {
	return &pb.Op{Content: &pb.Op_Binary{Binary: &pb.OpBinary{Kind: &k}}}
}

// authorityBlock is a minimal valid v3 authority block: agent("a").
func authorityBlock() *pb.Block {
	return &pb.Block{
		Symbols: []string{"agent", "a"},
		Version: u32(3),
		FactsV2: []*pb.FactV2{pbFact(sym0, pbStr(sym0+1))},
	}
}

// checkBlock returns a v3 block `check if x($v), <expressions>` whose symbols
// start at first.
func checkBlock(first uint64, body int, exprs ...*pb.ExpressionV2) *pb.Block {
	preds := make([]*pb.PredicateV2, body)
	for i := range preds {
		preds[i] = pbPred(first, pbVar(uint32(first+1)))
	}
	return &pb.Block{
		Symbols:  []string{"x", "v"},
		Version:  u32(3),
		ChecksV2: []*pb.CheckV2{{Queries: []*pb.RuleV2{{Head: pbPred(27), Body: preds, Expressions: exprs}}}},
	}
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// marshalPartial marshals a message whose required fields the test will
// append by hand.
func marshalPartial(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
