package interop

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/internal/tokentest"
	"github.com/mandate-dev/mandate/token"
)

// datalogString quotes s for biscuit-go's parser: its strings cannot hold
// a double quote, and it unquotes backslash escapes.
func datalogString(t *testing.T, s string) string {
	t.Helper()
	if strings.Contains(s, `"`) {
		t.Fatalf("test value %q holds a double quote", s)
	}
	return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"`
}

// regexCheck is a check that holds when subject matches pattern; both are
// literals, so the request does not matter.
func regexCheck(t *testing.T, subject, pattern string) string {
	return "check if " + datalogString(t, subject) + ".matches(" + datalogString(t, pattern) + ")"
}

// mandate's regular expressions are Biscuit's Rust dialect: on Unicode
// input, every pattern mandate accepts decides as the Rust implementation
// decides (where Go's own regexp would not), and every construct that Go
// and Rust read differently is refused, by the Builder and by the verifier,
// with token.ErrUnsupported, where Rust and Go's own regexp disagree.
func TestRegexDialectMatchesRust(t *testing.T) {
	t.Parallel()
	pub := pubHex(testKey())
	minted := mint(t).Token

	accepted := []struct {
		pattern, subject string
		want             bool // Rust's answer, also mandate's
	}{
		{`^\d+$`, "١٢٣", true}, // Arabic-Indic digits: Go's \d is ASCII
		{`^\d+$`, "²", false},  // a superscript is No, not Nd
		{`^\D$`, "٣", false},
		{`^[^\d]$`, "٣", false},
		{`^\w+$`, "héllo_wörld", true},
		{`^\w$`, "Ⓐ", true}, // Other_Alphabetic, outside every letter category
		{`^\w+$`, "a\u200db", true},
		{`^\w+$`, "a-b", false},
		{`^\W$`, "é", false},
		{`^[\w-]+$`, "ñ-ü", true},
		{`^\s$`, "\u00a0", true}, // no-break space: Go's \s is [\t\n\f\r ]
		{`^\s$`, "\u2003", true},
		{`^\S$`, "\u3000", false},
		{`^\p{Lu}\p{Ll}+$`, "Élan", true},
		{`(?i)^ÉLAN$`, "élan", true},
		{`^[[:alpha:]]+$`, "é", false}, // POSIX classes are ASCII in both
		{`^a.c$`, "a😁c", true},
		{`^\p{Greek}+$`, "αβ", true},
		{`^\p{Greek}$`, "\u0342", false}, // \p{Greek} is Script in both, not Script_Extensions
	}
	refused := []struct {
		pattern, subject, construct string
	}{
		{`\bx\b`, "éxé", `\b`},                         // Rust: é is a word character
		{`\Qa.b\E`, "a.b", `\Q...\E`},                  // Rust: no such syntax
		{`^\101$`, "A", `\1`},                          // Go: octal; Rust: no backreferences
		{`^\p{scx=Greek}$`, "\u0342", `\p{scx=Greek}`}, // Rust-only syntax
		{`^[a-z&&[^aeiou]]$`, "e]", "&&"},              // Rust: intersection
		{`(?-u:\w)`, "é", "(?-u"},                      // Rust: ASCII mode; Go: no such flag
		{`(?x)^a b$`, "ab", "(?x"},                     // Rust: verbose mode; Go: no such flag
	}

	type built struct {
		tok    string
		native *bool // Go's own regexp, where it compiles
	}
	var ops []op
	var toks []built
	for _, tt := range accepted {
		b, err := attenuate.New(minted)
		tok := build(t, b.Check(regexCheck(t, tt.subject, tt.pattern)), err)
		toks = append(toks, built{tok: tok})
		ops = append(ops, authorizeOp(t, pub, tok, at(5, 0), getAccount))
	}
	for _, tt := range refused {
		b, err := attenuate.New(minted)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Check(regexCheck(t, tt.subject, tt.pattern)).Build(); !errors.Is(err, attenuate.ErrInvalidCaveat) || !errors.Is(err, token.ErrUnsupported) || !strings.Contains(err.Error(), tt.construct) {
			t.Errorf("Builder.Check(%q): %v; want ErrInvalidCaveat and token.ErrUnsupported naming %s", tt.pattern, err, tt.construct)
		}
		// A holder can still write it, with any Biscuit library.
		tok := tokentest.AppendDatalog(t, minted, regexCheck(t, tt.subject, tt.pattern))
		var native *bool
		if re, err := regexp.Compile(tt.pattern); err == nil {
			m := re.MatchString(tt.subject)
			native = &m
		}
		toks = append(toks, built{tok: tok, native: native})
		ops = append(ops, authorizeOp(t, pub, tok, at(5, 0), getAccount))
	}
	res := rust(t, ops...)

	differs := 0
	for _, tt := range accepted {
		if regexp.MustCompile(tt.pattern).MatchString(tt.subject) != tt.want {
			differs++
		}
	}
	if differs < 8 {
		t.Errorf("only %d accepted cases decide otherwise with Go's own regexp: the test no longer shows the translation", differs)
	}
	for i, tt := range accepted {
		t.Run("accepted "+tt.pattern+" "+tt.subject, func(t *testing.T) {
			r := must(t, "authorizing", res[i])
			if r.Allowed != tt.want {
				t.Errorf("Rust: allowed = %v, want %v (%s)", r.Allowed, tt.want, r.Reason)
			}
			if d := authorize(t, toks[i].tok, at(5, 0), getAccount); d.Allowed != r.Allowed {
				t.Errorf("mandate: allowed = %v, Rust: %v (%s)", d.Allowed, r.Allowed, d.Reason)
			}
		})
	}
	for j, tt := range refused {
		i := len(accepted) + j
		t.Run("refused "+tt.pattern+" "+tt.subject, func(t *testing.T) {
			r := must(t, "authorizing", res[i])
			d := authorize(t, toks[i].tok, at(5, 0), getAccount)
			if d.Allowed || !errors.Is(d.Err, token.ErrUnsupported) || !strings.Contains(d.Reason, tt.construct) {
				t.Errorf("mandate: allowed = %v, err = %v; want a denial with token.ErrUnsupported naming %s", d.Allowed, d.Err, tt.construct)
			}
			// The reason to refuse: Go's own regexp decides otherwise
			// than Rust, or cannot compile what Rust reads.
			if n := toks[i].native; n != nil && *n == r.Allowed {
				t.Errorf("Go's regexp and Rust agree (%v) on %q against %q: the construct need not be refused", r.Allowed, tt.pattern, tt.subject)
			}
		})
	}
}
