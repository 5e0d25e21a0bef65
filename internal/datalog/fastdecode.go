package datalog

import (
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// Fast paths for whole facts, rules and checks. A block of typical checks
// is a few hundred tiny messages; the general decoder (decode.go) walks
// each through a closure and returns its parts by value, which costs more
// than the parts themselves. The functions below decode a message in the
// common form in one loop per message, straight into the block's slabs,
// and give up (false) at the first thing that is not common: an unknown,
// repeated or mistyped field, a value out of range or over a limit, an
// unknown symbol, a malformed expression. The caller then decodes the
// message again with the general decoder, which accepts it or reports the
// error, so the fast paths decide nothing: they only ever produce what the
// general decoder would (TestFastDecodeMatchesGeneral and FuzzDecodeBlock
// hold them to it). A message they give up on costs at most one more
// decoding, under the same limits.

// fastFact decodes a FactV2 into out.
func (d *decoder) fastFact(b []byte, out *Predicate) bool {
	num, v, ok := singleBytes(b)
	if !ok || num != 1 {
		return false
	}
	d.inRule = false
	return d.fastPredicate(v, out)
}

// fastCheck decodes a CheckV2 of kind "check if" into out.
func (d *decoder) fastCheck(b []byte, out *Check) bool {
	var qbuf [8][]byte
	nq := 0
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, m := consumeBytes(b)
			if m < 0 || nq == len(qbuf) || nq == d.lim.MaxQueries {
				return false
			}
			qbuf[nq] = v
			nq++
			b = b[m:]
		case num == 2 && typ == protowire.VarintType:
			x, m := consumeVarint(b)
			if m < 0 || x != 0 {
				return false
			}
			b = b[m:]
		default:
			return false
		}
	}
	if nq == 0 {
		return false
	}
	out.Queries = d.rules.take(nq)
	for i := range nq {
		if !d.fastRule(qbuf[i], false, &out.Queries[i]) {
			return false
		}
	}
	return true
}

// fastRule decodes a RuleV2 into out.
func (d *decoder) fastRule(b []byte, isRule bool, out *Rule) bool {
	var head []byte
	var bodyBuf [4][]byte
	var exprBuf [8][]byte
	hasHead, nb, ne := false, 0, 0
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 || typ != protowire.BytesType {
			return false
		}
		v, m := consumeBytes(b[n:])
		if m < 0 {
			return false
		}
		b = b[n+m:]
		switch num {
		case 1:
			if hasHead {
				return false
			}
			head, hasHead = v, true
		case 2:
			if nb == len(bodyBuf) || nb == d.lim.MaxBodyPredicates {
				return false
			}
			bodyBuf[nb] = v
			nb++
		case 3:
			if ne == len(exprBuf) || ne == d.lim.MaxExpressions {
				return false
			}
			exprBuf[ne] = v
			ne++
		default:
			return false
		}
	}
	if !hasHead || isRule && nb == 0 && ne == 0 {
		return false
	}
	d.varSyms = d.varSyms[:0]
	d.varNames = d.varNames[:0]
	d.inRule = true
	out.Body = d.preds.take(nb)
	out.Expressions = d.exprs.take(ne)
	var bodyVars uint64 // bit per slot; MaxVariables <= 64
	for i := range nb {
		p := &out.Body[i]
		if !d.fastPredicate(bodyBuf[i], p) {
			return false
		}
		for _, t := range p.Terms {
			if t.Kind == KindVariable {
				bodyVars |= 1 << uint(t.Int)
			}
		}
	}
	for i := range ne {
		if !d.fastExpression(exprBuf[i], &out.Expressions[i]) {
			return false
		}
	}
	if len(d.varNames) > 64 || lowBits(len(d.varNames))&^bodyVars != 0 {
		return false // a variable that no body predicate binds
	}
	if !d.fastPredicate(head, &out.Head) {
		return false
	}
	for _, t := range out.Head.Terms {
		if t.Kind == KindVariable && bodyVars&(1<<uint(t.Int)) == 0 {
			return false
		}
	}
	out.Vars = len(d.varNames)
	out.VarNames = d.names.copyOf(d.varNames)
	d.inRule = false
	return true
}

// lowBits returns a mask of the n lowest bits (n <= 64).
func lowBits(n int) uint64 {
	if n >= 64 {
		return math.MaxUint64
	}
	return 1<<uint(n) - 1
}

// fastPredicate decodes a PredicateV2 into out.
func (d *decoder) fastPredicate(b []byte, out *Predicate) bool {
	var termBuf [8][]byte
	var name uint64
	hasName, nt := false, 0
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			x, m := consumeVarint(b)
			if m < 0 || hasName {
				return false
			}
			name, hasName = x, true
			b = b[m:]
		case num == 2 && typ == protowire.BytesType:
			v, m := consumeBytes(b)
			if m < 0 || nt == len(termBuf) || nt == d.lim.MaxTerms {
				return false
			}
			termBuf[nt] = v
			nt++
			b = b[m:]
		default:
			return false
		}
	}
	if !hasName {
		return false
	}
	s, ok := d.syms.Lookup(name)
	if !ok {
		return false
	}
	out.Name = s
	out.Terms = d.terms.take(nt)
	for i := range nt {
		if !d.fastTerm(termBuf[i], &out.Terms[i]) {
			return false
		}
	}
	return true
}

// fastTerm decodes a TermV2 of a predicate or an expression into out: a
// scalar, a variable in a rule, or a set.
func (d *decoder) fastTerm(b []byte, out *Term) bool {
	num, typ, n := consumeTag(b)
	if n < 0 {
		return false
	}
	if typ == protowire.BytesType && num == 7 {
		v, m := consumeBytes(b[n:])
		if m < 0 || n+m != len(b) {
			return false
		}
		return d.fastSet(v, out)
	}
	if typ == protowire.VarintType && num == 1 {
		x, m := consumeVarint(b[n:])
		if m < 0 || n+m != len(b) || !d.inRule || x > math.MaxUint32 {
			return false
		}
		slot := slices.Index(d.varSyms, uint32(x))
		if slot < 0 {
			if len(d.varNames) >= d.lim.MaxVariables {
				return false
			}
			name, ok := d.syms.Lookup(x)
			if !ok {
				return false
			}
			slot = len(d.varNames)
			d.varSyms = append(d.varSyms, uint32(x))
			d.varNames = append(d.varNames, name)
		}
		out.Kind, out.Int = KindVariable, int64(slot)
		return true
	}
	return d.fastScalar(num, typ, b[n:], out)
}

// fastScalar decodes the value of a TermV2 holding an integer, string,
// date, bytes or bool (field num, wire type typ, the bytes after the tag).
func (d *decoder) fastScalar(num protowire.Number, typ protowire.Type, b []byte, out *Term) bool {
	if typ == protowire.BytesType {
		v, m := consumeBytes(b)
		if m < 0 || m != len(b) || num != 5 || len(v) > d.lim.MaxStringBytes {
			return false
		}
		out.Kind, out.Str = KindBytes, string(v)
		return true
	}
	if typ != protowire.VarintType {
		return false
	}
	x, m := consumeVarint(b)
	if m < 0 || m != len(b) {
		return false
	}
	switch num {
	case 2:
		out.Kind, out.Int = KindInteger, int64(x)
	case 3:
		s, ok := d.syms.Lookup(x)
		if !ok || len(s) > d.lim.MaxStringBytes {
			return false
		}
		out.Kind, out.Str = KindString, s
	case 4:
		if x > math.MaxInt64 {
			return false
		}
		out.Kind, out.Int = KindDate, int64(x)
	case 6:
		out.Kind = KindBool
		if x != 0 {
			out.Int = 1
		}
	default:
		return false
	}
	return true
}

// countRepeated counts the elements of a message made only of field 1,
// length-delimited (a set's elements, an expression's operations); false
// when it holds anything else, a malformed element, or more than max.
func countRepeated(b []byte, max int) (int, bool) {
	n := 0
	for rest := b; len(rest) > 0; n++ {
		num, typ, l := consumeTag(rest)
		if l < 0 || num != 1 || typ != protowire.BytesType {
			return 0, false
		}
		_, m := consumeBytes(rest[l:])
		if m < 0 || n == max {
			return 0, false
		}
		rest = rest[l+m:]
	}
	return n, true
}

// fastSet decodes a TermSet of scalars of one kind into out.
func (d *decoder) fastSet(b []byte, out *Term) bool {
	n, ok := countRepeated(b, d.lim.MaxSetSize)
	if !ok {
		return false
	}
	elems := d.terms.take(n)
	for i := range elems {
		_, _, l := consumeTag(b)
		v, m := consumeBytes(b[l:])
		b = b[l+m:]
		num, typ, k := consumeTag(v)
		if k < 0 || !d.fastScalar(num, typ, v[k:], &elems[i]) || elems[i].Kind != elems[0].Kind {
			return false
		}
	}
	*out = canonicalSet(elems)
	return true
}

// fastExpression decodes an ExpressionV2 that is a well-formed postfix
// program into out.
func (d *decoder) fastExpression(b []byte, out *Expression) bool {
	n, ok := countRepeated(b, d.lim.MaxOps)
	if !ok {
		return false
	}
	ops := d.ops.take(n)
	depth := 0
	for i := range ops {
		_, _, l := consumeTag(b)
		v, m := consumeBytes(b[l:])
		b = b[l+m:]
		num, v, ok := singleBytes(v)
		if !ok {
			return false
		}
		op := &ops[i]
		switch num {
		case 1:
			op.Kind = OpValue
			if !d.fastTerm(v, &op.Term) {
				return false
			}
			depth++
		case 2, 3:
			f, kind, ok := singleVarint(v)
			if !ok || f != 1 {
				return false
			}
			if num == 2 {
				if kind > uint64(UnaryLength) || depth < 1 {
					return false
				}
				op.Kind, op.Code = OpUnary, uint8(kind)
				continue
			}
			if kind > uint64(binaryCount-1) || depth < 2 {
				return false
			}
			op.Kind, op.Code = OpBinary, uint8(kind)
			depth--
			if last := &ops[i-1]; op.Code == BinaryRegex && last.Kind == OpValue && last.Term.Kind == KindString {
				if _, _, err := TranslateRegex(last.Term.Str); err != nil {
					return false
				}
			}
		default:
			return false
		}
	}
	if depth != 1 {
		return false
	}
	*out = ops
	return true
}
