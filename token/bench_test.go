package token_test

import (
	"crypto/ed25519"
	"testing"

	"github.com/mandate-dev/mandate/token"
)

// Run with: go test -run='^$' -bench=. -benchmem ./token/
//
// BenchmarkEd25519Verify is the floor: Verify of a 4-block token checks
// four signatures and a proof, so it cannot beat 4 × that number.

func BenchmarkEd25519Verify(b *testing.B) {
	key := testKey(1)
	msg := make([]byte, 200)
	sig := ed25519.Sign(key.Private, msg)
	pub := key.Public().Key
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("signature does not verify")
		}
	}
}

func BenchmarkParse4Blocks(b *testing.B) {
	raw := fourBlocks(b, testKey(1))
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := token.Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify4Blocks is Parse plus Verify, as a verifier does for a
// token it has not seen. The token carries its root key ID hint (package
// attenuate restores it after biscuit-go drops it), so Verify checks four
// signatures; a token without the hint costs one failed Verify per trusted
// key tried before the right one.
func BenchmarkVerify4Blocks(b *testing.B) {
	key := testKey(1)
	raw := token.WithRootKeyID(fourBlocks(b, key), key.ID)
	keys := token.NewKeySet(testKey(2).Public(), key.Public())
	b.ReportAllocs()
	for b.Loop() {
		u, err := token.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := u.Verify(keys, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMint(b *testing.B) {
	key := testKey(1)
	req := baseRequest()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := token.Mint(key, req); err != nil {
			b.Fatal(err)
		}
	}
}
