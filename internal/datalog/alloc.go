package datalog

import (
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// A block is decoded into a few slabs rather than one allocation per
// predicate, rule and expression: a block's parts live exactly as long as
// the block, and a decoded token is read-only. Each slab hands out
// full-capacity-limited slices, so an append by a caller can never write
// into a neighbour.

// slab hands out consecutive slices of one backing array, starting a new
// one of the same size (never moving old slices) when it runs out.
type slab[T any] struct {
	buf  []T
	next int // size of the backing arrays
}

// take returns a zeroed slice of n elements with capacity n.
func (s *slab[T]) take(n int) []T {
	if n == 0 {
		return nil
	}
	if len(s.buf)+n > cap(s.buf) {
		s.buf = make([]T, 0, max(min(max(s.next, 4), 1024), n))
	}
	start := len(s.buf)
	s.buf = s.buf[:start+n]
	return s.buf[start : start+n : start+n]
}

// copyOf returns a slab copy of src.
func (s *slab[T]) copyOf(src []T) []T {
	out := s.take(len(src))
	copy(out, src)
	return out
}

// sizeFor sets each slab's first backing array from the encoded size of
// the block's facts, rules and checks, so that a typical block takes about
// one allocation per slab (the divisors are encoded bytes per item in
// typical checks, rounded down so that a typical block fits: a block of 32
// attenuate-style checks encodes about 13.5 bytes per operation and 43 per
// query, and running out costs a second array of the same size; a block
// that needs more grows its slabs).
func (s *slabs) sizeFor(parts ...[][]byte) {
	n := 0
	for _, p := range parts {
		for _, b := range p {
			n += len(b)
		}
	}
	s.terms.next = n / 20
	s.preds.next = n / 40
	s.ops.next = n / 12
	s.exprs.next = n / 40
	s.rules.next = n / 40
	s.names.next = n / 40
}

// slabs are a decoder's allocators and scratch buffers.
type slabs struct {
	terms slab[Term]
	preds slab[Predicate]
	ops   slab[Op]
	exprs slab[Expression]
	rules slab[Rule]
	names slab[string]
}

// canonicalSet sorts and deduplicates elems in place (see NewSet), for a
// slice the caller owns.
func canonicalSet(elems []Term) Term {
	slices.SortFunc(elems, compareTerms)
	elems = slices.CompactFunc(elems, func(a, b Term) bool { return compareTerms(a, b) == 0 })
	return Term{Kind: KindSet, Set: elems[:len(elems):len(elems)]}
}

// countFields counts the occurrences of field num in message b, so that a
// repeated field can be decoded straight into a slab slice of the right
// size. On malformed input it returns what it counted so far: the decoder
// that walks b next reports the error.
func countFields(b []byte, num protowire.Number) int {
	n := 0
	for len(b) > 0 {
		f, typ, l := consumeTag(b)
		if l < 0 {
			return n
		}
		b = b[l:]
		switch typ {
		case protowire.BytesType:
			_, l = consumeBytes(b)
		case protowire.VarintType:
			_, l = consumeVarint(b)
		default:
			l = protowire.ConsumeFieldValue(f, typ, b)
		}
		if l < 0 {
			return n
		}
		b = b[l:]
		if f == num {
			n++
		}
	}
	return n
}

// Fast paths for the commonest messages, a term or an operator holding a
// single varint: they decode exactly as the general walk does (the same
// cases, through the same functions), only without walking.

// fastPaths is switched off only by the test that holds the fast paths to
// the general one.
var fastPaths = true

// singleVarint reports whether b is exactly one varint field.
func singleVarint(b []byte) (protowire.Number, uint64, bool) {
	num, typ, n := consumeTag(b)
	if n < 0 || typ != protowire.VarintType {
		return 0, 0, false
	}
	x, m := consumeVarint(b[n:])
	if m < 0 || n+m != len(b) {
		return 0, 0, false
	}
	return num, x, true
}

// singleBytes reports whether b is exactly one length-delimited field.
func singleBytes(b []byte) (protowire.Number, []byte, bool) {
	num, typ, n := consumeTag(b)
	if n < 0 || typ != protowire.BytesType {
		return 0, nil, false
	}
	v, m := consumeBytes(b[n:])
	if m < 0 || n+m != len(b) {
		return 0, nil, false
	}
	return num, v, true
}

// varintTermField reports whether a TermV2 field holds its value as a
// varint: variable (1), integer (2), string (3), date (4), bool (6).
func varintTermField(num protowire.Number) bool {
	return num >= 1 && num <= 6 && num != 5
}

// varintTerm decodes the TermV2 fields that varintTermField accepts.
func (d *decoder) varintTerm(num protowire.Number, x uint64) (Term, error) {
	switch num {
	case 1:
		return d.variable(x)
	case 2:
		return Int(int64(x)), nil
	case 3:
		s, err := d.symbol(x)
		if err != nil {
			return Term{}, err
		}
		if len(s) > d.lim.MaxStringBytes {
			return Term{}, &LimitError{What: "string length", Limit: d.lim.MaxStringBytes}
		}
		return String(s), nil
	case 4:
		if x > math.MaxInt64 {
			return Term{}, fmt.Errorf("date %d is out of range", x)
		}
		return Term{Kind: KindDate, Int: int64(x)}, nil
	case 6:
		return Bool(x != 0), nil
	}
	return Term{}, unsupported("TermV2", num)
}

// operator returns the unary (Op field 2) or binary (3) operator of a
// kind, refusing kinds newer than Datalog 3.0.
func operator(num protowire.Number, kind uint64) (Op, error) {
	if num == 3 {
		if kind > uint64(binaryCount-1) {
			return Op{}, &UnsupportedError{Feature: describeBinary(kind)}
		}
		return Op{Kind: OpBinary, Code: uint8(kind)}, nil
	}
	if kind > uint64(UnaryLength) {
		return Op{}, &UnsupportedError{Feature: describeUnary(kind)}
	}
	return Op{Kind: OpUnary, Code: uint8(kind)}, nil
}

// commonOp decodes an Op that is a value, or an operator whose message is
// exactly its kind; ok is false for anything else, which the general path
// decodes (and refuses if it must).
func (d *decoder) commonOp(b []byte) (op Op, ok bool, err error) {
	num, v, ok := singleBytes(b)
	if !ok {
		return Op{}, false, nil
	}
	switch num {
	case 1:
		t, err := d.term(v, true)
		if err != nil {
			return Op{}, true, err
		}
		return Op{Kind: OpValue, Term: t}, true, nil
	case 2, 3:
		f, kind, ok := singleVarint(v)
		if !ok || f != 1 {
			return Op{}, false, nil
		}
		op, err := operator(num, kind)
		return op, true, err
	}
	return Op{}, false, nil
}

// consumeTag, consumeVarint and consumeBytes are protowire's, with the
// one-byte case (nearly every tag, length and symbol index in a block)
// inlined; anything longer, and every error, goes to protowire.

func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	if len(b) > 0 && b[0] >= 1<<3 && b[0] < 0x80 {
		return protowire.Number(b[0] >> 3), protowire.Type(b[0] & 7), 1
	}
	return protowire.ConsumeTag(b)
}

func consumeVarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return protowire.ConsumeVarint(b)
}

func consumeBytes(b []byte) ([]byte, int) {
	if len(b) > 0 && b[0] < 0x80 && int(b[0]) < len(b) {
		n := int(b[0])
		return b[1 : 1+n : 1+n], 1 + n
	}
	return protowire.ConsumeBytes(b)
}
