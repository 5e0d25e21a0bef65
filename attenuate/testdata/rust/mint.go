//go:build ignore

// mint prints a token minted by mandate with the fixed test key of
// rust_test.go, for append.mjs to attenuate with Biscuit's Rust library.
//
//	go run ./attenuate/testdata/rust/mint.go
package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// seedHex is a test-only key; it signs nothing but these vectors.
const seedHex = "6d616e646174652d727573742d766563746f722d746573742d6b65792d303031"

func main() {
	seed, _ := hex.DecodeString(seedHex)
	key := token.NewSigningKey(ed25519.NewKeyFromSeed(seed))
	m, err := token.Mint(key, token.MintRequest{
		Subject: token.Subject{Agent: "orchestrator", User: "alice@acme.test", Org: "acme", Session: "s_rustvector"},
		Rights: []token.Right{
			{Service: "crm", Tool: "*", Operation: "*", Resource: "account:acme/"},
			{Service: "billing", Tool: "*", Operation: "*", Resource: "account:acme/"},
		},
		TTL: time.Hour,
		Now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(token.FormatPublicKey(key.Public().Key))
	fmt.Println(m.Token)
}
