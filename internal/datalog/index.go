package datalog

import (
	"hash/maphash"
	"math/bits"
)

// factIndex is an open-addressing hash set of one world layer's facts. The
// hash is seeded per process (hash/maphash), so a token cannot be built to
// make its facts collide; collisions only cost time, never change an
// answer, since every hit is confirmed with Predicate.Equal.
type factIndex struct {
	slots []factSlot // len is 0 or a power of two
	facts []Predicate
}

// factSlot refers to facts[ref-1]; ref 0 is an empty slot. Slots hold no
// pointers, so clearing them is a plain memory clear.
type factSlot struct {
	hash uint64
	ref  int32
}

// maxIndexSlots bounds the table a pooled evaluator keeps between runs.
const maxIndexSlots = 1024

var factSeed = maphash.MakeSeed()

func (x *factIndex) reset() {
	if len(x.slots) > maxIndexSlots {
		x.slots, x.facts = nil, nil
		return
	}
	clear(x.slots)
	clear(x.facts) // drop references to the last token's terms
	x.facts = x.facts[:0]
}

func (x *factIndex) has(p Predicate, h uint64) bool {
	if len(x.facts) == 0 {
		return false
	}
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s.ref == 0 {
			return false
		}
		if s.hash == h && x.facts[s.ref-1].Equal(p) {
			return true
		}
	}
}

func (x *factIndex) insert(p Predicate, h uint64) {
	if 2*(len(x.facts)+1) > len(x.slots) {
		x.grow()
	}
	x.facts = append(x.facts, p)
	x.place(factSlot{hash: h, ref: int32(len(x.facts))})
}

func (x *factIndex) place(s factSlot) {
	mask := uint64(len(x.slots) - 1)
	i := s.hash & mask
	for x.slots[i].ref != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = s
}

func (x *factIndex) grow() {
	old := x.slots
	x.slots = make([]factSlot, max(32, 2*len(old)))
	for _, s := range old {
		if s.ref != 0 {
			x.place(s)
		}
	}
}

// mixKeys are random per process, like factSeed.
var mixKeys = func() [2]uint64 {
	return [2]uint64{maphash.Comparable(factSeed, 1), maphash.Comparable(factSeed, 2)}
}()

// mix combines two 64-bit values under the process's random keys (the
// folded 128-bit multiply of wyhash).
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a^mixKeys[0], b^mixKeys[1])
	return hi ^ lo
}

// hashPredicate hashes a predicate consistently with Predicate.Equal (sets
// are canonical, so equal sets hash their elements in the same order).
func hashPredicate(p Predicate) uint64 {
	h := maphash.String(factSeed, p.Name)
	for _, t := range p.Terms {
		h = mix(h, hashTerm(t))
	}
	return mix(h, uint64(len(p.Terms)))
}

func hashTerm(t Term) uint64 {
	switch t.Kind {
	case KindString, KindBytes:
		return mix(uint64(t.Kind), maphash.String(factSeed, t.Str))
	case KindSet:
		h := uint64(len(t.Set))<<8 | uint64(t.Kind)
		for _, e := range t.Set {
			h = mix(h, hashTerm(e))
		}
		return h
	}
	return mix(uint64(t.Kind), uint64(t.Int))
}
