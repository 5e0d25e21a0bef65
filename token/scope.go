package token

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// OAuth scope strings for rights. mandate has no scope catalog yet (the
// OAuth front door will bring one); until then, and afterwards as the
// catalog's spelling, a right is written as one OAuth scope token
// (RFC 6749 §3.3):
//
//	scope    = service ":" tool ":" operation [ ":" resource ]
//
//	crm:get_account:read                     every resource
//	crm:get_account:read:account:acme/42     resources starting with "account:acme/42"
//	github:*:read:repo:acme/                 any tool ("*"), one prefix
//
// Tool and operation may be the wildcard "*". The resource is the right's
// plain string prefix and is omitted when empty (a prefix covering
// everything); it keeps its ":" and "/" as they are. Every byte a scope
// token may not hold (space, '"', '\', controls, non-ASCII) and '%' itself
// are percent-encoded (%XX, upper case), and so is ':' inside service, tool
// and operation, so that a scope has exactly one reading. [Right.Scope]
// writes it and [ParseScope] reads it back; this file is the one place that
// defines the format.

// ErrScope is the root of ParseScope's errors.
var ErrScope = errors.New("invalid scope")

// Scope returns r as an OAuth scope token (see the format above).
func (r Right) Scope() string {
	var b strings.Builder
	escapeScope(&b, r.Service, true)
	b.WriteByte(':')
	escapeScope(&b, r.Tool, true)
	b.WriteByte(':')
	escapeScope(&b, r.Operation, true)
	if r.Resource != "" {
		b.WriteByte(':')
		escapeScope(&b, r.Resource, false)
	}
	return b.String()
}

// ParseScope reads a scope written by [Right.Scope]. It refuses what Scope
// would not write (empty names, a trailing ":" for the empty resource,
// needless or lower-case escapes) and names or resources that [Mint] would
// refuse, so that a scope and a right are one-to-one.
func ParseScope(s string) (Right, error) {
	parts := strings.SplitN(s, ":", 4)
	if len(parts) < 3 {
		return Right{}, fmt.Errorf("%w: %q: want service:tool:operation[:resource]", ErrScope, s)
	}
	var r Right
	var err error
	for i, dst := range []*string{&r.Service, &r.Tool, &r.Operation} {
		if *dst, err = unescapeScope(parts[i]); err != nil {
			return Right{}, fmt.Errorf("%w: %q: %v", ErrScope, s, err)
		}
		if *dst == "" {
			return Right{}, fmt.Errorf("%w: %q: service, tool and operation must not be empty", ErrScope, s)
		}
		if err := CheckNameRunes(*dst); err != nil {
			return Right{}, fmt.Errorf("%w: %q: %v", ErrScope, s, err)
		}
	}
	if len(parts) == 4 {
		if r.Resource, err = unescapeScope(parts[3]); err != nil {
			return Right{}, fmt.Errorf("%w: %q: %v", ErrScope, s, err)
		}
		if r.Resource == "" {
			return Right{}, fmt.Errorf("%w: %q: omit the trailing ':' for the empty resource", ErrScope, s)
		}
		if err := CheckResource(r.Resource); err != nil {
			return Right{}, fmt.Errorf("%w: %q: %v", ErrScope, s, err)
		}
	}
	if !utf8.ValidString(r.Service + r.Tool + r.Operation + r.Resource) {
		return Right{}, fmt.Errorf("%w: %q: not UTF-8 once decoded", ErrScope, s)
	}
	if r.Scope() != s {
		return Right{}, fmt.Errorf("%w: %q is not in canonical form (%q)", ErrScope, s, r.Scope())
	}
	return r, nil
}

// scopeByte reports whether c may appear unescaped in a scope component:
// RFC 6749's NQCHAR (%x21 / %x23-5B / %x5D-7E) minus '%', and minus ':'
// in a name.
func scopeByte(c byte, name bool) bool {
	switch {
	case c == '%', name && c == ':':
		return false
	case c == 0x21, 0x23 <= c && c <= 0x5b, 0x5d <= c && c <= 0x7e:
		return true
	}
	return false
}

func escapeScope(b *strings.Builder, s string, name bool) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if scopeByte(c, name) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

func unescapeScope(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", errors.New("a '%' is not followed by two hex digits")
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), nil
}
