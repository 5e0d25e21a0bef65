package token_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/internal/datalog"
	"github.com/mandate-dev/mandate/token"
)

// TestParseAppended: reading back a token appended to a parsed one gives
// what Parse gives, whether or not the earlier blocks are reused.
func TestParseAppended(t *testing.T) {
	key := testKey(1)
	base := mint(t, key).Raw
	prev, err := token.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	next := attenuate(t, base, "", []string{`delegated_to("x")`}, `check if resource($r), $r.starts_with("account:acme/42")`)
	other := fourBlocks(t, testKey(2))
	tooMany := next
	for range token.MaxBlocks - 1 {
		tooMany = attenuate(t, tooMany, "", nil, `check if time($t), $t <= 2099-01-01T00:00:00Z`)
	}
	for name, raw := range map[string][]byte{"appended": next, "unrelated": other, "same": base, "over the block limit": tooMany} {
		want, wantErr := token.Parse(raw)
		got, err := prev.ParseAppended(raw)
		if (err == nil) != (wantErr == nil) || (err != nil && !errors.Is(err, token.ErrTooLarge) != !errors.Is(wantErr, token.ErrTooLarge)) {
			t.Fatalf("%s: ParseAppended error %v, Parse error %v", name, err, wantErr)
		}
		if err != nil {
			continue
		}
		gb, wb := got.UnsafeBlocks(), want.UnsafeBlocks()
		if len(gb) != len(wb) {
			t.Fatalf("%s: %d blocks, want %d", name, len(gb), len(wb))
		}
		for i := range gb {
			if g, w := blockText(gb[i]), blockText(wb[i]); g != w {
				t.Errorf("%s: block %d reads %q, want %q", name, i, g, w)
			}
		}
		if _, err := got.Verify(token.NewKeySet(key.Public(), testKey(2).Public()), t0); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func blockText(b *datalog.Block) string {
	var s strings.Builder
	fmt.Fprintf(&s, "v%d %q %q;", b.Version, b.Symbols, b.Context)
	for _, f := range b.Facts {
		s.WriteString(f.String() + ";")
	}
	for _, r := range b.Rules {
		s.WriteString(r.String() + ";")
	}
	for _, c := range b.Checks {
		s.WriteString(c.String() + ";")
	}
	return s.String()
}
