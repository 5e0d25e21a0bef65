package token_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/proto"

	"github.com/mandate-dev/mandate/token"
)

// FuzzParse feeds arbitrary bytes to Parse (and, as text, to ParseString).
// Nothing panics; a token that parses is never verified by a key that did
// not sign it (ErrUnknownKey), and inspecting it works, as text and as
// JSON.
func FuzzParse(f *testing.F) {
	key := testKey(1)
	m := mint(f, key)
	attenuated := attenuate(f, m.Raw, "sub", []string{`delegated_to("helper")`},
		`check if tool($t), ["get_account", "list_invoices"].contains($t)`,
		`check if tool($t), !($t == "refund") or arg("amount", $a), $a <= 500`)
	four := fourBlocks(f, key)
	seeds := [][]byte{
		m.Raw,
		attenuated,
		seal(f, m.Raw),
		seal(f, attenuated),
		four,
		[]byte(m.Token), // base64 text, for ParseString
		nil,
		[]byte("garbage"),
		attenuated[:len(attenuated)/2],
		append(append([]byte{}, m.Raw...), 0x00),
	}
	flipped := append([]byte{}, four...)
	flipped[len(flipped)/3] ^= 0x40
	seeds = append(seeds, flipped)
	for _, s := range seeds {
		f.Add(s)
	}
	stranger := token.NewKeySet(testKey(99).Public())
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(u *token.Unverified, err error) {
			if err != nil {
				if u != nil || !errors.Is(err, token.ErrInvalid) {
					t.Fatalf("Parse = %v, %v: a failure must be nil and ErrInvalid", u, err)
				}
				return
			}
			if _, err := u.Verify(stranger, t0); !errors.Is(err, token.ErrUnknownKey) {
				t.Fatalf("Verify with a key that signed nothing = %v, want ErrUnknownKey", err)
			}
			in := token.Inspect(u)
			if in == nil || len(in.Blocks) != u.BlockCount() || len(in.RevocationIDs) != u.BlockCount() || in.Verified {
				t.Fatalf("Inspect = %+v", in)
			}
			if _, err := json.Marshal(in); err != nil {
				t.Fatalf("json.Marshal(Inspect) = %v", err)
			}
			_ = in.Text()
		}
		check(token.Parse(data))
		check(token.ParseString(string(data)))
	})
}

// FuzzSignedBlock signs arbitrary bytes as a block (the authority block, or
// an attenuation block after a minted authority block), so that the fuzzer
// explores what happens after the signature check. A correctly signed
// token that parses always verifies, and its accessors, Inspect and
// InspectVerified never panic, whatever the block says.
func FuzzSignedBlock(f *testing.F) {
	key := testKey(1)
	keys := token.NewKeySet(key.Public())
	blocksOf := func(raw []byte) [][]byte {
		c := new(pb.Biscuit)
		if err := proto.Unmarshal(raw, c); err != nil {
			f.Fatal(err)
		}
		out := [][]byte{c.Authority.Block}
		for _, b := range c.Blocks {
			out = append(out, b.Block)
		}
		return out
	}
	four := blocksOf(fourBlocks(f, key))
	for _, b := range four {
		f.Add(b, true)
		f.Add(b, false)
	}
	f.Add(marshal(f, authorityBlock()), true)
	f.Add(marshal(f, checkBlock(sym0, 2, &pb.ExpressionV2{Ops: []*pb.Op{pbValue(pbVar(sym0 + 1)), pbValue(pbInt(1)), pbBinary(pb.OpBinary_Equal)}})), false)
	f.Fuzz(func(t *testing.T, block []byte, asAuthority bool) {
		blocks := [][]byte{block}
		if !asAuthority {
			blocks = [][]byte{four[0], block}
		}
		u, err := token.Parse(chain{root: key.Private, blocks: blocks}.build(t))
		if err != nil {
			if !errors.Is(err, token.ErrInvalid) {
				t.Fatalf("Parse = %v, not ErrInvalid", err)
			}
			return
		}
		v, err := u.Verify(keys, t0)
		if err != nil {
			t.Fatalf("a correctly signed token that parses does not verify: %v", err)
		}
		_, _, _, _ = v.Subject(), v.Rights(), v.ExpiresAt(), v.EffectiveExpiry()
		in := token.InspectVerified(v)
		if _, err := json.Marshal(in); err != nil {
			t.Fatalf("json.Marshal(InspectVerified) = %v", err)
		}
		_ = in.Text()
	})
}
