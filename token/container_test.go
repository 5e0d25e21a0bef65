package token_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/mandate-dev/mandate/internal/datalog"
	"github.com/mandate-dev/mandate/token"
)

// containerSeeds are valid containers: one block, four blocks, sealed,
// with a root key ID hint, and what biscuit-go appends to a stand-in.
func containerSeeds(t testing.TB) [][]byte {
	t.Helper()
	one := mint(t, testKey(1)).Raw
	four := fourBlocks(t, testKey(2))
	var c pb.Biscuit
	if err := proto.Unmarshal(one, &c); err != nil {
		t.Fatal(err)
	}
	c.RootKeyId = u32(1 << 31)
	seeds := [][]byte{one, four, seal(t, four), marshal(t, &c)}
	for _, u := range spliceBases(t) {
		seeds = append(seeds, spliceSeeds(t, u)...)
	}
	return seeds
}

// sameContainer fails unless the direct reading of raw, when it takes one,
// is exactly proto.Unmarshal's: same fields, same presence, no unknown
// field anywhere, and no byte shared with raw.
func sameContainer(t testing.TB, raw []byte) (fast bool) {
	t.Helper()
	in := bytes.Clone(raw)
	got := token.CanonicalContainer(in)
	if got == nil {
		return false
	}
	var want pb.Biscuit
	if err := proto.Unmarshal(raw, &want); err != nil {
		t.Fatalf("direct reading accepts what proto.Unmarshal refuses (%v): %x", err, raw)
	}
	if !proto.Equal(got, &want) {
		t.Fatalf("direct reading %v, proto.Unmarshal %v", got, &want)
	}
	if err := datalog.CheckContainer(got); err != nil {
		t.Fatalf("CheckContainer refuses a canonical container: %v", err)
	}
	enc, size := token.AppendContainer(got)
	if wantEnc, err := proto.Marshal(&want); err != nil || !bytes.Equal(enc, wantEnc) || size != len(enc) {
		t.Fatalf("appendContainer writes %x (size %d), proto.Marshal %x (%v)", enc, size, wantEnc, err)
	}
	for i := range in {
		in[i] ^= 0xff
	}
	if !proto.Equal(got, &want) {
		t.Fatal("the direct reading shares bytes with its input")
	}
	return true
}

// TestContainerDifferential holds the direct container reading to
// proto.Unmarshal on valid tokens, on mutations of them (unknown fields,
// wrong wire types and repeated singular fields at every level, bytes
// flipped, inserted and cut) and on random bytes; valid tokens must take
// the direct reading.
func TestContainerDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 5))
	seeds := containerSeeds(t)
	for _, s := range seeds {
		if !sameContainer(t, s) {
			t.Fatalf("a valid token does not take the direct reading: %x", s)
		}
		for _, m := range containerMutations(t, s) {
			sameContainer(t, m)
		}
		for _, m := range crafted(t, s) {
			sameContainer(t, m)
		}
		for range 2000 {
			m := bytes.Clone(s)
			switch rng.IntN(3) {
			case 0:
				m[rng.IntN(len(m))] ^= byte(1 + rng.IntN(255))
			case 1:
				m = m[:rng.IntN(len(m))]
			default:
				i := rng.IntN(len(m))
				m = append(m[:i:i], append([]byte{byte(rng.Uint32())}, m[i:]...)...)
			}
			sameContainer(t, m)
		}
	}
	for range 5000 {
		m := make([]byte, rng.IntN(300))
		for i := range m {
			m[i] = byte(rng.Uint32())
		}
		sameContainer(t, m)
	}
}

// crafted are containers outside the canonical form that proto.Unmarshal
// may still accept: repeated singular fields (merged or last-wins), a
// root key ID over 32 bits, a newer key algorithm, empty and doubled
// proofs, missing required fields, and a non-minimal tag.
func crafted(t testing.TB, raw []byte) [][]byte {
	t.Helper()
	var c pb.Biscuit
	if err := proto.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	field := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	auth := marshal(t, c.Authority)
	proof := marshal(t, c.Proof)
	key := marshal(t, c.Authority.NextKey)
	var out [][]byte
	out = append(out,
		field(bytes.Clone(raw), 2, auth),  // authority twice
		field(bytes.Clone(raw), 4, proof), // proof twice
		protowire.AppendVarint(protowire.AppendTag(bytes.Clone(raw), 1, protowire.VarintType), 1<<33),
		protowire.AppendVarint(protowire.AppendTag(protowire.AppendVarint(protowire.AppendTag(bytes.Clone(raw), 1, protowire.VarintType), 3), 1, protowire.VarintType), 4),
		field(bytes.Clone(raw), 4, nil), // an empty proof merged in
		field(field(nil, 2, auth), 4, nil),
		field(nil, 2, auth), // no proof
		field(nil, 4, proof),
		field(field(nil, 2, auth), 4, field(field(nil, 1, make([]byte, 32)), 2, make([]byte, 64))),
		field(field(nil, 2, auth), 4, field(nil, 1, nil)),
		field(field(nil, 2, auth), 4, field(nil, 2, nil)),
		append([]byte{0x92, 0x00}, protowire.AppendBytes(nil, auth)[0:]...), // tag 2 written in two bytes
	)
	for _, sb := range [][]byte{
		field(field(field(nil, 1, c.Authority.Block), 2, key), 3, c.Authority.Signature),
		field(field(field(field(nil, 1, c.Authority.Block), 2, key), 3, c.Authority.Signature), 2, key), // key twice
		field(field(field(field(nil, 1, c.Authority.Block), 2, key), 3, c.Authority.Signature), 1, nil), // block again, empty
		field(field(nil, 1, c.Authority.Block), 2, key),                                                 // no signature
		field(field(field(nil, 1, nil), 2, key), 3, nil),                                                // empty block and signature
		field(field(field(nil, 1, c.Authority.Block), 2, protowire.AppendVarint(protowire.AppendTag(field(nil, 2, make([]byte, 32)), 1, protowire.VarintType), 1)), 3, c.Authority.Signature),
		field(field(field(nil, 1, c.Authority.Block), 2, protowire.AppendVarint(protowire.AppendTag(field(nil, 2, make([]byte, 32)), 1, protowire.VarintType), 0)), 3, c.Authority.Signature),
		field(field(field(nil, 1, c.Authority.Block), 2, field(nil, 2, make([]byte, 32))), 3, c.Authority.Signature), // no algorithm
	} {
		out = append(out, field(field(nil, 2, sb), 4, proof), field(field(field(nil, 2, auth), 3, sb), 4, proof))
	}
	return out
}

// FuzzContainer holds the direct container reading to proto.Unmarshal on
// any input.
func FuzzContainer(f *testing.F) {
	for _, s := range containerSeeds(f) {
		f.Add(s)
		for _, m := range crafted(f, s) {
			f.Add(m)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) { sameContainer(t, raw) })
}

// TestAppendBase holds the stand-in AppendBase writes directly to the one
// proto.Marshal writes: a block of every symbol and the token's version,
// the last block's next key, a zero signature and the token's proof.
func TestAppendBase(t *testing.T) {
	for _, raw := range containerSeeds(t) {
		u, err := token.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if u.Sealed() {
			continue
		}
		got, err := u.AppendBase()
		if err != nil {
			t.Fatal(err)
		}
		var c pb.Biscuit
		if err := proto.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		var syms []string
		for _, b := range u.UnsafeBlocks() {
			syms = append(syms, b.Symbols...)
		}
		version := u.UnsafeBlocks()[0].Version
		block := marshal(t, &pb.Block{Symbols: syms, Version: &version})
		last := c.Authority
		if len(c.Blocks) > 0 {
			last = c.Blocks[len(c.Blocks)-1]
		}
		want := marshal(t, &pb.Biscuit{
			Authority: &pb.SignedBlock{Block: block, NextKey: last.NextKey, Signature: make([]byte, 64)},
			Proof:     c.Proof,
		})
		if !bytes.Equal(got, want) {
			t.Fatalf("AppendBase writes %x, proto.Marshal %x", got, want)
		}
	}
}
