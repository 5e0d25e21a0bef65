package token

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// Inspection describes a token for people and tools: `mandate inspect`
// prints its Text, `mandate inspect --json` its JSON encoding.
//
// An Inspection made by [Inspect] describes an [Unverified] token: its
// Verified field is false and nothing in it can be trusted, not even the
// subject and rights, which anyone can write into a token signed by a key of
// their own. [InspectVerified] describes a token whose signature chain
// verified against a trusted root key.
type Inspection struct {
	// Verified is true only for an Inspection made by InspectVerified.
	Verified bool `json:"verified"`
	// KeyID is the ID of the trusted root key that verified the token, or
	// nil when the token was not verified.
	KeyID *uint32 `json:"key_id"`
	// RootKeyID is the root key ID hint the token carries, or nil. It is
	// unauthenticated: a hint for picking a key, nothing more.
	RootKeyID *uint32 `json:"root_key_id"`
	// Sealed reports whether no block can be appended.
	Sealed bool `json:"sealed"`
	// BlockVersions lists each block's format version, in block order.
	BlockVersions []uint32 `json:"block_versions"`
	// RevocationIDs lists each block's revocation ID in hex, in block order.
	RevocationIDs []string `json:"revocation_ids"`
	// ExpiresAt is the earliest expiry any block states (RFC 3339), or nil
	// when no block states one. See ExpiryOf for the recognised form.
	ExpiresAt *string `json:"expires_at"`
	// AuthorityExpiresAt is the expiry the authority block states
	// (RFC 3339), or nil.
	AuthorityExpiresAt *string `json:"authority_expires_at"`
	// Subject and Rights are read from the authority block's facts. Unless
	// Verified is true they are only what the token claims.
	Subject Subject `json:"subject"`
	Rights  []Right `json:"rights"`
	// Blocks describes every block, the authority block first.
	Blocks []BlockInspection `json:"blocks"`
	// Limits lists the usage limits the blocks declare, in block order.
	Limits []LimitInspection `json:"limits"`
}

// LimitInspection describes one usage limit a block declares.
type LimitInspection struct {
	ID    string `json:"limit_id"`
	Block int    `json:"block"`
	Limit string `json:"limit"` // the CLI's form, such as send_email:calls=20/1h
}

// BlockInspection describes one block. Facts, rules and checks are Datalog
// source text, one statement per element.
type BlockInspection struct {
	Index        int      `json:"index"`
	Version      uint32   `json:"version"`
	Context      string   `json:"context,omitempty"`
	RevocationID string   `json:"revocation_id"`
	ExpiresAt    *string  `json:"expires_at,omitempty"`
	Symbols      []string `json:"symbols"`
	Facts        []string `json:"facts"`
	Rules        []string `json:"rules"`
	Checks       []string `json:"checks"`
}

// Inspect describes a parsed token. It checks no signature: the result has
// Verified false, and the subject and rights are what the authority block
// claims, unauthenticated. Use InspectVerified after Verify to describe a
// token you can trust. Inspect(nil) returns nil.
func Inspect(u *Unverified) *Inspection {
	if u == nil {
		return nil
	}
	in := &Inspection{
		Sealed:        u.Sealed(),
		BlockVersions: make([]uint32, len(u.blocks)),
		RevocationIDs: make([]string, len(u.blocks)),
		Blocks:        make([]BlockInspection, len(u.blocks)),
		Rights:        []Right{},
	}
	if id, ok := u.RootKeyIDHint(); ok {
		in.RootKeyID = &id
	}
	ids := u.RevocationIDs()
	var earliest time.Time
	for i, b := range u.blocks {
		in.BlockVersions[i] = b.Version
		in.RevocationIDs[i] = hex.EncodeToString(ids[i])
		bi := BlockInspection{
			Index:        i,
			Version:      b.Version,
			Context:      b.Context,
			RevocationID: in.RevocationIDs[i],
			Symbols:      append([]string{}, b.Symbols...),
			Facts:        make([]string, len(b.Facts)),
			Rules:        make([]string, len(b.Rules)),
			Checks:       make([]string, len(b.Checks)),
		}
		for j, f := range b.Facts {
			bi.Facts[j] = f.String()
		}
		for j, r := range b.Rules {
			bi.Rules[j] = r.String()
		}
		for j, c := range b.Checks {
			bi.Checks[j] = c.String()
		}
		if exp := ExpiryOf(b); !exp.IsZero() {
			bi.ExpiresAt = timeString(exp)
			if earliest.IsZero() || exp.Before(earliest) {
				earliest = exp
			}
			if i == 0 {
				in.AuthorityExpiresAt = timeString(exp)
			}
		}
		in.Blocks[i] = bi
	}
	if !earliest.IsZero() {
		in.ExpiresAt = timeString(earliest)
	}
	if len(u.blocks) > 0 {
		s, rights, _ := subjectOf(u.blocks[0])
		in.Subject = s
		in.Rights = append(in.Rights, rights...)
	}
	in.Limits = []LimitInspection{}
	for _, l := range declaredLimits(u) {
		in.Limits = append(in.Limits, LimitInspection{ID: l.ID, Block: l.Block, Limit: l.Limit.String()})
	}
	return in
}

// InspectVerified describes a verified token: Verified is true and KeyID
// names the trusted root key that verified it. InspectVerified(nil) returns
// nil.
func InspectVerified(v *Verified) *Inspection {
	if v == nil {
		return nil
	}
	in := Inspect(v.u)
	id := v.keyID
	in.Verified = true
	in.KeyID = &id
	return in
}

func timeString(t time.Time) *string {
	s := t.UTC().Format(time.RFC3339)
	return &s
}

// Text returns the inspection as aligned, human-readable text: a summary,
// then one section per block. An unverified inspection starts with an
// UNVERIFIED banner. Every string taken from the token is printed with
// control and other non-printing characters escaped, so a token cannot
// forge lines or terminal sequences in the output.
func (in *Inspection) Text() string {
	if in == nil {
		return ""
	}
	var b strings.Builder
	if in.Verified {
		fmt.Fprintf(&b, "VERIFIED with trusted root key %s\n\n", keyIDText(in.KeyID))
	} else {
		b.WriteString("UNVERIFIED: no signature was checked; nothing below can be trusted.\n\n")
	}
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	versions := make([]string, len(in.BlockVersions))
	for i, v := range in.BlockVersions {
		versions[i] = strconv.FormatUint(uint64(v), 10)
	}
	row("blocks", fmt.Sprintf("%d (versions %s)", len(in.Blocks), strings.Join(versions, ", ")))
	row("sealed", yesNo(in.Sealed))
	if in.RootKeyID != nil {
		row("root key ID", keyIDText(in.RootKeyID)+" (hint, unauthenticated)")
	} else {
		row("root key ID", "none (tokens appended by biscuit-go drop the hint)")
	}
	row("expires at", orNone(in.ExpiresAt)+" (earliest of all blocks)")
	row("authority expiry", orNone(in.AuthorityExpiresAt))
	claim := ""
	if !in.Verified {
		claim = " (claimed)"
	}
	row("agent"+claim, orEmpty(printable(in.Subject.Agent)))
	row("user"+claim, orEmpty(printable(in.Subject.User)))
	row("org"+claim, orEmpty(printable(in.Subject.Org)))
	row("session"+claim, orEmpty(printable(in.Subject.Session)))
	_ = tw.Flush()

	fmt.Fprintf(&b, "\nrights%s\n", claim)
	if len(in.Rights) == 0 {
		b.WriteString("  (none)\n")
	} else {
		fmt.Fprintf(tw, "  service\ttool\toperation\tresource prefix\n")
		for _, r := range in.Rights {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", printable(r.Service), printable(r.Tool), printable(r.Operation), strconv.Quote(r.Resource))
		}
		_ = tw.Flush()
	}

	b.WriteString("\nrevocation IDs\n")
	for i, id := range in.RevocationIDs {
		fmt.Fprintf(&b, "  %d  %s\n", i, id)
	}
	if len(in.Limits) > 0 {
		b.WriteString("\nusage limits (block: limit)\n")
		for _, l := range in.Limits {
			fmt.Fprintf(&b, "  %d: %s\n", l.Block, printable(l.Limit))
		}
	}

	for _, blk := range in.Blocks {
		name := "attenuation"
		if blk.Index == 0 {
			name = "authority"
		}
		fmt.Fprintf(&b, "\nblock %d (%s)\n", blk.Index, name)
		row("  version", strconv.FormatUint(uint64(blk.Version), 10))
		if blk.Context != "" {
			row("  context", printable(blk.Context))
		}
		row("  revocation ID", blk.RevocationID)
		if blk.ExpiresAt != nil {
			row("  expires at", *blk.ExpiresAt)
		}
		syms := make([]string, len(blk.Symbols))
		for i, s := range blk.Symbols {
			syms[i] = printable(s)
		}
		row("  symbols", orEmpty(strings.Join(syms, ", ")))
		_ = tw.Flush()
		section(&b, "facts", blk.Facts)
		section(&b, "rules", blk.Rules)
		section(&b, "checks", blk.Checks)
	}
	return b.String()
}

func section(b *strings.Builder, title string, lines []string) {
	fmt.Fprintf(b, "  %s\n", title)
	if len(lines) == 0 {
		b.WriteString("    (none)\n")
		return
	}
	for _, l := range lines {
		fmt.Fprintf(b, "    %s;\n", printable(l))
	}
}

func keyIDText(id *uint32) string {
	if id == nil {
		return "none"
	}
	return fmt.Sprintf("%d (0x%08x)", *id, *id)
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

func orNone(s *string) string {
	if s == nil {
		return "none"
	}
	return *s
}

func orEmpty(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// printable escapes every rune that is not printable (control characters,
// bidirectional overrides, invalid UTF-8) so that text from a token cannot
// rewrite a terminal or forge output lines.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += n
	}
	return b.String()
}
