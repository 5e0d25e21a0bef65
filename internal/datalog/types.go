// Package datalog is mandate's own representation and evaluator for Biscuit v3
// (Datalog 3.0) blocks.
//
// biscuit-go v2.2.0 decodes and evaluates Datalog without bounding checks or
// policies, runs rules on goroutines that outlive their timeout, and uses a
// wall-clock timeout that fires spuriously under load. mandate therefore only
// uses biscuit-go for building blocks and for the protobuf schema; decoding
// (with limits and version checks) and evaluation (with a deterministic step
// budget, on the caller's goroutine) live here.
//
// Decoding is strict where Biscuit implementations could disagree: symbol
// tables must not overlap (SymbolTable.Extend), unknown or repeated fields
// are refused, and regular expressions are read in the Rust dialect of
// Biscuit's reference implementation (regex.go: Unicode \d, \w and \s;
// constructs Go and Rust read differently are refused).
package datalog

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of a term.
type Kind uint8

// Term kinds, in the order of the Biscuit v3 schema.
const (
	KindVariable Kind = iota
	KindInteger
	KindString
	KindDate
	KindBytes
	KindBool
	KindSet
)

func (k Kind) String() string {
	switch k {
	case KindVariable:
		return "variable"
	case KindInteger:
		return "integer"
	case KindString:
		return "string"
	case KindDate:
		return "date"
	case KindBytes:
		return "bytes"
	case KindBool:
		return "bool"
	case KindSet:
		return "set"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Term is a Datalog value or variable. Only the fields of its Kind are set:
// Int holds integers, dates (Unix seconds), booleans (0 or 1) and variable
// slots; Str holds strings and bytes; Set holds set elements.
type Term struct {
	Kind Kind
	Int  int64
	Str  string
	Set  []Term
}

// Int returns an integer term.
func Int(i int64) Term { return Term{Kind: KindInteger, Int: i} }

// String returns a string term.
func String(s string) Term { return Term{Kind: KindString, Str: s} }

// Date returns a date term, truncated to the second as Biscuit dates are.
func Date(t time.Time) Term { return Term{Kind: KindDate, Int: t.Unix()} }

// Bool returns a boolean term.
func Bool(b bool) Term {
	if b {
		return Term{Kind: KindBool, Int: 1}
	}
	return Term{Kind: KindBool}
}

// Bytes returns a bytes term.
func Bytes(b []byte) Term { return Term{Kind: KindBytes, Str: string(b)} }

// Equal reports whether two terms are the same value. Sets compare as sets.
func (t Term) Equal(o Term) bool {
	if t.Kind != o.Kind {
		return false
	}
	switch t.Kind {
	case KindString, KindBytes:
		return t.Str == o.Str
	case KindSet:
		return setEqual(t.Set, o.Set)
	default:
		return t.Int == o.Int
	}
}

// Sets are kept canonical: elements sorted by compareTerms, without
// duplicates (NewSet). Equality is then linear, membership logarithmic, and
// subset, intersection and union are merges.

// NewSet returns the canonical set of elems (sorted, duplicates removed).
// Elements must be scalars (no variables, no sets).
func NewSet(elems []Term) Term {
	s := slices.Clone(elems)
	slices.SortFunc(s, compareTerms)
	s = slices.CompactFunc(s, func(a, b Term) bool { return compareTerms(a, b) == 0 })
	return Term{Kind: KindSet, Set: s}
}

// compareTerms orders scalar terms: by kind, then by value.
func compareTerms(a, b Term) int {
	if a.Kind != b.Kind {
		return int(a.Kind) - int(b.Kind)
	}
	switch a.Kind {
	case KindString, KindBytes:
		return strings.Compare(a.Str, b.Str)
	case KindSet:
		if c := len(a.Set) - len(b.Set); c != 0 {
			return c
		}
		for i := range a.Set {
			if c := compareTerms(a.Set[i], b.Set[i]); c != 0 {
				return c
			}
		}
		return 0
	}
	switch {
	case a.Int < b.Int:
		return -1
	case a.Int > b.Int:
		return 1
	}
	return 0
}

func setEqual(a, b []Term) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// setContainsAll reports whether b is a subset of a.
func setContainsAll(a, b []Term) bool {
	i := 0
	for _, x := range b {
		for i < len(a) && compareTerms(a[i], x) < 0 {
			i++
		}
		if i == len(a) || compareTerms(a[i], x) != 0 {
			return false
		}
	}
	return true
}

func setHas(s []Term, x Term) bool {
	_, ok := slices.BinarySearchFunc(s, x, compareTerms)
	return ok
}

// setIntersect and setUnion merge two canonical sets.
// They append to out and return it, so that callers can reuse a buffer.
func setIntersect(out, a, b []Term) []Term {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch c := compareTerms(a[i], b[j]); {
		case c < 0:
			i++
		case c > 0:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func setUnion(out, a, b []Term) []Term {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := compareTerms(a[i], b[j]); {
		case c < 0:
			out = append(out, a[i])
			i++
		case c > 0:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// weight is the work of comparing a term, in evaluation steps.
func (t Term) weight() int { return len(t.Set) / 4 }

// Predicate is a name applied to terms: a fact, or a pattern in a rule.
type Predicate struct {
	Name  string
	Terms []Term
}

// Equal reports whether two predicates are identical.
func (p Predicate) Equal(o Predicate) bool {
	if p.Name != o.Name || len(p.Terms) != len(o.Terms) {
		return false
	}
	for i := range p.Terms {
		if !p.Terms[i].Equal(o.Terms[i]) {
			return false
		}
	}
	return true
}

// OpKind says whether an Op pushes a value or applies an operator.
type OpKind uint8

// Op kinds.
const (
	OpValue OpKind = iota
	OpUnary
	OpBinary
)

// Unary operators of Datalog 3.0.
const (
	UnaryNegate uint8 = iota
	UnaryParens
	UnaryLength
)

// Binary operators of Datalog 3.0, numbered as in the Biscuit schema.
const (
	BinaryLessThan uint8 = iota
	BinaryGreaterThan
	BinaryLessOrEqual
	BinaryGreaterOrEqual
	BinaryEqual
	BinaryContains
	BinaryPrefix
	BinarySuffix
	BinaryRegex
	BinaryAdd
	BinarySub
	BinaryMul
	BinaryDiv
	BinaryAnd
	BinaryOr
	BinaryIntersection
	BinaryUnion
	binaryCount
)

// Op is one instruction of an expression in postfix order.
type Op struct {
	Kind OpKind
	Code uint8 // operator, for OpUnary and OpBinary
	Term Term  // value, for OpValue
}

// Expression is a postfix program that must evaluate to true.
type Expression []Op

// Rule derives Head from every binding of Body that satisfies all
// Expressions. Variables are numbered densely from 0 to Vars-1 within a
// rule; VarNames keeps their names for printing.
type Rule struct {
	Head        Predicate
	Body        []Predicate
	Expressions []Expression
	Vars        int
	VarNames    []string
}

// Check passes when at least one of its queries matches.
type Check struct {
	Queries []Rule
}

// Block is one decoded Biscuit block.
type Block struct {
	Symbols []string // symbols this block added to the table
	Context string
	Version uint32
	Facts   []Predicate
	Rules   []Rule
	Checks  []Check
}

// Produces reports whether the block can prove a fact named name by
// itself: one of its facts or rule heads has that name. Under Biscuit
// scoping such a block satisfies its own checks on that fact.
func (b *Block) Produces(name string) bool {
	for _, f := range b.Facts {
		if f.Name == name {
			return true
		}
	}
	for _, r := range b.Rules {
		if r.Head.Name == name {
			return true
		}
	}
	return false
}

// Format returns the Datalog source of a predicate, using varNames for
// variables.
func (p Predicate) format(b *strings.Builder, varNames []string) {
	b.WriteString(p.Name)
	b.WriteByte('(')
	for i, t := range p.Terms {
		if i > 0 {
			b.WriteString(", ")
		}
		t.format(b, varNames)
	}
	b.WriteByte(')')
}

// String returns the Datalog source of a fact.
func (p Predicate) String() string {
	var b strings.Builder
	p.format(&b, nil)
	return b.String()
}

// String returns the Datalog source of a term.
func (t Term) String() string {
	var b strings.Builder
	t.format(&b, nil)
	return b.String()
}

func (t Term) format(b *strings.Builder, varNames []string) {
	switch t.Kind {
	case KindVariable:
		b.WriteByte('$')
		if int(t.Int) < len(varNames) {
			b.WriteString(varNames[t.Int])
		} else {
			b.WriteString(strconv.FormatInt(t.Int, 10))
		}
	case KindInteger:
		b.WriteString(strconv.FormatInt(t.Int, 10))
	case KindString:
		b.WriteString(strconv.Quote(t.Str))
	case KindDate:
		b.WriteString(time.Unix(t.Int, 0).UTC().Format(time.RFC3339))
	case KindBytes:
		b.WriteString("hex:")
		const digits = "0123456789abcdef"
		for i := 0; i < len(t.Str); i++ {
			b.WriteByte(digits[t.Str[i]>>4])
			b.WriteByte(digits[t.Str[i]&0xf])
		}
	case KindBool:
		b.WriteString(strconv.FormatBool(t.Int != 0))
	case KindSet:
		elems := make([]string, len(t.Set))
		for i, e := range t.Set {
			var eb strings.Builder
			e.format(&eb, varNames)
			elems[i] = eb.String()
		}
		slices.Sort(elems)
		b.WriteByte('[')
		b.WriteString(strings.Join(elems, ", "))
		b.WriteByte(']')
	}
}

var unaryNames = [...]string{"!", "", ".length()"}

var binaryNames = [...]string{
	BinaryLessThan: "<", BinaryGreaterThan: ">", BinaryLessOrEqual: "<=",
	BinaryGreaterOrEqual: ">=", BinaryEqual: "==", BinaryContains: "contains",
	BinaryPrefix: "starts_with", BinarySuffix: "ends_with", BinaryRegex: "matches",
	BinaryAdd: "+", BinarySub: "-", BinaryMul: "*", BinaryDiv: "/",
	BinaryAnd: "&&", BinaryOr: "||", BinaryIntersection: "intersection",
	BinaryUnion: "union",
}

// format prints an expression in Biscuit's infix syntax. The expression must
// be well formed (Decode guarantees it). Operands that are themselves infix
// operations are parenthesized unless the program already did so, so the
// text always reads as the program evaluates, even for postfix programs
// that no parser would produce.
func (e Expression) format(b *strings.Builder, varNames []string) {
	type operand struct {
		text string
		prec int // precedence of its outermost operator; atoms bind tightest
	}
	const atomPrec = 6
	wrap := func(o operand, below int) string {
		if o.prec < below {
			return "(" + o.text + ")"
		}
		return o.text
	}
	atom := func(o operand) string { return wrap(o, atomPrec) }
	stack := make([]operand, 0, 8)
	for _, op := range e {
		switch op.Kind {
		case OpValue:
			var tb strings.Builder
			op.Term.format(&tb, varNames)
			stack = append(stack, operand{text: tb.String(), prec: atomPrec})
		case OpUnary:
			v := stack[len(stack)-1]
			switch op.Code {
			case UnaryNegate:
				v = operand{text: "!" + atom(v), prec: atomPrec}
			case UnaryParens:
				v = operand{text: "(" + v.text + ")", prec: atomPrec}
			case UnaryLength:
				v = operand{text: atom(v) + ".length()", prec: atomPrec}
			}
			stack[len(stack)-1] = v
		case OpBinary:
			l, r := stack[len(stack)-2], stack[len(stack)-1]
			stack = stack[:len(stack)-2]
			var v operand
			switch op.Code {
			case BinaryContains, BinaryPrefix, BinarySuffix, BinaryRegex, BinaryIntersection, BinaryUnion:
				v = operand{text: atom(l) + "." + binaryNames[op.Code] + "(" + r.text + ")", prec: atomPrec}
			default:
				// Left-associative: the left operand may share the
				// operator's precedence, the right one may not;
				// comparisons do not chain at all.
				p := precedence(op.Code)
				left := p
				if p == 3 {
					left = p + 1
				}
				v = operand{text: wrap(l, left) + " " + binaryNames[op.Code] + " " + wrap(r, p+1), prec: p}
			}
			stack = append(stack, v)
		}
	}
	if len(stack) == 1 {
		b.WriteString(stack[0].text)
	}
}

// precedence of an infix operator in Biscuit's grammar, loosest first.
func precedence(code uint8) int {
	switch code {
	case BinaryOr:
		return 1
	case BinaryAnd:
		return 2
	case BinaryAdd, BinarySub:
		return 4
	case BinaryMul, BinaryDiv:
		return 5
	}
	return 3 // comparisons
}

func (r Rule) formatBody(b *strings.Builder) {
	n := 0
	for _, p := range r.Body {
		if n > 0 {
			b.WriteString(", ")
		}
		p.format(b, r.VarNames)
		n++
	}
	for _, e := range r.Expressions {
		if n > 0 {
			b.WriteString(", ")
		}
		e.format(b, r.VarNames)
		n++
	}
}

// String returns the Datalog source of a rule.
func (r Rule) String() string {
	var b strings.Builder
	r.Head.format(&b, r.VarNames)
	b.WriteString(" <- ")
	r.formatBody(&b)
	return b.String()
}

// String returns the Datalog source of a check.
func (c Check) String() string {
	var b strings.Builder
	b.WriteString("check if ")
	for i, q := range c.Queries {
		if i > 0 {
			b.WriteString(" or ")
		}
		q.formatBody(&b)
	}
	return b.String()
}

// Equal reports whether two operations are identical.
func (o Op) Equal(p Op) bool {
	return o.Kind == p.Kind && o.Code == p.Code && (o.Kind != OpValue || o.Term.Equal(p.Term))
}

// Equal reports whether two expressions are identical programs.
func (e Expression) Equal(f Expression) bool {
	return slices.EqualFunc(e, f, Op.Equal)
}

// Equal reports whether two rules are identical: same head, body,
// expressions and variables (by slot and name).
func (r Rule) Equal(o Rule) bool {
	return r.Head.Equal(o.Head) &&
		slices.EqualFunc(r.Body, o.Body, Predicate.Equal) &&
		slices.EqualFunc(r.Expressions, o.Expressions, Expression.Equal) &&
		r.Vars == o.Vars && slices.Equal(r.VarNames, o.VarNames)
}

// Equal reports whether two checks are identical.
func (c Check) Equal(o Check) bool {
	return slices.EqualFunc(c.Queries, o.Queries, Rule.Equal)
}
