package token_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/mandate-dev/mandate/token"
)

// spliceBases are parsed tokens to append to: one block, four blocks, and
// a token whose container carries a root key ID hint.
func spliceBases(t testing.TB) []*token.Unverified {
	t.Helper()
	key := testKey(1)
	one := mint(t, key).Raw
	four := fourBlocks(t, testKey(2))
	var c pb.Biscuit
	if err := proto.Unmarshal(one, &c); err != nil {
		t.Fatal(err)
	}
	c.RootKeyId = u32(7)
	hinted := marshal(t, &c)
	var out []*token.Unverified
	for _, raw := range [][]byte{one, four, hinted} {
		u, err := token.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

// spliceSeeds are what biscuit-go makes of each base's stand-in: a block
// of checks and facts appended, then the same sealed.
func spliceSeeds(t testing.TB, u *token.Unverified) [][]byte {
	t.Helper()
	base, err := u.AppendBase()
	if err != nil {
		t.Fatal(err)
	}
	a := attenuate(t, base, "", []string{`delegated_to("triage")`},
		`check if tool($t), ["get_account", "list_invoices"].contains($t)`,
		`check if resource($r), $r.starts_with("account:acme/42")`,
		`check if time($t), $t <= 2099-01-01T00:00:00Z`)
	return [][]byte{a, seal(t, a), attenuate(t, a, "ctx", nil, `check if arg("amount", $a), $a <= 5`)}
}

// sameSplice runs both read-back paths on appended (biscuit-go's output
// for u's stand-in, or anything else) and fails unless they agree on the
// bytes, the errors and everything the result says.
func sameSplice(t testing.TB, u *token.Unverified, appended []byte) {
	t.Helper()
	wantRaw, wantSpliceErr := u.Splice(appended)
	var want *token.Unverified
	var wantErr error
	if wantSpliceErr == nil {
		want, wantErr = u.ParseAppended(wantRaw)
	}
	raw, got, spliceErr, err := u.SpliceParse(appended)
	if fmt.Sprint(spliceErr) != fmt.Sprint(wantSpliceErr) {
		t.Fatalf("splice error %v, want %v", spliceErr, wantSpliceErr)
	}
	if wantSpliceErr != nil {
		return
	}
	if !bytes.Equal(raw, wantRaw) {
		t.Fatalf("SpliceParse bytes differ from Splice's")
	}
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("parse error %v, want %v", err, wantErr)
	}
	if wantErr != nil {
		return
	}
	if got.BlockCount() != want.BlockCount() || got.Sealed() != want.Sealed() || !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("SpliceParse reads %d blocks (sealed %v), want %d (sealed %v)", got.BlockCount(), got.Sealed(), want.BlockCount(), want.Sealed())
	}
	gh, gok := got.RootKeyIDHint()
	wh, wok := want.RootKeyIDHint()
	if gh != wh || gok != wok {
		t.Fatalf("root key ID hint %d,%v, want %d,%v", gh, gok, wh, wok)
	}
	if !slices.EqualFunc(got.RevocationIDs(), want.RevocationIDs(), bytes.Equal) {
		t.Fatal("revocation IDs differ")
	}
	gb, wb := got.UnsafeBlocks(), want.UnsafeBlocks()
	for i := range gb {
		if g, w := blockText(gb[i]), blockText(wb[i]); g != w {
			t.Fatalf("block %d reads %q, want %q", i, g, w)
		}
	}
	keys := token.NewKeySet(testKey(1).Public(), testKey(2).Public())
	_, gerr := got.Verify(keys, t0)
	_, werr := want.Verify(keys, t0)
	if fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("Verify: %v, want %v", gerr, werr)
	}
}

// TestSpliceParseDifferential holds SpliceParse to Splice then
// ParseAppended on biscuit-go's output, on mutations of it (bytes flipped,
// truncated, unknown and repeated fields added at every level of the
// container) and on random bytes.
func TestSpliceParseDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 2))
	for bi, u := range spliceBases(t) {
		for si, seed := range spliceSeeds(t, u) {
			t.Run(fmt.Sprintf("base%d/seed%d", bi, si), func(t *testing.T) {
				sameSplice(t, u, seed)
				for _, m := range containerMutations(t, seed) {
					sameSplice(t, u, m)
				}
				for range 300 {
					m := bytes.Clone(seed)
					switch rng.IntN(3) {
					case 0:
						m[rng.IntN(len(m))] ^= byte(1 + rng.IntN(255))
					case 1:
						m = m[:rng.IntN(len(m))]
					default:
						i := rng.IntN(len(m))
						m = append(m[:i:i], append([]byte{byte(rng.Uint32())}, m[i:]...)...)
					}
					sameSplice(t, u, m)
				}
				for range 100 {
					m := make([]byte, rng.IntN(200))
					for i := range m {
						m[i] = byte(rng.Uint32())
					}
					sameSplice(t, u, m)
				}
			})
		}
	}
}

// containerMutations adds, to each container message of appended, an
// unknown field, a known field with the wrong wire type, and a repeated
// singular field.
func containerMutations(t testing.TB, appended []byte) [][]byte {
	t.Helper()
	var c pb.Biscuit
	if err := proto.Unmarshal(appended, &c); err != nil {
		t.Fatal(err)
	}
	extras := [][]byte{
		protowire.AppendVarint(protowire.AppendTag(nil, 15, protowire.VarintType), 1),
		protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1),
		protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), make([]byte, 32)),
		protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), make([]byte, 64)),
		protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1),
		protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 0),
	}
	var out [][]byte
	for _, e := range extras {
		out = append(out, append(bytes.Clone(appended), e...))
		for which := range 3 {
			cl := proto.Clone(&c).(*pb.Biscuit)
			last := cl.Authority
			if len(cl.Blocks) > 0 {
				last = cl.Blocks[len(cl.Blocks)-1]
			}
			var target proto.Message
			switch which {
			case 0:
				target = last
			case 1:
				target = last.NextKey
			default:
				target = cl.Proof
			}
			r := target.ProtoReflect()
			r.SetUnknown(append(r.GetUnknown(), e...))
			b, err := proto.Marshal(cl)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

// FuzzSpliceParse holds SpliceParse to Splice then ParseAppended on any
// input, seeded with biscuit-go's output for each base.
func FuzzSpliceParse(f *testing.F) {
	bases := spliceBases(f)
	for i, u := range bases {
		for _, s := range spliceSeeds(f, u) {
			f.Add(uint8(i), s)
		}
	}
	f.Add(uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, which uint8, appended []byte) {
		sameSplice(t, bases[int(which)%len(bases)], appended)
	})
}
