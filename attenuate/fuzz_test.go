package attenuate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/verifier"
)

// probes are requests inside and outside broadRights.
var probes = []verifier.Request{
	getAccount42,
	listInvoices,
	refund(50),
	refund("50"),
	{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/420"},
	{Service: "crm", Tool: "delete_account", Operation: "write", Resource: "account:other/1"},
	{Service: "hr", Tool: "get_account", Operation: "read", Resource: "account:acme/42"},
	{Service: "crm", Tool: "send_email", Operation: "write", Resource: "account:acme/42", Args: map[string]any{"to": []string{"a", "b"}}},
}

// fuzzNarrows fails when tok allows a probe that orig does not.
func fuzzNarrows(t *testing.T, v *verifier.Verifier, orig, tok string) {
	for _, r := range probes {
		if v.Authorize(context.Background(), tok, r).Allowed && !v.Authorize(context.Background(), orig, r).Allowed {
			t.Fatalf("attenuation widened the token for %+v", r)
		}
	}
}

// FuzzCheck feeds arbitrary text to Builder.Check: it never panics, every
// refusal is ErrInvalidCaveat, and whatever it accepts only narrows.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`check if true`,
		`check if false`,
		`check if tool($t), ["get_account", "list_invoices"].contains($t)`,
		`check if tool($t), !($t == "refund") or tool("refund"), arg("amount", $a), $a <= 500`,
		`check if resource($r), $r.starts_with("account:acme/42/") || $r == "account:acme/42"`,
		`check if time($t), $t <= 2026-11-22T10:05:00Z`,
		`check if right($s, $t, $o, $r)`,
		`check if operation($o), $o.matches("^re.*")`,
		`check if arg("to", $v), $v.length() > 1`,
		`check if tool($t), $t.contains("get") && !$t.ends_with("x")`,
		`check if arg("amount", $a), $a * 2 - 1 / 1 + 3 > 0`,
		`check if x(hex:00ff), [1, 2].intersection([2]).union([3]).contains(2)`,
		`deny if true`,
		`allow if true`,
		`check all true`,
		`reject if true`,
		`check if tool($t), $t != "a"`,
		`check if tool($t), {"a"}.contains($t)`,
		`check if resource({p})`,
		`check if $x`,
		`check if (((`,
		"check if tool(\"\x00\")",
		"\xff",
		"",
	} {
		f.Add(s)
	}
	a := newAuthority(f)
	orig := a.mint(f)
	v := a.verifier(f, t0)
	f.Fuzz(func(t *testing.T, text string) {
		b, err := attenuate.New(orig, attenuate.WithClock(clockAt(t0)))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Check(text).Err(); err != nil {
			if !errors.Is(err, attenuate.ErrInvalidCaveat) {
				t.Fatalf("refusal %v is not ErrInvalidCaveat", err)
			}
			return
		}
		tok, err := b.Build()
		if err != nil {
			if !errors.Is(err, attenuate.ErrInvalidCaveat) {
				t.Fatalf("Build error %v is not ErrInvalidCaveat", err)
			}
			return
		}
		fuzzNarrows(t, v, orig, tok)
	})
}

// FuzzCaveats feeds arbitrary names and numbers to the typed caveats.
func FuzzCaveats(f *testing.F) {
	f.Add(uint8(0), "get_account", "amount", int64(500), "/")
	f.Add(uint8(1), "account:acme/42", "", int64(0), "/:")
	f.Add(uint8(2), "refund", "amount", int64(-1), "")
	f.Add(uint8(3), "send_email", "to", int64(1), "a")
	f.Add(uint8(4), "", "\x00", int64(1)<<62, "//")
	f.Add(uint8(5), "*", "\xff", int64(-1)<<63, ".")
	f.Add(uint8(6), strings.Repeat("x", 2000), "x", int64(3600), "/")
	a := newAuthority(f)
	orig := a.mint(f)
	v := a.verifier(f, t0)
	f.Fuzz(func(t *testing.T, kind uint8, s1, s2 string, n int64, seps string) {
		b, err := attenuate.New(orig, attenuate.WithClock(clockAt(t0)), attenuate.WithSeparators(seps))
		if err != nil {
			if !errors.Is(err, attenuate.ErrInvalidCaveat) {
				t.Fatalf("New error %v is not ErrInvalidCaveat", err)
			}
			return
		}
		switch kind % 10 {
		case 0:
			b.Tools(s1, s2)
		case 1:
			b.ResourcePrefix(s1)
		case 2:
			b.ArgMax(s1, s2, n)
		case 3:
			b.ArgOneOf(s1, s2, n, n+1)
		case 4:
			b.ArgOneOf(s1, "to", s2)
		case 5:
			b.Resource(s1)
		case 6:
			b.TTL(time.Duration(n))
		case 7:
			b.ExpiresAt(time.Unix(n, 0))
		case 8:
			b.DelegatedTo(s1)
		case 9:
			b.Services(s1).Operations(s2)
		}
		tok, err := b.Build()
		if err != nil {
			if !errors.Is(err, attenuate.ErrInvalidCaveat) && !errors.Is(err, attenuate.ErrEmptyBlock) {
				t.Fatalf("error %v is not ErrInvalidCaveat", err)
			}
			return
		}
		fuzzNarrows(t, v, orig, tok)
	})
}
