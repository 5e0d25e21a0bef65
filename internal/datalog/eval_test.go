package datalog

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func val(t Term) Op       { return Op{Kind: OpValue, Term: t} }
func un(code uint8) Op    { return Op{Kind: OpUnary, Code: code} }
func bin(code uint8) Op   { return Op{Kind: OpBinary, Code: code} }
func set(ts ...Term) Term { return NewSet(ts) }
func variable(slot int) Term {
	return Term{Kind: KindVariable, Int: int64(slot)}
}

func pred(name string, terms ...Term) Predicate { return Predicate{Name: name, Terms: terms} }

// evalOps runs one expression with no bindings.
func evalOps(steps int, ops ...Op) (Term, int, error) {
	e := NewEvaluator(RunLimits{Steps: steps, Facts: 64, Iterations: 4})
	e.steps = steps
	v, err := e.eval(Expression(ops))
	return v, e.Steps(), err
}

func TestEvalOperators(t *testing.T) {
	d1 := Date(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	d2 := Date(time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC))
	T, F := Bool(true), Bool(false)
	ab := set(String("a"), String("b"))
	tests := []struct {
		name    string
		ops     []Op
		want    Term
		wantErr string // substring of the error; "" for success
	}{
		// comparisons
		{"1 < 2", []Op{val(Int(1)), val(Int(2)), bin(BinaryLessThan)}, T, ""},
		{"2 < 2", []Op{val(Int(2)), val(Int(2)), bin(BinaryLessThan)}, F, ""},
		{"3 > 2", []Op{val(Int(3)), val(Int(2)), bin(BinaryGreaterThan)}, T, ""},
		{"2 <= 2", []Op{val(Int(2)), val(Int(2)), bin(BinaryLessOrEqual)}, T, ""},
		{"3 <= 2", []Op{val(Int(3)), val(Int(2)), bin(BinaryLessOrEqual)}, F, ""},
		{"2 >= 3", []Op{val(Int(2)), val(Int(3)), bin(BinaryGreaterOrEqual)}, F, ""},
		{"date <= later date", []Op{val(d1), val(d2), bin(BinaryLessOrEqual)}, T, ""},
		{"date > later date", []Op{val(d1), val(d2), bin(BinaryGreaterThan)}, F, ""},
		{"int < date is a type error", []Op{val(Int(1)), val(d1), bin(BinaryLessThan)}, Term{}, "does not apply"},
		{"string < string is a type error", []Op{val(String("a")), val(String("b")), bin(BinaryLessThan)}, Term{}, "does not apply"},
		{"bool >= bool is a type error", []Op{val(T), val(F), bin(BinaryGreaterOrEqual)}, Term{}, "does not apply"},
		// equality
		{"int ==", []Op{val(Int(7)), val(Int(7)), bin(BinaryEqual)}, T, ""},
		{"string ==", []Op{val(String("a")), val(String("b")), bin(BinaryEqual)}, F, ""},
		{"bytes ==", []Op{val(Bytes([]byte{1})), val(Bytes([]byte{1})), bin(BinaryEqual)}, T, ""},
		{"bool ==", []Op{val(T), val(F), bin(BinaryEqual)}, F, ""},
		{"date ==", []Op{val(d1), val(d1), bin(BinaryEqual)}, T, ""},
		{"set == ignores order", []Op{val(ab), val(set(String("b"), String("a"))), bin(BinaryEqual)}, T, ""},
		{"set == smaller set", []Op{val(ab), val(set(String("a"))), bin(BinaryEqual)}, F, ""},
		{"int == string is a type error", []Op{val(Int(1)), val(String("1")), bin(BinaryEqual)}, Term{}, "does not apply"},
		// contains
		{"string contains", []Op{val(String("account:acme/42")), val(String("acme")), bin(BinaryContains)}, T, ""},
		{"string does not contain", []Op{val(String("account")), val(String("acme")), bin(BinaryContains)}, F, ""},
		{"set contains element", []Op{val(ab), val(String("b")), bin(BinaryContains)}, T, ""},
		{"set lacks element", []Op{val(ab), val(String("c")), bin(BinaryContains)}, F, ""},
		{"set lacks element of another type", []Op{val(ab), val(Int(1)), bin(BinaryContains)}, F, ""},
		{"set contains subset", []Op{val(ab), val(set(String("a"))), bin(BinaryContains)}, T, ""},
		{"set contains equal set", []Op{val(ab), val(set(String("b"), String("a"))), bin(BinaryContains)}, T, ""},
		{"set contains empty set", []Op{val(ab), val(set()), bin(BinaryContains)}, T, ""},
		{"set does not contain superset", []Op{val(set(String("a"))), val(ab), bin(BinaryContains)}, F, ""},
		{"set does not contain overlapping set", []Op{val(ab), val(set(String("a"), String("c"))), bin(BinaryContains)}, F, ""},
		{"int contains is a type error", []Op{val(Int(1)), val(Int(1)), bin(BinaryContains)}, Term{}, "does not apply"},
		{"string contains int is a type error", []Op{val(String("1")), val(Int(1)), bin(BinaryContains)}, Term{}, "does not apply"},
		// prefix, suffix, regex
		{"starts_with", []Op{val(String("account:acme/420")), val(String("account:acme/42")), bin(BinaryPrefix)}, T, ""},
		{"not starts_with", []Op{val(String("account:acme/4")), val(String("account:acme/42")), bin(BinaryPrefix)}, F, ""},
		{"ends_with", []Op{val(String("bob@x.test")), val(String(".test")), bin(BinarySuffix)}, T, ""},
		{"not ends_with", []Op{val(String("bob@x.com")), val(String(".test")), bin(BinarySuffix)}, F, ""},
		{"starts_with on int is a type error", []Op{val(Int(42)), val(String("4")), bin(BinaryPrefix)}, Term{}, "does not apply"},
		{"ends_with on bytes is a type error", []Op{val(Bytes([]byte("a"))), val(String("a")), bin(BinarySuffix)}, Term{}, "does not apply"},
		{"matches", []Op{val(String("invoice-2026-01")), val(String(`^invoice-\d{4}-\d{2}$`)), bin(BinaryRegex)}, T, ""},
		{"does not match", []Op{val(String("invoice-26-01")), val(String(`^invoice-\d{4}-\d{2}$`)), bin(BinaryRegex)}, F, ""},
		{"invalid regex", []Op{val(String("a")), val(String("(")), bin(BinaryRegex)}, Term{}, "invalid regular expression"},
		{"matches on int is a type error", []Op{val(Int(1)), val(String("1")), bin(BinaryRegex)}, Term{}, "does not apply"},
		// arithmetic
		{"1 + 2", []Op{val(Int(1)), val(Int(2)), bin(BinaryAdd)}, Int(3), ""},
		{"-1 + -2", []Op{val(Int(-1)), val(Int(-2)), bin(BinaryAdd)}, Int(-3), ""},
		{"1 - 5", []Op{val(Int(1)), val(Int(5)), bin(BinarySub)}, Int(-4), ""},
		{"6 * -7", []Op{val(Int(6)), val(Int(-7)), bin(BinaryMul)}, Int(-42), ""},
		{"0 * min", []Op{val(Int(0)), val(Int(math.MinInt64)), bin(BinaryMul)}, Int(0), ""},
		{"7 / 2", []Op{val(Int(7)), val(Int(2)), bin(BinaryDiv)}, Int(3), ""},
		{"-7 / 2 truncates", []Op{val(Int(-7)), val(Int(2)), bin(BinaryDiv)}, Int(-3), ""},
		{"string concatenation", []Op{val(String("a")), val(String("b")), bin(BinaryAdd)}, String("ab"), ""},
		{"max + 1 overflows", []Op{val(Int(math.MaxInt64)), val(Int(1)), bin(BinaryAdd)}, Term{}, "overflow"},
		{"min + -1 overflows", []Op{val(Int(math.MinInt64)), val(Int(-1)), bin(BinaryAdd)}, Term{}, "overflow"},
		{"max + 0", []Op{val(Int(math.MaxInt64)), val(Int(0)), bin(BinaryAdd)}, Int(math.MaxInt64), ""},
		{"min - 1 overflows", []Op{val(Int(math.MinInt64)), val(Int(1)), bin(BinarySub)}, Term{}, "overflow"},
		{"max - -1 overflows", []Op{val(Int(math.MaxInt64)), val(Int(-1)), bin(BinarySub)}, Term{}, "overflow"},
		{"0 - min overflows", []Op{val(Int(0)), val(Int(math.MinInt64)), bin(BinarySub)}, Term{}, "overflow"},
		{"-1 - max", []Op{val(Int(-1)), val(Int(math.MaxInt64)), bin(BinarySub)}, Int(math.MinInt64), ""},
		{"max * 2 overflows", []Op{val(Int(math.MaxInt64)), val(Int(2)), bin(BinaryMul)}, Term{}, "overflow"},
		{"min * -1 overflows", []Op{val(Int(math.MinInt64)), val(Int(-1)), bin(BinaryMul)}, Term{}, "overflow"},
		{"-1 * min overflows", []Op{val(Int(-1)), val(Int(math.MinInt64)), bin(BinaryMul)}, Term{}, "overflow"},
		{"2^32 * 2^31 overflows", []Op{val(Int(1 << 32)), val(Int(1 << 31)), bin(BinaryMul)}, Term{}, "overflow"},
		{"min / -1 overflows", []Op{val(Int(math.MinInt64)), val(Int(-1)), bin(BinaryDiv)}, Term{}, "overflow"},
		{"division by zero", []Op{val(Int(1)), val(Int(0)), bin(BinaryDiv)}, Term{}, "division by zero"},
		{"int + string is a type error", []Op{val(Int(1)), val(String("1")), bin(BinaryAdd)}, Term{}, "does not apply"},
		{"string - string is a type error", []Op{val(String("ab")), val(String("b")), bin(BinarySub)}, Term{}, "does not apply"},
		{"date + int is a type error", []Op{val(d1), val(Int(60)), bin(BinaryAdd)}, Term{}, "does not apply"},
		// boolean logic
		{"true && false", []Op{val(T), val(F), bin(BinaryAnd)}, F, ""},
		{"true && true", []Op{val(T), val(T), bin(BinaryAnd)}, T, ""},
		{"false || true", []Op{val(F), val(T), bin(BinaryOr)}, T, ""},
		{"false || false", []Op{val(F), val(F), bin(BinaryOr)}, F, ""},
		{"int && bool is a type error", []Op{val(Int(1)), val(T), bin(BinaryAnd)}, Term{}, "does not apply"},
		{"bool || string is a type error", []Op{val(F), val(String("true")), bin(BinaryOr)}, Term{}, "does not apply"},
		// sets
		{"intersection", []Op{val(ab), val(set(String("b"), String("c"))), bin(BinaryIntersection)}, set(String("b")), ""},
		{"union", []Op{val(ab), val(set(String("b"), String("c"))), bin(BinaryUnion)}, set(String("a"), String("b"), String("c")), ""},
		{"union with a string is a type error", []Op{val(ab), val(String("c")), bin(BinaryUnion)}, Term{}, "does not apply"},
		// unary
		{"!true", []Op{val(T), un(UnaryNegate)}, F, ""},
		{"!!false", []Op{val(F), un(UnaryNegate), un(UnaryNegate)}, F, ""},
		{"!1 is a type error", []Op{val(Int(1)), un(UnaryNegate)}, Term{}, "cannot negate"},
		{"parens", []Op{val(Int(3)), un(UnaryParens)}, Int(3), ""},
		{"string length counts bytes", []Op{val(String("héllo")), un(UnaryLength)}, Int(6), ""},
		{"bytes length", []Op{val(Bytes([]byte{1, 2})), un(UnaryLength)}, Int(2), ""},
		{"set length", []Op{val(ab), un(UnaryLength)}, Int(2), ""},
		{"int length is a type error", []Op{val(Int(3)), un(UnaryLength)}, Term{}, "has no length"},
		// composition: !($t == "refund") || 100 <= 500
		{"composite", []Op{val(String("refund")), val(String("refund")), bin(BinaryEqual), un(UnaryParens), un(UnaryNegate),
			val(Int(100)), val(Int(500)), bin(BinaryLessOrEqual), bin(BinaryOr)}, T, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := evalOps(1000, tt.ops...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("eval = %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("eval: %v", err)
			}
			if !got.Equal(tt.want) {
				t.Fatalf("eval = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEvalCharges(t *testing.T) {
	// Every operation costs a step; a tiny budget stops a long expression.
	ops := []Op{val(Int(0))}
	for i := 0; i < 30; i++ {
		ops = append(ops, val(Int(1)), bin(BinaryAdd))
	}
	if _, steps, err := evalOps(1000, ops...); err != nil || steps != len(ops) {
		t.Fatalf("eval: %d steps, %v; want %d steps", steps, err, len(ops))
	}
	if _, _, err := evalOps(10, ops...); !errors.Is(err, ErrBudget) {
		t.Fatalf("eval with 10 steps = %v, want ErrBudget", err)
	}
	// A regex over long strings costs by size, not one step.
	long := String(strings.Repeat("a", 1024))
	if _, _, err := evalOps(100, val(long), val(String(strings.Repeat("a?", 100)+"b")), bin(BinaryRegex)); !errors.Is(err, ErrBudget) {
		t.Fatalf("a large regex within 100 steps = %v, want ErrBudget", err)
	}
	// Repeated concatenation stays bounded.
	if _, _, err := evalOps(1<<20, val(String(strings.Repeat("x", 40000))), val(String(strings.Repeat("y", 40000))), bin(BinaryAdd)); !errors.Is(err, ErrBudget) {
		t.Fatalf("an 80 KB concatenation = %v, want ErrBudget", err)
	}
}

// check builds `check if <body>, <exprs>` with variables named in order.
func check(vars []string, body []Predicate, exprs ...Expression) Check {
	return Check{Queries: []Rule{{Head: pred("query"), Body: body, Expressions: exprs, Vars: len(vars), VarNames: vars}}}
}

func rule(vars []string, head Predicate, body []Predicate, exprs ...Expression) Rule {
	return Rule{Head: head, Body: body, Expressions: exprs, Vars: len(vars), VarNames: vars}
}

var allow = func(*World) bool { return true }

func hasFact(name string, terms ...Term) func(*World) bool {
	want := pred(name, terms...)
	return func(w *World) bool {
		found := false
		w.Relation(name, func(f Predicate) bool {
			found = f.Equal(want)
			return !found
		})
		return found
	}
}

func testRun() RunLimits { return RunLimits{Steps: 20000, Facts: 512, Iterations: 16} }

func TestRunOutcome(t *testing.T) {
	ambient := []Predicate{pred("tool", String("get_account")), pred("resource", String("account:acme/42"))}
	auth := &Block{Facts: []Predicate{pred("right", String("get_account"))}}
	toolIs := func(name string) Check {
		return check([]string{"t"}, []Predicate{pred("tool", variable(0))}, Expression{val(variable(0)), val(String(name)), bin(BinaryEqual)})
	}
	tests := []struct {
		name      string
		blocks    []*Block
		policy    func(*World) bool
		want      Outcome
		wantErr   bool
		wantCheck string
	}{
		{"allowed", []*Block{auth, {Checks: []Check{toolIs("get_account")}}}, allow, Outcome{Allowed: true, Block: -1, Check: -1}, false, ""},
		{"policy fails", []*Block{auth}, func(*World) bool { return false }, Outcome{PolicyFailed: true, Block: -1, Check: -1}, false, ""},
		{"authority check fails", []*Block{{Checks: []Check{toolIs("refund")}}}, allow, Outcome{Block: 0, Check: 0}, false, `check if tool($t), $t == "refund"`},
		{"second check of block 2 fails", []*Block{auth, {}, {Checks: []Check{toolIs("get_account"), toolIs("refund")}}}, allow,
			Outcome{Block: 2, Check: 1}, false, `check if tool($t), $t == "refund"`},
		{"a check passes if any query matches", []*Block{auth, {Checks: []Check{{Queries: []Rule{toolIs("refund").Queries[0], toolIs("get_account").Queries[0]}}}}}, allow,
			Outcome{Allowed: true, Block: -1, Check: -1}, false, ""},
		{"type error in a check denies with an error", []*Block{auth, {Checks: []Check{check([]string{"t"}, []Predicate{pred("tool", variable(0))},
			Expression{val(variable(0)), val(Int(1)), bin(BinaryLessThan)})}}}, allow, Outcome{Block: 1, Check: 0}, true, "check if tool($t), $t < 1"},
		{"non-boolean expression is an error", []*Block{auth, {Checks: []Check{check([]string{"t"}, []Predicate{pred("tool", variable(0))},
			Expression{val(variable(0))})}}}, allow, Outcome{Block: 1, Check: 0}, true, "check if tool($t), $t"},
		{"no blocks", nil, allow, Outcome{Block: -1, Check: -1}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEvaluator(testRun())
			got, err := e.Run(tt.blocks, ambient, tt.policy)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Run error = %v, wantErr %v", err, tt.wantErr)
			}
			if got.CheckText != tt.wantCheck {
				t.Errorf("CheckText = %q, want %q", got.CheckText, tt.wantCheck)
			}
			got.CheckText = ""
			if got != tt.want {
				t.Errorf("Outcome = %+v, want %+v", got, tt.want)
			}
			if got.Allowed && err != nil {
				t.Error("allowed with an error")
			}
		})
	}
}

// Biscuit v3 scoping: the authority block and the ambient facts are
// trusted; an attenuation block's facts and rules are visible to that
// block's checks only.
func TestRunScoping(t *testing.T) {
	ambient := []Predicate{pred("tool", String("get_account"))}
	x1 := pred("x", Int(1))
	checkX1 := check(nil, []Predicate{x1})
	checkY1 := check(nil, []Predicate{pred("y", Int(1))})
	// y($v) <- x($v)
	xToY := rule([]string{"v"}, pred("y", variable(0)), []Predicate{pred("x", variable(0))})
	tests := []struct {
		name    string
		blocks  []*Block
		policy  func(*World) bool
		allowed bool
	}{
		{"a block sees its own facts", []*Block{{}, {Facts: []Predicate{x1}, Checks: []Check{checkX1}}}, allow, true},
		{"a block does not see another block's facts", []*Block{{}, {Facts: []Predicate{x1}}, {Checks: []Check{checkX1}}}, allow, false},
		{"an earlier block does not see a later block's facts", []*Block{{}, {Checks: []Check{checkX1}}, {Facts: []Predicate{x1}}}, allow, false},
		{"authority checks do not see block facts", []*Block{{Checks: []Check{checkX1}}, {Facts: []Predicate{x1}}}, allow, false},
		{"the policy does not see block facts", []*Block{{}, {Facts: []Predicate{x1}}}, hasFact("x", Int(1)), false},
		{"the policy sees authority facts", []*Block{{Facts: []Predicate{x1}}}, hasFact("x", Int(1)), true},
		{"the policy sees ambient facts", []*Block{{}}, hasFact("tool", String("get_account")), true},
		{"the policy does not see facts derived by block rules", []*Block{{Facts: []Predicate{x1}}, {Rules: []Rule{xToY}}}, hasFact("y", Int(1)), false},
		{"authority rules do not see block facts", []*Block{{Rules: []Rule{xToY}}, {Facts: []Predicate{x1}, Checks: []Check{checkY1}}}, allow, false},
		{"authority rules see authority facts", []*Block{{Facts: []Predicate{x1}, Rules: []Rule{xToY}}, {Checks: []Check{checkY1}}}, allow, true},
		{"block rules see authority facts", []*Block{{Facts: []Predicate{x1}}, {Rules: []Rule{xToY}, Checks: []Check{checkY1}}}, allow, true},
		{"block rules do not reach later blocks", []*Block{{Facts: []Predicate{x1}}, {Rules: []Rule{xToY}}, {Checks: []Check{checkY1}}}, allow, false},
		{"block facts cannot shadow ambient facts", []*Block{{}, {Facts: []Predicate{pred("tool", String("refund"))}},
			{Checks: []Check{check(nil, []Predicate{pred("tool", String("refund"))})}}}, allow, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewEvaluator(testRun()).Run(tt.blocks, ambient, tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			if got.Allowed != tt.allowed {
				t.Fatalf("Allowed = %v, want %v (%+v)", got.Allowed, tt.allowed, got)
			}
		})
	}
}

// A join of four predicates over 60 facts would try 60^4 bindings: the
// step budget stops it, and the steps used stay at the budget.
func TestRunStepBudget(t *testing.T) {
	auth := &Block{}
	for i := 0; i < 60; i++ {
		auth.Facts = append(auth.Facts, pred("p", Int(int64(i))))
	}
	vars := []string{"a", "b", "c", "d"}
	body := []Predicate{pred("p", variable(0)), pred("p", variable(1)), pred("p", variable(2)), pred("p", variable(3))}
	never := Expression{val(variable(0)), val(variable(1)), bin(BinaryAdd), val(Int(-1)), bin(BinaryEqual)}
	blocks := []*Block{auth, {Checks: []Check{check(vars, body, never)}}}
	lim := testRun()
	e := NewEvaluator(lim)
	for round := 0; round < 2; round++ { // an evaluator is reusable
		out, err := e.Run(blocks, nil, allow)
		if !errors.Is(err, ErrBudget) || out.Allowed {
			t.Fatalf("Run = %+v, %v; want ErrBudget", out, err)
		}
		if s := e.Steps(); s < lim.Steps || s > lim.Steps+8 {
			t.Fatalf("Steps() = %d, want about the budget %d", s, lim.Steps)
		}
	}
	// The same join over 5 facts fits the budget and is deterministic.
	auth.Facts = auth.Facts[:5]
	out1, err1 := e.Run(blocks, nil, allow)
	s1 := e.Steps()
	out2, err2 := e.Run(blocks, nil, allow)
	if err1 != nil || err2 != nil || out1 != out2 || s1 != e.Steps() {
		t.Fatalf("two runs differ: %+v %v %d / %+v %v %d", out1, err1, s1, out2, err2, e.Steps())
	}
	if out1.Block != 1 || out1.Check != 0 || s1 < 5*5*5*5 {
		t.Fatalf("Run = %+v after %d steps; want check 0 of block 1 to fail after trying 625 bindings", out1, s1)
	}
}

func TestRunFactLimit(t *testing.T) {
	auth := &Block{}
	for i := 0; i < 40; i++ {
		auth.Facts = append(auth.Facts, pred("p", Int(int64(i))))
	}
	// q($a, $b) <- p($a), p($b) derives 1600 facts.
	cross := rule([]string{"a", "b"}, pred("q", variable(0), variable(1)), []Predicate{pred("p", variable(0)), pred("p", variable(1))})
	lim := RunLimits{Steps: 1 << 22, Facts: 512, Iterations: 16}
	for _, blocks := range [][]*Block{
		{{Facts: auth.Facts, Rules: []Rule{cross}}},
		{auth, {Rules: []Rule{cross}}},
	} {
		_, err := NewEvaluator(lim).Run(blocks, nil, allow)
		if !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "facts") {
			t.Fatalf("Run = %v, want ErrBudget about facts", err)
		}
	}
	// Ambient and authority facts count too.
	_, err := NewEvaluator(RunLimits{Steps: 1 << 20, Facts: 30, Iterations: 4}).Run([]*Block{auth}, nil, allow)
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("40 facts under a 30-fact limit: %v, want ErrBudget", err)
	}
}

func TestRunIterationLimit(t *testing.T) {
	// reach($y) <- reach($x), edge($x, $y) adds one fact per round along a
	// chain, and needs one more round to see that nothing changed.
	reach := rule([]string{"x", "y"}, pred("reach", variable(1)), []Predicate{pred("reach", variable(0)), pred("edge", variable(0), variable(1))})
	chain := func(n int) *Block {
		b := &Block{Facts: []Predicate{pred("reach", Int(0))}, Rules: []Rule{reach}}
		for i := 0; i < n; i++ {
			b.Facts = append(b.Facts, pred("edge", Int(int64(i)), Int(int64(i+1))))
		}
		b.Checks = []Check{check(nil, []Predicate{pred("reach", Int(int64(n)))})}
		return b
	}
	lim := RunLimits{Steps: 1 << 20, Facts: 512, Iterations: 4}
	out, err := NewEvaluator(lim).Run([]*Block{chain(3)}, nil, allow)
	if err != nil || !out.Allowed {
		t.Fatalf("a 3-edge chain in 4 rounds: %+v, %v", out, err)
	}
	_, err = NewEvaluator(lim).Run([]*Block{chain(4)}, nil, allow)
	if !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "rounds") {
		t.Fatalf("a 4-edge chain in 4 rounds: %v, want ErrBudget about rounds", err)
	}
	// The same limit applies to attenuation blocks.
	_, err = NewEvaluator(lim).Run([]*Block{{}, chain(4)}, nil, allow)
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("in an attenuation block: %v, want ErrBudget", err)
	}
}

func TestRunRepeatedVariable(t *testing.T) {
	// check if pair($a, $a): only a pair of equal values matches.
	c := check([]string{"a"}, []Predicate{pred("pair", variable(0), variable(0))})
	for _, tt := range []struct {
		facts []Predicate
		want  bool
	}{
		{[]Predicate{pred("pair", Int(1), Int(2))}, false},
		{[]Predicate{pred("pair", Int(1), Int(2)), pred("pair", Int(3), Int(3))}, true},
		{[]Predicate{pred("pair", Int(1))}, false}, // other arity
	} {
		out, err := NewEvaluator(testRun()).Run([]*Block{{Facts: tt.facts, Checks: []Check{c}}}, nil, allow)
		if err != nil || out.Allowed != tt.want {
			t.Fatalf("facts %v: %+v, %v; want allowed %v", tt.facts, out, err, tt.want)
		}
	}
}
