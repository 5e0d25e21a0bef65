package token

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// UnsafeNameRune reports whether r must not appear in a name (an agent,
// user, org, session, service, tool, operation, argument or client name, or
// a resource): a control character (Cc), a format character (Cf: bidi
// overrides such as U+202E, zero-width characters such as U+200B, the byte
// order mark U+FEFF), a line or paragraph separator (Zl, Zp: U+2028,
// U+2029) or a space other than the ASCII space (Zs: U+00A0, U+3000, …).
// Such characters are invisible or reorder text, so two names that look the
// same in a log, a console or an inspection would differ, or a name could
// forge a line.
func UnsafeNameRune(r rune) bool {
	switch {
	case r < 0x80:
		return r < 0x20 || r == 0x7f
	case unicode.IsControl(r), unicode.Is(unicode.Cf, r), unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r), unicode.Is(unicode.Zs, r):
		return true
	}
	return false
}

// CheckNameRunes returns an error naming the first character of s that
// UnsafeNameRune refuses, or nil.
func CheckNameRunes(s string) error {
	i := strings.IndexFunc(s, UnsafeNameRune)
	if i < 0 {
		return nil
	}
	r := []rune(s[i:])[0]
	kind := "control characters"
	switch {
	case unicode.Is(unicode.Cf, r):
		kind = "format characters (invisible, or reordering text)"
	case unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r):
		kind = "line and paragraph separators"
	case unicode.Is(unicode.Zs, r):
		kind = "spaces other than the ASCII space"
	}
	return fmt.Errorf("contains %U at byte %d: %s are not allowed in names; remove it", r, i, kind)
}

// ErrResourcePath is the root of CheckResource's errors.
var ErrResourcePath = errors.New("resource path is ambiguous")

// resourceSeparators end a segment of a resource when looking for "." and
// ".." segments: "/" and "\" (paths) and ":" ("type:" prefixes).
const resourceSeparators = `/\:`

// maxPercentDecodings bounds how many layers of percent-encoding
// CheckResource looks through ("%252e" is "%2e" is ".").
const maxPercentDecodings = 3

// CheckResource refuses a resource (or resource prefix) that a tool server
// could resolve to something other than what a string prefix test sees:
//
//   - a "." or ".." segment ("account:acme/../globex/1", "a/./b", "x:..");
//     segments end at "/", "\" and ":";
//   - an empty segment, "//" ("a//b"): many resolvers drop it; a trailing
//     "/" ending a prefix is fine, and so is the "//" of a URL scheme at the
//     very start ("https://api.acme.test/v1", but not "https://a//b");
//   - the same once percent-decoded, up to three times ("%2e%2e",
//     "%2F%2F", "%252e%252e"), or a control character once decoded ("%00");
//   - any character UnsafeNameRune refuses.
//
// mandate refuses such resources everywhere (mint, ceilings, caveats, the
// verifier's request facts) rather than defining a canonical form: a tool
// server that cleans paths itself then never disagrees with the verifier.
// The empty resource is allowed (a prefix covering everything).
func CheckResource(r string) error {
	if err := CheckNameRunes(r); err != nil {
		return err
	}
	s := r
	for layer := 0; ; layer++ {
		if err := checkSegments(s); err != nil {
			if layer > 0 {
				return fmt.Errorf("%w: once percent-decoded, %v", ErrResourcePath, err)
			}
			return fmt.Errorf("%w: %v", ErrResourcePath, err)
		}
		if layer == maxPercentDecodings || strings.IndexByte(s, '%') < 0 {
			return nil
		}
		d := percentDecode(s)
		if d == s {
			return nil
		}
		if i := strings.IndexFunc(d, unicode.IsControl); i >= 0 {
			return fmt.Errorf("%w: once percent-decoded, it holds a control character", ErrResourcePath)
		}
		s = d
	}
}

func checkSegments(s string) error {
	rest := s
	if i := strings.Index(s, "://"); i > 0 && isScheme(s[:i]) {
		rest = s[i+3:]
	}
	if strings.Contains(rest, "//") {
		return errors.New(`it has an empty segment ("//"); write one "/"`)
	}
	for seg := range strings.FieldsFuncSeq(s, func(r rune) bool { return strings.ContainsRune(resourceSeparators, r) }) {
		if seg == "." || seg == ".." {
			return fmt.Errorf("it has a %q segment; name the resource without relative segments", seg)
		}
	}
	return nil
}

// isScheme reports whether s is a URL scheme (RFC 3986, section 3.1):
// a letter, then letters, digits, "+", "-" and ".".
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// percentDecode decodes every valid %XX of s and leaves anything else.
func percentDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
