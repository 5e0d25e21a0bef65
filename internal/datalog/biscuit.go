package datalog

import (
	"fmt"
	"slices"
	"time"

	"github.com/biscuit-auth/biscuit-go/v2"
)

// This file converts biscuit-go's builder types into mandate's, without a
// symbol table: what a block was meant to say, to compare with what a
// reader decodes from the bytes biscuit-go wrote (see attenuate's
// read-back), and to build an authorizer's world in tests. Variables get
// the slots Decode would give them: body predicates first, then
// expressions, then the head, each in order of first appearance.

// FromBiscuitFact converts a biscuit-go fact.
func FromBiscuitFact(f biscuit.Fact) (Predicate, error) {
	var c converter
	return c.predicate(f.Predicate, false)
}

// FromBiscuitRule converts a biscuit-go rule.
func FromBiscuitRule(r biscuit.Rule) (Rule, error) {
	var c converter
	return c.rule(r)
}

// FromBiscuitCheck converts a biscuit-go check.
func FromBiscuitCheck(ch biscuit.Check) (Check, error) {
	out := Check{Queries: make([]Rule, 0, len(ch.Queries))}
	for _, q := range ch.Queries {
		var c converter
		r, err := c.rule(q)
		if err != nil {
			return Check{}, err
		}
		out.Queries = append(out.Queries, r)
	}
	return out, nil
}

type converter struct {
	names []string // variable name by slot
}

func (c *converter) rule(r biscuit.Rule) (Rule, error) {
	c.names = nil
	out := Rule{Body: make([]Predicate, 0, len(r.Body))}
	for _, p := range r.Body {
		pred, err := c.predicate(p, true)
		if err != nil {
			return Rule{}, err
		}
		out.Body = append(out.Body, pred)
	}
	for _, x := range r.Expressions {
		e := make(Expression, 0, len(x))
		for _, op := range x {
			o, err := c.op(op)
			if err != nil {
				return Rule{}, err
			}
			e = append(e, o)
		}
		out.Expressions = append(out.Expressions, e)
	}
	h, err := c.predicate(r.Head, true)
	if err != nil {
		return Rule{}, err
	}
	out.Head = h
	out.Vars, out.VarNames = len(c.names), c.names
	return out, nil
}

func (c *converter) predicate(p biscuit.Predicate, vars bool) (Predicate, error) {
	out := Predicate{Name: p.Name, Terms: make([]Term, len(p.IDs))}
	for i, t := range p.IDs {
		term, err := c.term(t, vars, true)
		if err != nil {
			return Predicate{}, fmt.Errorf("%s: %w", p.Name, err)
		}
		out.Terms[i] = term
	}
	return out, nil
}

func (c *converter) term(t biscuit.Term, vars, sets bool) (Term, error) {
	switch x := t.(type) {
	case biscuit.Variable:
		if !vars {
			return Term{}, fmt.Errorf("variable $%s where only values are allowed", string(x))
		}
		slot := slices.Index(c.names, string(x))
		if slot < 0 {
			slot = len(c.names)
			c.names = append(c.names, string(x))
		}
		return Term{Kind: KindVariable, Int: int64(slot)}, nil
	case biscuit.Integer:
		return Int(int64(x)), nil
	case biscuit.String:
		return String(string(x)), nil
	case biscuit.Date:
		return Date(time.Time(x)), nil
	case biscuit.Bytes:
		return Bytes(x), nil
	case biscuit.Bool:
		return Bool(bool(x)), nil
	case biscuit.Set:
		if !sets {
			return Term{}, fmt.Errorf("a set cannot contain a set")
		}
		elems := make([]Term, 0, len(x))
		for _, e := range x {
			et, err := c.term(e, false, false)
			if err != nil {
				return Term{}, err
			}
			elems = append(elems, et)
		}
		return NewSet(elems), nil
	}
	return Term{}, fmt.Errorf("unsupported term %T", t)
}

func (c *converter) op(op biscuit.Op) (Op, error) {
	switch x := op.(type) {
	case biscuit.Value:
		t, err := c.term(x.Term, true, true)
		return Op{Kind: OpValue, Term: t}, err
	case biscuit.UnaryOp:
		code, ok := map[biscuit.UnaryOp]uint8{
			biscuit.UnaryNegate: UnaryNegate, biscuit.UnaryParens: UnaryParens, biscuit.UnaryLength: UnaryLength,
		}[x]
		if !ok {
			return Op{}, fmt.Errorf("unsupported unary operator %d", x)
		}
		return Op{Kind: OpUnary, Code: code}, nil
	case biscuit.BinaryOp:
		code, ok := binaryFromBiscuit[x]
		if !ok {
			return Op{}, fmt.Errorf("unsupported binary operator %d", x)
		}
		return Op{Kind: OpBinary, Code: code}, nil
	}
	return Op{}, fmt.Errorf("unsupported operation %T", op)
}

// binaryFromBiscuit maps biscuit-go's operator constants, which are not
// numbered as in the schema, onto mandate's.
var binaryFromBiscuit = map[biscuit.BinaryOp]uint8{
	biscuit.BinaryLessThan: BinaryLessThan, biscuit.BinaryLessOrEqual: BinaryLessOrEqual,
	biscuit.BinaryGreaterThan: BinaryGreaterThan, biscuit.BinaryGreaterOrEqual: BinaryGreaterOrEqual,
	biscuit.BinaryEqual: BinaryEqual, biscuit.BinaryContains: BinaryContains,
	biscuit.BinaryPrefix: BinaryPrefix, biscuit.BinarySuffix: BinarySuffix, biscuit.BinaryRegex: BinaryRegex,
	biscuit.BinaryAdd: BinaryAdd, biscuit.BinarySub: BinarySub, biscuit.BinaryMul: BinaryMul, biscuit.BinaryDiv: BinaryDiv,
	biscuit.BinaryAnd: BinaryAnd, biscuit.BinaryOr: BinaryOr,
	biscuit.BinaryIntersection: BinaryIntersection, biscuit.BinaryUnion: BinaryUnion,
}
