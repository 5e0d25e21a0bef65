package attenuate_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// rustSeedHex is the test-only root key of testdata/rust (see mint.go there;
// append.mjs attenuates with Biscuit's Rust library, biscuit-wasm 0.6).
const rustSeedHex = "6d616e646174652d727573742d766563746f722d746573742d6b65792d303031"

func rustVector(t *testing.T, name string) (string, *verifier.Verifier) {
	t.Helper()
	data, err := os.ReadFile("testdata/rust/" + name)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := hex.DecodeString(rustSeedHex)
	if err != nil {
		t.Fatal(err)
	}
	key := token.NewSigningKey(ed25519.NewKeyFromSeed(seed))
	v, err := verifier.New(verifier.Config{
		Keys:                 token.NewKeySet(key.Public()),
		InsecureNoRevocation: true,
		Now:                  clockAt(t0),
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data)), v
}

// A token attenuated by the Rust implementation (a v3 block with a {..}
// set) can be attenuated further here, and the verifier enforces both
// blocks.
func TestAttenuateRustAttenuatedToken(t *testing.T) {
	tok, v := rustVector(t, "v3_block.txt")
	b, err := attenuate.New(tok, attenuate.WithClock(clockAt(t0)))
	if err != nil {
		t.Fatalf("New on a Rust-attenuated token: %v", err)
	}
	out, err := b.ArgMax("refund", "amount", 100).DelegatedTo("go-helper").Build()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		req       verifier.Request
		allowed   bool
		failBlock int
	}{
		{"inside both blocks", getAccount42, true, 0},
		{"refund under the Go bound", refund(50), true, 0},
		{"refund over the Go bound", refund(150), false, 2},
		{"tool outside the Rust block", verifier.Request{Service: "crm", Tool: "delete_account", Operation: "write", Resource: "account:acme/42"}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := v.Authorize(context.Background(), out, tt.req)
			if d.Allowed != tt.allowed {
				t.Fatalf("allowed = %v, want %v (%s)", d.Allowed, tt.allowed, d.Reason)
			}
			if !tt.allowed && (d.FailedCheck == nil || d.FailedCheck.Block != tt.failBlock) {
				t.Fatalf("failed check = %+v, want block %d", d.FailedCheck, tt.failBlock)
			}
		})
	}
	if d := v.Authorize(context.Background(), out, getAccount42); d.Blocks != 3 {
		t.Errorf("blocks = %d, want 3", d.Blocks)
	}
	inID, inOK := hintOf(t, tok)
	outID, outOK := hintOf(t, out)
	if inID != outID || inOK != outOK {
		t.Errorf("root key ID hint = %d, %v; the Rust token had %d, %v", outID, outOK, inID, inOK)
	}
}

// A Rust block that writes ["a"] (an array, Datalog 3.3) cannot be
// attenuated: the builder says which feature is too new.
func TestAttenuateRustArrayRefused(t *testing.T) {
	tok, _ := rustVector(t, "array_block.txt")
	_, err := attenuate.New(tok)
	if !errors.Is(err, token.ErrUnsupported) {
		t.Fatalf("err = %v, want token.ErrUnsupported", err)
	}
	if !strings.Contains(err.Error(), "array") {
		t.Errorf("error %q does not name arrays", err)
	}
}
