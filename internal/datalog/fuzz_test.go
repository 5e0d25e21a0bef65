package datalog

import (
	"errors"
	"testing"
	"time"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// fuzzRun is a small budget: whatever a block holds, evaluating it stops
// after about this much work.
var fuzzRun = RunLimits{Steps: 2000, Facts: 128, Iterations: 8}

// FuzzDecodeBlock feeds arbitrary bytes to DecodeBytes under the token
// limits. Decoding never panics, and decodes exactly as the general decoder
// alone does (the fast paths of fastdecode.go change nothing); a block that decodes prints without
// panicking, and evaluating it (as the authority block and as an
// attenuation block, against typical request facts) never panics, always
// terminates within the step budget and gives the same answer twice.
func FuzzDecodeBlock(f *testing.F) {
	seeds := [][]byte{
		authorityBytes(f, []string{`session("s_1")`, `agent("bot")`, `right("crm", "*", "read", "account:")`}, nil,
			[]string{`check if time($time), $time <= 2026-11-22T10:15:00Z`}),
		authorityBytes(f, []string{`delegated_to("sub")`}, []string{`allowed($t) <- tool($t), ["a", "b"].contains($t)`},
			[]string{`check if allowed($t)`, `check if resource($r), $r.starts_with("account:acme/42")`}),
		authorityBytes(f, nil, nil, []string{
			`check if tool($t), !($t == "refund") or arg("amount", $a), $a <= 500`,
			`check if arg("to", $to), ["a@x.test", "b@x.test"].contains($to)`,
			`check if u($u), $u.matches("^a.*z$"), $u.length() > 2`,
			`check if x($a), ($a + 1) * 2 > 3 && $a - 4 / 2 >= 0`,
			`check if s($s), $s.union(["b"]).intersection(["a", "b"]).length() == 2`,
		}),
		authorityBytes(f, []string{`p(1)`, `p(2)`, `p(3)`, `edge(1, 2)`, `edge(2, 3)`}, []string{`q($a, $b) <- p($a), p($b)`, `p($y) <- p($x), edge($x, $y)`},
			[]string{`check if p($a), p($b), p($c), p($d), $a + $b + $c + $d == 0`}),
		{},
		{0x18, 0x03},             // version 3, nothing else
		{0x18, 0x06},             // version 6
		{0x18, 0x03, 0x48, 0x01}, // unknown field 9
	}
	// Hand-made blocks with types biscuit-go's parser cannot write.
	seeds = append(seeds, mustMarshal(&pb.Block{
		Version: proto.Uint32(3),
		Symbols: []string{"f"},
		FactsV2: []*pb.FactV2{{Predicate: &pb.PredicateV2{Name: proto.Uint64(SymbolOffset), Terms: []*pb.TermV2{
			{Content: &pb.TermV2_Integer{Integer: -1 << 63}},
			{Content: &pb.TermV2_Bytes{Bytes: []byte{0, 1}}},
			{Content: &pb.TermV2_Date{Date: 1 << 62}},
			{Content: &pb.TermV2_Bool{Bool: true}},
		}}}},
	}))
	seeds = append(seeds, protowire.AppendTag(protowire.AppendVarint([]byte{0x18}, 3), 6, protowire.BytesType))
	for _, s := range seeds {
		f.Add(s)
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ambient := []Predicate{
		pred("time", Date(now)), pred("service", String("crm")), pred("tool", String("get_account")),
		pred("operation", String("read")), pred("resource", String("account:acme/42")),
		pred("arg", String("amount"), Int(100)), pred("arg", String("to"), set(String("a@x.test"))),
		pred("p", Int(1)), pred("u", String("abcz")), pred("x", Int(3)), pred("s", set(String("a"))),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if msg, ok := decodeBoth(data, SymbolTable{}, &testLimits); !ok {
			t.Fatalf("fast paths and general decoder differ:\n%s", msg)
		}
		var syms SymbolTable
		b, err := DecodeBytes(data, &syms, &testLimits)
		if err != nil {
			if b != nil {
				t.Fatal("DecodeBytes returned a block with an error")
			}
			return
		}
		for _, fact := range b.Facts {
			_ = fact.String()
		}
		for _, r := range b.Rules {
			_ = r.String()
		}
		for _, c := range b.Checks {
			_ = c.String()
		}
		e := NewEvaluator(fuzzRun)
		for _, blocks := range [][]*Block{{b}, {{}, b}} {
			out1, err1 := e.Run(blocks, ambient, func(*World) bool { return true })
			s1 := e.Steps()
			out2, err2 := e.Run(blocks, ambient, func(*World) bool { return true })
			if out1 != out2 || (err1 == nil) != (err2 == nil) || s1 != e.Steps() {
				t.Fatalf("two runs differ: %+v %v %d steps / %+v %v %d steps", out1, err1, s1, out2, err2, e.Steps())
			}
			// An operation is charged before it runs, so a run that went
			// over the budget stopped there with ErrBudget.
			if s1 > fuzzRun.Steps && !errors.Is(err1, ErrBudget) {
				t.Fatalf("used %d steps of a %d budget, then %v", s1, fuzzRun.Steps, err1)
			}
			if out1.Allowed && err1 != nil {
				t.Fatalf("allowed with an error: %v", err1)
			}
		}
	})
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}
