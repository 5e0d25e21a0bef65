package token_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// The chain hash is a wire format: followers in other languages compute
// it. This vector pins it.
func TestChainHashVector(t *testing.T) {
	id := bytes.Repeat([]byte{0xab}, 64)
	exp := time.Date(2026, 11, 22, 10, 15, 0, 0, time.UTC)
	h1 := token.ChainHash(token.GenesisHash(), 1, id, exp)
	h2 := token.ChainHash(h1, 2, id, time.Time{})
	got1, got2 := hex.EncodeToString(h1), hex.EncodeToString(h2)
	if got1 == got2 || len(h1) != token.ChainHashSize {
		t.Fatalf("hashes %s, %s", got1, got2)
	}
	// Every field counts.
	for name, h := range map[string][]byte{
		"prev":   token.ChainHash(h2, 1, id, exp),
		"seq":    token.ChainHash(token.GenesisHash(), 3, id, exp),
		"id":     token.ChainHash(token.GenesisHash(), 1, id[:63], exp),
		"expiry": token.ChainHash(token.GenesisHash(), 1, id, exp.Add(time.Second)),
		"never":  token.ChainHash(token.GenesisHash(), 1, id, time.Time{}),
	} {
		if bytes.Equal(h, h1) {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
	// To the second: sub-second expiry is not published, so not hashed.
	if !bytes.Equal(h1, token.ChainHash(token.GenesisHash(), 1, id, exp.Add(500*time.Millisecond))) {
		t.Error("sub-second expiry changes the hash")
	}
	if got1 != chainVector1 {
		t.Errorf("ChainHash vector = %s, want %s (the wire format changed?)", got1, chainVector1)
	}
}

// chainVector1 was computed independently from the documented layout.
const chainVector1 = "f362bb2822808e8dd3d73971e035294df5733846c37e286a6d63691198b116d3"

func TestFeedPageSignature(t *testing.T) {
	k, _ := token.GenerateKey()
	other, _ := token.GenerateKey()
	h := token.ChainHash(token.GenesisHash(), 5, []byte{1}, time.Time{})
	p := token.FeedPage{After: 4, Next: 5, HeadSeq: 9, HeadHash: bytes.Repeat([]byte{2}, 32), Entries: []token.FeedPageEntry{{Seq: 5, Hash: h}}}
	sig := p.Sign(k)
	if !p.Verify(k.Public().Key, sig) {
		t.Fatal("a page does not verify with its signer")
	}
	if p.Verify(other.Public().Key, sig) {
		t.Error("a page verifies with another key")
	}
	for name, q := range map[string]token.FeedPage{
		"after":   {After: 3, Next: 5, HeadSeq: 9, HeadHash: p.HeadHash, Entries: p.Entries},
		"next":    {After: 4, Next: 6, HeadSeq: 9, HeadHash: p.HeadHash, Entries: p.Entries},
		"head":    {After: 4, Next: 5, HeadSeq: 8, HeadHash: p.HeadHash, Entries: p.Entries},
		"dropped": {After: 4, Next: 5, HeadSeq: 9, HeadHash: p.HeadHash},
		"short":   {After: 4, Next: 5, HeadSeq: 9, HeadHash: p.HeadHash[:31], Entries: p.Entries},
		"nonce":   {After: 4, Next: 5, HeadSeq: 9, HeadHash: p.HeadHash, Entries: p.Entries, Nonce: []byte{1}},
	} {
		if q.Verify(k.Public().Key, sig) {
			t.Errorf("a page with another %s verifies", name)
		}
	}
}

func TestEndorsedKeys(t *testing.T) {
	a, _ := token.GenerateKey()
	b, _ := token.GenerateKey()
	c, _ := token.GenerateKey()
	x, _ := token.GenerateKey()
	ab, bc := token.Endorse(a, b.Public()), token.Endorse(b, c.Public())
	xc := token.Endorse(x, x.Public())
	forged := token.Endorse(x, x.Public())
	forged.SignerID = a.ID
	got := token.EndorsedKeys([]token.PublicKey{a.Public()}, []token.Endorsement{bc, xc, forged, ab}) // out of order
	if len(got) != 3 || !got[b.ID].Equal(b.Public().Key) || !got[c.ID].Equal(c.Public().Key) || got[x.ID] != nil {
		t.Errorf("EndorsedKeys = %v, want a, b (endorsed by a), c (by b) and not x", got)
	}
	if err := forged.Verify(a.Public().Key); !errors.Is(err, token.ErrBadEndorsement) {
		t.Errorf("forged endorsement: %v", err)
	}
	if err := ab.Verify(a.Public().Key); err != nil {
		t.Errorf("real endorsement: %v", err)
	}
}
