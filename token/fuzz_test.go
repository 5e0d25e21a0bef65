package token_test

import (
	"encoding/json"
	"errors"
	"testing"

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
