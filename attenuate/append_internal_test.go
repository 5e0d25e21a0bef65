package attenuate

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/biscuit-auth/biscuit-go/v2"
	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/proto"

	"github.com/mandate-dev/mandate/internal/tokentest"
	"github.com/mandate-dev/mandate/token"
)

// TestAppendMatchesBiscuitGo holds Build, which lets biscuit-go append to a
// stand-in holding only the token's symbols and proof (token.AppendBase),
// to what biscuit-go's own append on the whole token produces: the same
// block bytes (symbols numbered after the token's), the earlier blocks and
// root key ID hint unchanged, and a token that verifies.
func TestAppendMatchesBiscuitGo(t *testing.T) {
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	m, err := token.Mint(key, token.MintRequest{
		Subject: token.Subject{Agent: "orchestrator", User: "alice@acme.test", Org: "acme"},
		Rights:  []token.Right{{Service: "crm", Tool: "*", Operation: "*", Resource: "account:acme/"}},
		TTL:     time.Hour,
		Now:     now,
	})
	if err != nil {
		t.Fatal(err)
	}
	one := m.Token
	four := tokentest.AppendDatalog(t, one, `check if tool($t), ["get_account", "list_invoices"].contains($t); delegated_to("triage")`)
	four = tokentest.AppendDatalog(t, four, `check if resource($r), $r.starts_with("account:acme/42")`)
	four = tokentest.AppendDatalog(t, four, `check if time($t), $t <= 2099-01-01T00:00:00Z`)
	// biscuit-go drops the root key ID hint on append; put it back on a copy
	raw4, _ := token.Decode(four)
	withHint := token.Encode(token.WithRootKeyID(raw4, key.ID))
	for name, tok := range map[string]string{"1 block": one, "4 blocks, no hint": four, "4 blocks": withHint} {
		for _, seal := range []bool{false, true} {
			bl, err := New(tok, WithClock(func() time.Time { return now }))
			if err != nil {
				t.Fatal(err)
			}
			bl = bl.Tools("get_account", "brand_new_tool").ResourcePrefix("account:acme/42").TTL(time.Minute).DelegatedTo("sub-agent")
			if seal {
				bl = bl.Seal()
			}
			got, err := bl.BuildBytes()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			// biscuit-go's own append of the same checks and facts to
			// the whole token
			raw, _ := token.Decode(tok)
			full, err := biscuit.Unmarshal(raw)
			if err != nil {
				t.Fatal(err)
			}
			bb := full.CreateBlock()
			for _, f := range bl.facts {
				if err := bb.AddFact(f); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range bl.checks {
				if err := bb.AddCheck(c); err != nil {
					t.Fatal(err)
				}
			}
			ref, err := full.Append(rand.Reader, bb.Build())
			if err != nil {
				t.Fatal(err)
			}
			refRaw, err := ref.Serialize()
			if err != nil {
				t.Fatal(err)
			}
			gu, err := token.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			ru, err := token.Parse(refRaw)
			if err != nil {
				t.Fatal(err)
			}
			orig, _ := token.Parse(raw)
			if gu.BlockCount() != ru.BlockCount() || gu.Sealed() != seal {
				t.Fatalf("%s seal=%v: %d blocks (want %d), sealed %v", name, seal, gu.BlockCount(), ru.BlockCount(), gu.Sealed())
			}
			gb, rb := gu.UnsafeBlocks(), ru.UnsafeBlocks()
			last := len(gb) - 1
			if a, b := gb[last].Symbols, rb[last].Symbols; len(a) != len(b) || len(a) == 0 {
				t.Errorf("%s: new block symbols %q, biscuit-go's own append %q", name, a, b)
			}
			for i := range gb[last].Checks {
				if a, b := gb[last].Checks[i].String(), rb[last].Checks[i].String(); a != b {
					t.Errorf("%s: check %d reads %q, biscuit-go's own append %q", name, i, a, b)
				}
			}
			if !bytes.Equal(blockBytes(t, got, last), blockBytes(t, refRaw, last)) {
				t.Errorf("%s seal=%v: the new block's bytes differ from biscuit-go's own append", name, seal)
			}
			for i := 0; i < last; i++ {
				if !bytes.Equal(blockBytes(t, got, i), blockBytes(t, raw, i)) {
					t.Errorf("%s: block %d changed", name, i)
				}
			}
			gh, gok := gu.RootKeyIDHint()
			oh, ook := orig.RootKeyIDHint()
			if gh != oh || gok != ook {
				t.Errorf("%s: root key ID hint %d,%v, want %d,%v", name, gh, gok, oh, ook)
			}
			if _, err := gu.Verify(token.NewKeySet(key.Public()), now); err != nil {
				t.Errorf("%s seal=%v: %v", name, seal, err)
			}
		}
	}
}

// blockBytes returns the serialized block i of a raw token.
func blockBytes(t *testing.T, raw []byte, i int) []byte {
	t.Helper()
	var c pb.Biscuit
	if err := proto.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if i == 0 {
		return c.Authority.Block
	}
	return c.Blocks[i-1].Block
}
