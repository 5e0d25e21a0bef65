package datalog

import (
	"strings"
	"testing"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/proto"
)

// A rule whose body is only an expression is valid Biscuit (`p(1) <- true`):
// it derives its head when the expression holds, and nothing otherwise.
func TestRuleWithOnlyExpressions(t *testing.T) {
	b := decodeText(t, nil,
		[]string{`p(1) <- true`, `never(1) <- 1 > 2`, `q($x) <- p($x), $x > 0`},
		[]string{`check if q(1)`, `check if p(1)`})
	if len(b.Rules) != 3 || len(b.Rules[0].Body) != 0 || len(b.Rules[0].Expressions) != 1 {
		t.Fatalf("decoded rules %v", b.Rules)
	}
	if got, want := b.Rules[0].String(), "p(1) <- true"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	e := NewEvaluator(testRun())
	out, err := e.Run([]*Block{b}, nil, func(w *World) bool {
		found := false
		w.Relation("never", func(Predicate) bool { found = true; return false })
		return !found
	})
	if err != nil || !out.Allowed {
		t.Fatalf("Run = %+v, %v; want allowed (and no never fact)", out, err)
	}
}

// A rule needs a body: at least one predicate or expression; and a head
// variable must still be bound by a predicate.
func TestRuleWithoutBodyRefused(t *testing.T) {
	name := uint64(SymbolOffset)
	v := uint64(SymbolOffset + 1)
	version := uint32(3)
	trueOp := &pb.Op{Content: &pb.Op_Value{Value: &pb.TermV2{Content: &pb.TermV2_Bool{Bool: true}}}}
	tests := []struct {
		name string
		rule *pb.RuleV2
		want string
	}{
		{"no body at all", &pb.RuleV2{Head: &pb.PredicateV2{Name: &name}}, "needs a body"},
		{"head variable without predicate", &pb.RuleV2{
			Head:        &pb.PredicateV2{Name: &name, Terms: []*pb.TermV2{{Content: &pb.TermV2_Variable{Variable: uint32(v)}}}},
			Expressions: []*pb.ExpressionV2{{Ops: []*pb.Op{trueOp}}},
		}, "not bound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := proto.Marshal(&pb.Block{Symbols: []string{"p", "x"}, Version: &version, RulesV2: []*pb.RuleV2{tt.rule}})
			if err != nil {
				t.Fatal(err)
			}
			var syms SymbolTable
			_, err = DecodeBytes(raw, &syms, &testLimits)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeBytes: %v; want an error mentioning %q", err, tt.want)
			}
		})
	}
}
