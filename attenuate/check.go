package attenuate

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/biscuit-auth/biscuit-go/v2"
	"github.com/biscuit-auth/biscuit-go/v2/parser"

	"github.com/mandate-dev/mandate/internal/datalog"
	"github.com/mandate-dev/mandate/token"
)

// Check appends a raw Datalog check, for experts. The text must be one
// Biscuit v3 (Datalog 3.0) check in biscuit-go's syntax, such as
//
//	check if operation($o), resource($r), !($o == "write") or $r.starts_with("draft/")
//
// Only "check if" is accepted: policies ("allow if", "deny if") belong to
// the verifier, and "check all", "reject if", "!=" and {..} sets are newer
// than Datalog 3.0. Sets are written ["a", "b"]. A trailing ";" is allowed.
// The check is validated at once against the token limits and the
// verifier's parser (every variable must be bound by a predicate).
// Regular expressions in .matches() follow Biscuit's Rust dialect (\d, \w
// and \s are Unicode classes); constructs Go and Rust read differently,
// such as \b or \Q...\E, are refused (see "Regular expressions" in the
// token package doc).
// Parsing costs about a millisecond (biscuit-go's text parser is slow).
func (b *Builder) Check(datalog string) *Builder {
	const method = "Check"
	if b.err != nil {
		return b
	}
	c, err := parseCheck(datalog)
	if err != nil {
		return b.fail(wrapError(method, err, "raw check"))
	}
	if len(b.checks) >= token.MaxChecksPerBlock {
		return b.addCheck(method, c) // reports the limit
	}
	// Append the check alone and read the result back as a verifier would,
	// so that a check over a limit fails here rather than at Build.
	_, u, err := b.append([]biscuit.Check{c}, nil, false)
	if err == nil {
		err = readBack(u, []biscuit.Check{c}, nil)
	}
	if err != nil {
		return b.fail(fmt.Errorf("attenuate: %s: %w", method, err))
	}
	return b.addCheck(method, c)
}

var (
	leadingWords = regexp.MustCompile(`^([A-Za-z_]+)(?:\s+([A-Za-z_]+))?`)
	checkIf      = regexp.MustCompile(`^check\s+if(\s|$)`)
	braceSet     = regexp.MustCompile(`\{\s*(["0-9\-}]|true|false|hex:)`)
)

// parseCheck parses one "check if" with biscuit-go's parser, refusing other
// kinds of statement with a message that says why.
func parseCheck(text string) (c biscuit.Check, err error) {
	if len(text) > token.MaxTokenBytes {
		return c, limitMsg(fmt.Sprintf("%d bytes of text is over the %d-byte token limit", len(text), token.MaxTokenBytes))
	}
	if !utf8.ValidString(text) {
		return c, fmt.Errorf("not valid UTF-8")
	}
	if strings.IndexFunc(text, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }) >= 0 {
		return c, fmt.Errorf("contains control characters")
	}
	s := strings.TrimSpace(text)
	s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	if s == "" {
		return c, fmt.Errorf("empty: write a check such as `check if tool($t), [\"get_account\"].contains($t)`")
	}
	var first, second string
	if m := leadingWords.FindStringSubmatch(s); m != nil {
		first, second = m[1], m[2]
	}
	switch {
	case first == "allow" || first == "deny":
		return c, fmt.Errorf("%q is a policy, and policies belong to the verifier; an attenuation block holds only checks (`check if ...`)", first+" "+second)
	case first == "reject" || (first == "check" && second == "all"):
		return c, fmt.Errorf("%q is Datalog 3.1; Biscuit v3 (Datalog 3.0, biscuit-go v2.2.0) supports only `check if`, and mandate's verifier rejects newer blocks", first+" "+second)
	case !checkIf.MatchString(s):
		return c, fmt.Errorf("not a check: Biscuit v3 supports only `check if <conditions>`")
	}
	// biscuit-go's lexer knows the keyword with exactly one space.
	s = "check if " + s[checkIf.FindStringIndex(s)[1]:]
	c, err = parseSafely(s)
	if err != nil {
		return c, fmt.Errorf("%v%s", err, hints(s))
	}
	if err := checkTerms(c); err != nil {
		return c, err
	}
	if err := checkPatterns(c); err != nil {
		return c, err
	}
	return c, nil
}

// checkPatterns refuses a literal regular expression that could never
// match at the verifier: one Go cannot compile (such as a{1001}), or one
// whose compiling alone is over the evaluation budget. (Constructs that Go
// and Rust read differently are refused when the block is read back.)
func checkPatterns(c biscuit.Check) error {
	for _, q := range c.Queries {
		for _, x := range q.Expressions {
			for i, op := range x {
				if op != biscuit.BinaryRegex || i == 0 {
					continue
				}
				v, ok := x[i-1].(biscuit.Value)
				if !ok {
					continue
				}
				p, ok := v.Term.(biscuit.String)
				if !ok {
					continue
				}
				translated, cost, err := datalog.TranslateRegex(string(p))
				if err != nil {
					continue // refused with token.ErrUnsupported when read back
				}
				parsed, err := syntax.Parse(translated, syntax.Perl)
				if err != nil {
					return fmt.Errorf("regular expression %q does not compile (%v), so the check could never pass", string(p), err)
				}
				if n := 8*len(p) + cost + datalog.ProgramSize(parsed); n > token.EvalSteps {
					return limitMsg(fmt.Sprintf("regular expression %q costs about %d evaluation steps to compile, over the budget of %d for a whole decision: simplify it (fewer \\w or \\p{..}, narrower ranges under (?i), smaller repetitions)", string(p), n, token.EvalSteps))
				}
			}
		}
	}
	return nil
}

// checkParser is biscuit-go's parser, built once: parser.FromStringCheck
// builds every grammar on each call (about 2.5 ms), parsing alone costs
// about 0.2 ms. A mutex guards it since participle does not document its
// parsers as safe for concurrent use.
var checkParser struct {
	sync.Mutex
	p parser.Parser
}

// parseSafely calls biscuit-go's parser, turning a panic into an error.
func parseSafely(s string) (c biscuit.Check, err error) {
	checkParser.Lock()
	defer checkParser.Unlock()
	defer func() {
		if r := recover(); r != nil {
			c, err = biscuit.Check{}, fmt.Errorf("biscuit-go's parser failed on this text")
		}
	}()
	if checkParser.p == nil {
		checkParser.p = parser.New()
	}
	return checkParser.p.Check(s, nil)
}

// hints explains the usual reasons a check from another Biscuit library
// does not parse as Datalog 3.0.
func hints(s string) string {
	var h []string
	if strings.Contains(s, "===") || strings.Contains(s, "!==") {
		h = append(h, "strict (in)equality === and !== is Datalog 3.3")
	} else if strings.Contains(s, "!=") {
		h = append(h, "Datalog 3.0 has no != operator: write !($a == $b)")
	}
	if braceSet.MatchString(s) {
		h = append(h, `Biscuit v3 in biscuit-go writes sets as ["a", "b"], not {"a", "b"}`)
	}
	if len(h) == 0 {
		return ""
	}
	return " (" + strings.Join(h, "; ") + ")"
}

// checkTerms refuses strings that the parser unquoted into control
// characters or invalid UTF-8.
func checkTerms(c biscuit.Check) error {
	var walk func(t biscuit.Term) error
	walk = func(t biscuit.Term) error {
		switch x := t.(type) {
		case biscuit.String:
			return checkText(string(x))
		case biscuit.Variable:
			return checkText(string(x))
		case biscuit.Bytes:
			if len(x) > token.MaxStringBytes {
				return limitMsg(fmt.Sprintf("a bytes value of %d bytes is over the %d-byte limit", len(x), token.MaxStringBytes))
			}
		case biscuit.Set:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	preds := func(ps ...biscuit.Predicate) error {
		for _, p := range ps {
			if err := checkText(p.Name); err != nil {
				return err
			}
			for _, t := range p.IDs {
				if err := walk(t); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, q := range c.Queries {
		if err := preds(q.Head); err != nil {
			return err
		}
		if err := preds(q.Body...); err != nil {
			return err
		}
		for _, x := range q.Expressions {
			for _, op := range x {
				if v, ok := op.(biscuit.Value); ok {
					if err := walk(v.Term); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}
