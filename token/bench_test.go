package token_test

import (
	"crypto/ed25519"
	"fmt"
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

// BenchmarkParse32Checks parses a token whose attenuation block holds 32
// checks (no signature is checked): what decoding a check costs.
func BenchmarkParse32Checks(b *testing.B) {
	var checks []string
	for i := range 8 {
		checks = append(checks,
			fmt.Sprintf(`check if tool($t), ["get_account", "list_invoices", "t%d"].contains($t)`, i),
			fmt.Sprintf(`check if resource($r), $r.starts_with("account:acme/%d") or resource($r), $r.starts_with("account:acme/")`, i),
			fmt.Sprintf(`check if tool($t), !($t == "refund%d") or arg("amount", $a), $a <= %d`, i, 500+i),
			fmt.Sprintf(`check if time($t), $t <= 2099-01-0%dT00:00:00Z`, i+1),
		)
	}
	raw := attenuate(b, mint(b, testKey(1)).Raw, "", nil, checks...)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := token.Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}
