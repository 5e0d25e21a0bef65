package attenuate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/attenuate"
)

// Caveats refuse invisible characters in names and relative or empty
// segments in resources, like the authority and the verifier.
func TestCaveatsRefuseInvisibleNamesAndRelativeResources(t *testing.T) {
	a := newAuthority(t)
	tok := a.mint(t)
	tests := []struct {
		name    string
		add     func(*attenuate.Builder)
		wantMsg string
	}{
		{"tool with RLO", func(b *attenuate.Builder) { b.Tools("get_\u202etnuocca") }, "U+202E"},
		{"operation with ZWSP", func(b *attenuate.Builder) { b.Operations("re\u200bad") }, "U+200B"},
		{"service with BOM", func(b *attenuate.Builder) { b.Services("\ufeffcrm") }, "U+FEFF"},
		{"arg name with line separator", func(b *attenuate.Builder) { b.ArgMax("refund", "amount\u2028", 500) }, "U+2028"},
		{"tool with NBSP", func(b *attenuate.Builder) { b.ArgMin("re\u00a0fund", "amount", 0) }, "U+00A0"},
		{"delegated to with paragraph separator", func(b *attenuate.Builder) { b.DelegatedTo("helper\u2029") }, "U+2029"},
		{"resource with dot-dot", func(b *attenuate.Builder) { b.Resource("account:acme/../globex/1") }, `".." segment`},
		{"resource with empty segment", func(b *attenuate.Builder) { b.Resource("account:acme//42") }, "empty segment"},
		{"prefix with dot", func(b *attenuate.Builder) { b.ResourcePrefix("account:acme/./42") }, `"." segment`},
		{"prefix percent-encoded", func(b *attenuate.Builder) { b.ResourcePrefix("account:acme/%2e%2e/globex") }, "percent-decoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := attenuate.New(tok, attenuate.WithClock(clockAt(t0)))
			if err != nil {
				t.Fatal(err)
			}
			tt.add(b)
			if err := b.Err(); !errors.Is(err, attenuate.ErrInvalidCaveat) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Err() = %v; want ErrInvalidCaveat saying %q", err, tt.wantMsg)
			}
		})
	}
	// Values are not names: an allowed value may hold any printable text.
	b, err := attenuate.New(tok, attenuate.WithClock(clockAt(t0)))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ArgOneOf("send", "subject", "👩\u200d💻 status").Err(); err != nil {
		t.Errorf("ArgOneOf with an emoji sequence: %v", err)
	}
}
