package datalog

import (
	"strings"
	"testing"
)

// Printed expressions must read as they evaluate, whatever postfix program
// a token carries.
func TestExpressionFormatPrecedence(t *testing.T) {
	v := func(s string) Op { return Op{Kind: OpValue, Term: Term{Kind: KindVariable, Int: int64(s[0] - 'a')}} }
	n := func(i int64) Op { return Op{Kind: OpValue, Term: Int(i)} }
	bin := func(c uint8) Op { return Op{Kind: OpBinary, Code: c} }
	un := func(c uint8) Op { return Op{Kind: OpUnary, Code: c} }
	names := []string{"a", "b", "c"}
	tests := []struct {
		name string
		x    Expression
		want string
	}{
		{"sum then product", Expression{v("a"), n(1), bin(BinaryAdd), n(2), bin(BinaryMul)}, "($a + 1) * 2"},
		{"product then sum", Expression{v("a"), n(1), bin(BinaryMul), n(2), bin(BinaryAdd)}, "$a * 1 + 2"},
		{"right-nested minus", Expression{v("a"), v("b"), n(1), bin(BinarySub), bin(BinarySub)}, "$a - ($b - 1)"},
		{"left-nested minus", Expression{v("a"), v("b"), bin(BinarySub), n(1), bin(BinarySub)}, "$a - $b - 1"},
		{"negated comparison", Expression{v("a"), n(1), bin(BinaryEqual), un(UnaryNegate)}, "!($a == 1)"},
		{"explicit parens kept once", Expression{v("a"), n(1), bin(BinaryEqual), un(UnaryParens), un(UnaryNegate)}, "!($a == 1)"},
		{"or of comparisons", Expression{v("a"), n(1), bin(BinaryEqual), v("b"), n(2), bin(BinaryLessThan), bin(BinaryOr)}, "$a == 1 || $b < 2"},
		{"and inside or", Expression{v("a"), v("b"), v("c"), bin(BinaryAnd), bin(BinaryOr)}, "$a || $b && $c"},
		{"or inside and", Expression{v("a"), v("b"), bin(BinaryOr), v("c"), bin(BinaryAnd)}, "($a || $b) && $c"},
		{"comparison of comparisons", Expression{v("a"), v("b"), bin(BinaryEqual), v("c"), bin(BinaryEqual)}, "($a == $b) == $c"},
		{"method on a sum", Expression{v("a"), v("b"), bin(BinaryAdd), un(UnaryLength)}, "($a + $b).length()"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			tt.x.format(&b, names)
			if got := b.String(); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
