package datalog

import (
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
// typical checks; a block that needs more grows its slabs).
func (s *slabs) sizeFor(parts ...[][]byte) {
	n := 0
	for _, p := range parts {
		for _, b := range p {
			n += len(b)
		}
	}
	s.terms.next = n / 20
	s.preds.next = n / 60
	s.ops.next = n / 16
	s.exprs.next = n / 60
	s.rules.next = n / 60
	s.names.next = n / 60
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
		f, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return n
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(f, typ, b)
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
