package datalog

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// TranslateRegex gives Go the meaning Rust's regex crate (Unicode mode, as
// Biscuit's reference implementation uses it) gives a pattern.
// interop/TestRegexDialectMatchesRust checks the same kind of cases against
// the Rust implementation itself.
func TestTranslateRegexMatchesLikeRust(t *testing.T) {
	tests := []struct {
		pattern, subject string
		want             bool
	}{
		{`^\d+$`, "123", true},
		{`^\d+$`, "١٢٣", true}, // Arabic-Indic digits are Nd
		{`^\d+$`, "¹²", false}, // superscripts are No, not Nd
		{`^\D$`, "٣", false},
		{`^[\d]+$`, "٣4", true},
		{`^[^\d]+$`, "٣", false},
		{`^\w+$`, "héllo_wörld", true},
		{`^\w+$`, "Ⓐ", true},     // Other_Alphabetic, a So symbol
		{`^\w$`, "\u200d", true}, // zero width joiner
		{`^\w+$`, "a-b", false},
		{`^\W$`, "é", false},
		{`^\W$`, "-", true},
		{`^[\w-]+$`, "ñ-ü", true},
		{`^\s$`, "\u00a0", true}, // no-break space
		{`^\s$`, "\v", true},     // Go's \s lacks \v
		{`^\s$`, "\u2028", true},
		{`^\S$`, "\u3000", false}, // ideographic space
		{`^[\s,]+$`, "\u2003,", true},
		{`^\p{Lu}\p{Ll}+$`, "Élan", true},
		{`^\pL+$`, "日本", true},
		{`^\p{Greek}$`, "α", true},
		{`^\p{Greek}$`, "\u0342", false}, // Script=Inherited; only its Script_Extensions is Greek
		{`^\p{Han}+$`, "日本", true},
		{`^[[:alpha:]]+$`, "é", false}, // POSIX classes are ASCII in both
		{`(?i)^straße$`, "STRAßE", true},
		{`^a.c$`, "a😁c", true},
		{`^[]a]+$`, "]a", true},
		{`^[^]a]$`, "b", true},
		{`^(?P<x>a)(?:b)$`, "ab", true},
		{`(?s)^a.b$`, "a\nb", true},
		{`^[\x{41}-\x{43}]+$`, "ABC", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.subject, func(t *testing.T) {
			p, _, err := TranslateRegex(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := regexp.MustCompile(p).MatchString(tt.subject); got != tt.want {
				t.Errorf("%q matches %q = %v, want %v (translated %.80q)", tt.pattern, tt.subject, got, tt.want, p)
			}
		})
	}
}

func TestTranslateRegexRefusesWhatDiffers(t *testing.T) {
	tests := []struct {
		pattern string
		want    string // in the error
	}{
		{`\bword\b`, `\b`},
		{`a\Bb`, `\B`},
		{`\Qa.b\E`, `\Q...\E`},
		{`(a)\1`, `\1`},
		{`\101`, `\1`},
		{`\p{scx=Greek}`, `\p{scx=Greek}`},
		{`\p{letter}`, `\p{letter}`},
		{`\p{^L}`, `\p{^L}`},
		{`\p{Alphabetic}`, `\p{Alphabetic}`},
		{`(?-u)\w`, `(?-u`},
		{`(?u)a`, `(?u`},
		{`(?x) a b`, `(?x`},
		{`(?R)a$`, `(?R`},
		{`[a-z&&[^aeiou]]`, `&& in a class`},
		{`[a-z--aeiou]`, `-- in a class`},
		{`[a~~b]`, `~~ in a class`},
		{`[[a]]`, `nested class`},
		{`[\W]`, `\W inside`},
		{`[^\S]`, `\S inside`},
		{strings.Repeat(`\d`, MaxRegexClasses+1), "at most"},
		{`a\`, `trailing`},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			_, _, err := TranslateRegex(tt.pattern)
			var re *RegexError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("TranslateRegex(%q) = %v; want a RegexError naming %q", tt.pattern, err, tt.want)
			}
		})
	}
}

// A literal pattern is checked when the block is decoded: a construct Go
// and Rust read differently refuses the block; one bound at run time fails
// its check with the same reason.
func TestRegexCheckedAtDecodeAndRun(t *testing.T) {
	var syms SymbolTable
	_, err := DecodeBytes(authorityBytes(t, nil, nil, []string{`check if resource($r), $r.matches("\\bx")`}), &syms, &testLimits)
	var re *RegexError
	if !errors.As(err, &re) {
		t.Fatalf("DecodeBytes: %v; want a RegexError", err)
	}

	b := decodeText(t, []string{`pattern("\\bx")`}, nil, []string{`check if pattern($p), "x".matches($p)`})
	out, err := NewEvaluator(testRun()).Run([]*Block{b}, nil, func(*World) bool { return true })
	if out.Allowed || !errors.As(err, &re) {
		t.Fatalf("Run = %+v, %v; want a failed check with a RegexError", out, err)
	}

	b = decodeText(t, []string{`pattern("^\\d$")`}, nil, []string{`check if pattern($p), "٣".matches($p)`})
	if out, err := NewEvaluator(testRun()).Run([]*Block{b}, nil, func(*World) bool { return true }); !out.Allowed {
		t.Fatalf("Run = %+v, %v; want allowed (\\d is Unicode)", out, err)
	}
}

// What a pattern costs to compile in Go is charged before it is compiled:
// case folding over a wide range, or many Unicode tables, would otherwise
// take milliseconds for one pattern of a few bytes (invariant 5). 10,000
// steps is token.EvalSteps.
func TestRegexCompileCostCharged(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		budget  bool // exhausts the budget of testRun
	}{
		{"wide range", `[\x{42}-\x{1E942}]`, false},
		{"wide range, folded", `(?i)[\x{42}-\x{1E942}]`, true},
		{"wide range, folded in a group", `(?i:[B-𞥂])`, true},
		{"range covering all folds, folded", `(?i)[\x{0}-\x{10FFFF}]`, false},
		{"narrow range, folded", `(?i)[a-z]+`, false},
		{"folding turned off", `(?-i)[\x{42}-\x{1E942}]`, false},
		{"many properties", strings.Repeat(`\pL`, 20), true},
		{"a few properties", strings.Repeat(`\pL`, 3), false},
		{"many words", strings.Repeat(`\w`, 6), true},
		{"words, folded", `(?i)\w\w\w`, true},
		{"a counted repetition", `[a-z]{1000}`, false},
		{"many counted repetitions", strings.Repeat(`a{999}`, 11), true},
		{"open repetitions", strings.Repeat(`a{999,}`, 11), true},
		{"bounded repetitions", strings.Repeat(`a{1,999}`, 11), true},
		{"a repeated alternation", `(a|aa){999}x`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cost, err := TranslateRegex(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = evalOps(10000, val(String("x")), val(String(tt.pattern)), bin(BinaryRegex))
			if got := errors.Is(err, ErrBudget); got != tt.budget {
				t.Errorf("cost %d: exhausts the budget = %v (%v), want %v", cost, got, err, tt.budget)
			}
		})
	}
}

// TranslateRegex never panics, and what it accepts Go either compiles or
// refuses with an error (never a different pattern): on ASCII-only input
// without the Unicode classes, the translation matches as the original.
func FuzzTranslateRegex(f *testing.F) {
	for _, s := range []string{`^\d+$`, `[\w-]+`, `(?i)[a-z]{2,3}`, `\bx`, `\Q.\E`, `[]a]`, `[^]\]x]`, `\p{Greek}`, `(?P<n>a)`, `[[:alpha:]]`, `[a-\x{7f}]`, `a{2,}`, `\x41\x{42}`, `[\d\s]`, `(?-i:a)`, `[`, `(?`, `\p{`, `\x{`} {
		f.Add(s, "abc 123")
	}
	f.Fuzz(func(t *testing.T, pattern, subject string) {
		out, cost, err := TranslateRegex(pattern)
		if err != nil {
			return
		}
		if cost < 0 {
			t.Fatalf("negative cost %d", cost)
		}
		re, err := regexp.Compile(out)
		if err != nil {
			return
		}
		if strings.ContainsAny(pattern, `dDwWsS`) || !isASCII(pattern) || !isASCII(subject) {
			return
		}
		orig, err := regexp.Compile(pattern)
		if err != nil {
			t.Fatalf("%q compiles translated (%q) but not as written: %v", pattern, out, err)
		}
		if orig.MatchString(subject) != re.MatchString(subject) {
			t.Fatalf("%q against %q: translated %q decides otherwise", pattern, subject, out)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
