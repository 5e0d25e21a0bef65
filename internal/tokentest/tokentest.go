// Package tokentest helps tests attenuate tokens the way any token holder
// can, without mandate's validation: with biscuit-go directly, or with raw
// block bytes signed by the token's proof key.
package tokentest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/biscuit-auth/biscuit-go/v2"
	"github.com/biscuit-auth/biscuit-go/v2/parser"
	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/proto"

	"github.com/mandate-dev/mandate/token"
)

// AppendDatalog appends a block of Datalog source (facts, rules and checks
// separated by ';') with biscuit-go.
func AppendDatalog(t testing.TB, tok, src string) string {
	t.Helper()
	raw, err := token.Decode(tok)
	if err != nil {
		t.Fatal(err)
	}
	b, err := biscuit.Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.TrimSpace(src), ";") {
		src += ";"
	}
	blk, err := parser.FromStringBlock(src)
	if err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	bb := b.CreateBlock()
	if err := bb.AddBlock(blk); err != nil {
		t.Fatal(err)
	}
	nb, err := b.Append(rand.Reader, bb.Build())
	if err != nil {
		t.Fatal(err)
	}
	out, err := nb.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return token.Encode(out)
}

// AppendRawBlock appends arbitrary serialized block bytes, correctly signed
// with the token's proof key, as a holder using any Biscuit library could.
func AppendRawBlock(t testing.TB, tok string, block []byte) string {
	t.Helper()
	raw, err := token.Decode(tok)
	if err != nil {
		t.Fatal(err)
	}
	var c pb.Biscuit
	if err := proto.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	secret := ed25519.NewKeyFromSeed(c.Proof.GetNextSecret())
	nextPub, nextPriv, _ := ed25519.GenerateKey(rand.Reader)
	alg := pb.PublicKey_Ed25519
	msg := append(append([]byte{}, block...), binary.LittleEndian.AppendUint32(nil, uint32(alg))...)
	msg = append(msg, nextPub...)
	c.Blocks = append(c.Blocks, &pb.SignedBlock{
		Block:     block,
		NextKey:   &pb.PublicKey{Algorithm: &alg, Key: nextPub},
		Signature: ed25519.Sign(secret, msg),
	})
	c.Proof = &pb.Proof{Content: &pb.Proof_NextSecret{NextSecret: nextPriv.Seed()}}
	out, err := proto.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return token.Encode(out)
}
