package datalog

import (
	"fmt"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Regular expressions: the Rust dialect, in Go.
//
// Biscuit's `.matches()` is defined by its reference implementation, which
// compiles the pattern with Rust's regex crate in its default, Unicode
// mode. Go's regexp has the same RE2 syntax and linear-time matching, but
// reads some constructs differently. TranslateRegex rewrites a pattern so
// that Go decides as Rust does, and refuses the constructs whose meaning
// would differ and that Go cannot express:
//
//   - \d is \p{Nd} (any Unicode decimal digit, not only 0-9), \D its
//     complement;
//   - \w is Unicode: letters, marks, decimal digits, connector punctuation,
//     Nl and the other alphabetic characters (such as Ⓐ), and the joiners
//     U+200C and U+200D; \W its complement;
//   - \s is Unicode White_Space (adding \v, U+0085, U+00A0, U+2028, ...),
//     \S its complement;
//   - \W and \S are refused inside a bracket class ([\W]): Go cannot
//     negate a Unicode class there; write [^\w...] instead;
//   - \b and \B are refused: Rust's word boundary is Unicode-aware, Go's
//     ASCII-only, and Go has no look-around to build Rust's;
//   - \Q...\E is refused: Go reads it as a quoted literal, Rust rejects it;
//   - \0 to \9 are refused: Go reads octal escapes, Rust rejects them;
//   - \p{..} and \P{..} are kept for general categories (\pL, \p{Lu},
//     \p{Nd}), scripts (\p{Greek}: the Script property in both) and \p{Any};
//     other properties (\p{Alphabetic}, \p{scx=Greek}), Rust's loose
//     spellings (\p{letter}) and \p{^X} are refused;
//   - inline flags other than i, m, s and U are refused: (?-u) (Rust's ASCII
//     mode), (?x) and (?R) do not exist in Go;
//   - nested bracket classes and the class set operations &&, -- and ~~ are
//     refused: Rust reads [a-z&&[^aeiou]] as an intersection, Go as a
//     different class.
//
// Everything else is passed through unchanged and means the same in both
// (literals, ., anchors ^ $ \A \z, groups, repetitions, (?i) simple case
// folding, POSIX classes [[:alpha:]], which are ASCII-only in both). Two
// known differences remain, both where Go refuses what Rust accepts, so
// mandate denies: a repetition count over 1000, and Unicode property names
// Go does not know (\p{Alphabetic}). Rust treats a pattern it cannot
// compile as "no match"; mandate refuses the token (a literal pattern, at
// parse) or fails the check (a pattern bound at run time).

// RegexError reports a construct of a regular expression whose meaning
// differs between Go and Biscuit's reference (Rust) implementation.
type RegexError struct {
	Construct string // as written in the pattern
	Reason    string
}

func (e *RegexError) Error() string {
	return fmt.Sprintf("regular expression construct %s is not accepted: %s (mandate follows the Rust dialect of Biscuit's reference implementation)", e.Construct, e.Reason)
}

// classW, classS are the bodies of bracket classes equal to Rust's Unicode
// \w and \s.
var classW, classS = func() (string, string) {
	var w strings.Builder
	w.WriteString(`\p{L}\p{M}\p{Nd}\p{Pc}\p{Nl}\x{200C}\x{200D}`)
	// Other_Alphabetic characters outside those categories (circled
	// letters): Alphabetic = L + Nl + Other_Alphabetic.
	writeRanges(&w, unicode.Other_Alphabetic, func(r rune) bool {
		return !unicode.In(r, unicode.L, unicode.M, unicode.Nd, unicode.Pc, unicode.Nl)
	})
	var s strings.Builder
	writeRanges(&s, unicode.White_Space, func(rune) bool { return true })
	return w.String(), s.String()
}()

// writeRanges writes the runes of t that keep accepts as \x{..}-\x{..}
// ranges.
func writeRanges(b *strings.Builder, t *unicode.RangeTable, keep func(rune) bool) {
	lo, hi := rune(-1), rune(-1)
	flush := func() {
		if lo < 0 {
			return
		}
		if lo == hi {
			fmt.Fprintf(b, `\x{%X}`, lo)
		} else {
			fmt.Fprintf(b, `\x{%X}-\x{%X}`, lo, hi)
		}
		lo, hi = -1, -1
	}
	add := func(r rune) {
		if !keep(r) {
			flush()
			return
		}
		if lo >= 0 && r == hi+1 {
			hi = r
			return
		}
		flush()
		lo, hi = r, r
	}
	for _, r := range t.R16 {
		for c := rune(r.Lo); c <= rune(r.Hi); c += rune(r.Stride) {
			add(c)
		}
	}
	for _, r := range t.R32 {
		for c := rune(r.Lo); c <= rune(r.Hi); c += rune(r.Stride) {
			add(c)
		}
	}
	flush()
}

// unicodeProperties are the \p{..} names that mean the same in Go and
// Rust: general categories, scripts (the Script property in both: Rust's
// \p{Greek} is not Script_Extensions) and Any.
var unicodeProperties = func() map[string]bool {
	m := map[string]bool{"Any": true}
	for name := range unicode.Categories {
		m[name] = true
	}
	for name := range unicode.Scripts {
		m[name] = true
	}
	return m
}()

// MaxRegexClasses bounds the Unicode classes (\d, \w, \s and their
// complements) one pattern may use: each compiles to many ranges.
const MaxRegexClasses = 16

// Compiling a pattern in Go costs far more for some constructs than for
// their length: Rust's Unicode \w rebuilds the union of the letter, mark,
// digit and connector tables for every occurrence (about 400 µs on the
// reference machine), \p{..} a table (up to 160 µs), and case folding
// ((?i)) doubles those and walks every character of a bracket range
// ((?i)[\x{42}-\x{1E942}] alone costs 5 ms). These are their prices in
// evaluation steps (about 0.13 µs each; see token.EvalSteps), charged on
// top of the pattern's length before it is parsed, so that no pattern
// under the limits can take longer to parse than its budget allows. What
// compiling and matching cost is charged from the parsed pattern's
// program size (ProgramSize), before either runs.
const (
	regexWordCost     = 4000 // \w, \W
	regexPropertyCost = 1500 // \p{..}, \P{..}
	regexClassCost    = 100  // \d, \D, \s, \S
	// Under case folding, class costs double and each character of a
	// bracket range that folding walks costs a step.
	regexFoldFactor = 2
	// Go's parser folds ranges character by character between these
	// (minFold and maxFold of regexp/syntax, Unicode 15).
	minFold = 0x0041
	maxFold = 0x1E943
)

// TranslateRegex rewrites a pattern of Biscuit's (Rust) dialect into Go's
// regexp syntax with the same meaning, or returns a *RegexError for a
// construct whose meaning would differ (see the comment above). It also
// returns what compiling the result costs beyond the pattern's length, in
// evaluation steps. It does not compile the result.
func TranslateRegex(p string) (string, int, error) {
	var out strings.Builder
	out.Grow(len(p) + 16)
	classes, cost, foldWidth := 0, 0, 0
	fold := false
	inClass := false
	classStart := 0 // index in p just after "[" or "[^"
	// In a class: the value of the last single character, -1 if none, and
	// whether a "-" after it makes the next one the end of a range.
	last, ranged := rune(-1), false
	atom := func(v rune) {
		if !ranged {
			last = v
			return
		}
		lo, hi := last, v
		last, ranged = -1, false
		if lo <= minFold && hi >= maxFold {
			return // Go adds such a range whole
		}
		lo, hi = max(lo, minFold), min(hi, maxFold)
		if hi >= lo {
			foldWidth += int(hi-lo) + 1
		}
	}
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '\\':
			if i+1 >= len(p) {
				return "", 0, &RegexError{Construct: `a trailing \`, Reason: "the pattern ends inside an escape"}
			}
			e := p[i+1]
			switch e {
			case 'd', 'D', 'w', 'W', 's', 'S':
				if classes++; classes > MaxRegexClasses {
					return "", 0, &RegexError{Construct: `\` + string(e), Reason: fmt.Sprintf("a pattern may use at most %d Unicode classes (\\d, \\w, \\s and their complements)", MaxRegexClasses)}
				}
				s, err := unicodeClass(e, inClass)
				if err != nil {
					return "", 0, err
				}
				if e == 'w' || e == 'W' {
					cost += regexWordCost
				} else {
					cost += regexClassCost
				}
				out.WriteString(s)
				last, ranged = -1, false
				i += 2
				continue
			case 'b', 'B':
				return "", 0, &RegexError{Construct: `\` + string(e), Reason: "Rust's word boundary is Unicode-aware and Go's ASCII-only; Go cannot express Rust's (anchor with ^, $ or explicit classes instead)"}
			case 'Q', 'E':
				return "", 0, &RegexError{Construct: `\Q...\E`, Reason: `Go reads it as a quoted literal but Rust rejects it; escape each metacharacter with \ instead`}
			case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
				return "", 0, &RegexError{Construct: `\` + string(e), Reason: `Go reads it as an octal escape, Rust rejects it (no backreferences); write \x{..} instead`}
			case 'p', 'P':
				n, err := property(p[i:])
				if err != nil {
					return "", 0, err
				}
				cost += regexPropertyCost
				out.WriteString(p[i : i+n])
				last, ranged = -1, false
				i += n
				continue
			}
			// Any other escape (\., \x{..}, \t, \A, \z, ...) means the same,
			// or is an error in Go as well.
			n, v := escapeValue(p[i:])
			out.WriteString(p[i : i+n])
			if inClass {
				atom(v)
			}
			i += n
			continue
		case inClass:
			switch {
			case c == ']' && i > classStart:
				inClass = false
			case c == '[' && i+1 < len(p) && p[i+1] == ':':
				end := strings.Index(p[i:], ":]")
				if end < 0 {
					return "", 0, &RegexError{Construct: "[:", Reason: "an unterminated POSIX class"}
				}
				out.WriteString(p[i : i+end+2])
				last, ranged = -1, false
				i += end + 2
				continue
			case c == '[':
				return "", 0, &RegexError{Construct: "a nested class [...[...]...]", Reason: "Rust reads nested classes and set operations, Go a literal ["}
			case (c == '&' || c == '-' || c == '~') && i+1 < len(p) && p[i+1] == c && i > classStart:
				return "", 0, &RegexError{Construct: string([]byte{c, c}) + " in a class", Reason: "Rust reads it as a class set operation (intersection, difference, symmetric difference), Go as literal characters"}
			case c == '-' && last >= 0 && !ranged && i+1 < len(p) && p[i+1] != ']':
				ranged = true
				out.WriteByte(c)
				i++
				continue
			default:
				r, n := utf8.DecodeRuneInString(p[i:])
				out.WriteString(p[i : i+n])
				atom(r)
				i += n
				continue
			}
		case c == '[':
			inClass = true
			last, ranged = -1, false
			j := i + 1
			if j < len(p) && p[j] == '^' {
				j++
			}
			// A "]" right after "[" or "[^" is a literal in both.
			out.WriteString(p[i:j])
			classStart = j
			i = j
			if i < len(p) && p[i] == ']' {
				out.WriteByte(']')
				atom(']')
				i++
			}
			continue
		case c == '(' && i+1 < len(p) && p[i+1] == '?':
			n, folds, err := groupFlags(p[i:])
			if err != nil {
				return "", 0, err
			}
			fold = fold || folds
			out.WriteString(p[i : i+n])
			i += n
			continue
		}
		out.WriteByte(c)
		i++
	}
	if fold {
		cost = cost*regexFoldFactor + foldWidth
	}
	return out.String(), cost, nil
}

// escapeValue returns the length of the escape at the start of s (which
// starts with a backslash) and the character it stands for, -1 if it is
// not a single character Go would read.
func escapeValue(s string) (int, rune) {
	switch e := s[1]; e {
	case 'x':
		if len(s) > 2 && s[2] == '{' {
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return 2, -1
			}
			v, err := strconv.ParseUint(s[3:end], 16, 32)
			if err != nil || v > unicode.MaxRune {
				return end + 1, -1
			}
			return end + 1, rune(v)
		}
		if len(s) >= 4 {
			if v, err := strconv.ParseUint(s[2:4], 16, 8); err == nil {
				return 4, rune(v)
			}
		}
		return 2, -1
	case 'a':
		return 2, '\a'
	case 'f':
		return 2, '\f'
	case 't':
		return 2, '\t'
	case 'n':
		return 2, '\n'
	case 'r':
		return 2, '\r'
	case 'v':
		return 2, '\v'
	default:
		if e < utf8.RuneSelf && (unicode.IsPunct(rune(e)) || unicode.IsSymbol(rune(e))) {
			return 2, rune(e)
		}
		return 2, -1
	}
}

// unicodeClass returns Go syntax for Rust's Unicode \d, \w, \s or their
// complements (e is the escape letter), inside or outside a bracket class.
func unicodeClass(e byte, inClass bool) (string, error) {
	switch e {
	case 'd':
		return `\p{Nd}`, nil
	case 'D':
		return `\P{Nd}`, nil
	}
	body := classW
	if e == 's' || e == 'S' {
		body = classS
	}
	switch {
	case e == 'w' || e == 's':
		if inClass {
			return body, nil
		}
		return "[" + body + "]", nil
	case inClass:
		return "", &RegexError{Construct: `\` + string(e) + " inside [...]", Reason: "Go cannot negate Rust's Unicode class inside a bracket class; use [^...] with \\w or \\s instead"}
	}
	return "[^" + body + "]", nil
}

// property checks a \p or \P escape at the start of s and returns its
// length.
func property(s string) (int, error) {
	if len(s) < 3 {
		return 0, &RegexError{Construct: s, Reason: "an incomplete Unicode property"}
	}
	name, n := s[2:3], 3
	if s[2] == '{' {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return 0, &RegexError{Construct: s, Reason: "an unterminated Unicode property"}
		}
		name, n = s[3:end], end+1
	}
	if !unicodeProperties[name] {
		return 0, &RegexError{Construct: s[:n], Reason: "only general categories (\\pL, \\p{Lu}, \\p{Nd}), scripts (\\p{Greek}) and \\p{Any}, spelled exactly so, mean the same in Go and Rust; other properties (\\p{Alphabetic}, \\p{scx=Greek}), loose spellings (\\p{letter}) and \\p{^X} are refused"}
	}
	return n, nil
}

// groupFlags checks the "(?" group at the start of s and returns the length
// to copy and whether it turns case folding on: named groups and
// non-capturing groups pass, inline flags must be among i, m, s and U.
func groupFlags(s string) (int, bool, error) {
	if strings.HasPrefix(s, "(?P<") || strings.HasPrefix(s, "(?<") {
		return 3, false, nil
	}
	fold, neg := false, false
	for j := 2; j < len(s); j++ {
		switch c := s[j]; c {
		case ')', ':':
			return j + 1, fold, nil
		case '-':
			neg = true
		case 'i':
			fold = fold || !neg
		case 'm', 's', 'U':
		case 'u':
			return 0, false, &RegexError{Construct: s[:j+1], Reason: "(?-u), Rust's ASCII mode, does not exist in Go; mandate's dialect is always Unicode (write explicit classes such as [0-9] for ASCII)"}
		default:
			return 0, false, &RegexError{Construct: s[:j+1], Reason: fmt.Sprintf("the inline flag %q is not one Go and Rust share (i, m, s and U are)", c)}
		}
	}
	return 0, false, &RegexError{Construct: s, Reason: "an unterminated group"}
}

// ProgramSize estimates the instructions Go's compiler emits for re, the
// measure of what compiling it and matching with it cost: a counted
// repetition copies its operand ((a|aa){999} is 999 copies), so the
// pattern's length says little. It saturates at 1<<30.
func ProgramSize(re *syntax.Regexp) int {
	const limit = 1 << 30
	sat := func(n int) int { return min(n, limit) }
	switch re.Op {
	case syntax.OpLiteral:
		return max(len(re.Rune), 1)
	case syntax.OpCapture:
		return sat(ProgramSize(re.Sub[0]) + 2)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		return sat(ProgramSize(re.Sub[0]) + 1)
	case syntax.OpRepeat:
		n := max(re.Min, re.Max)
		if re.Max < 0 {
			n = re.Min + 1
		}
		sub := ProgramSize(re.Sub[0])
		if sub > 0 && n > limit/sub {
			return limit
		}
		return sat(sub*n + n)
	case syntax.OpConcat, syntax.OpAlternate:
		total := len(re.Sub)
		for _, sub := range re.Sub {
			total = sat(total + ProgramSize(sub))
		}
		return total
	}
	return 1
}
