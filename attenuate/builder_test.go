package attenuate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
)

// Each caveat appends exactly the Datalog the package documentation shows.
func TestCaveatDatalog(t *testing.T) {
	a := newAuthority(t)
	tok := a.mint(t)
	tests := []struct {
		name  string
		opts  []attenuate.Option
		add   func(*attenuate.Builder)
		want  []string
		facts []string
	}{
		{
			name: "tools",
			add:  func(b *attenuate.Builder) { b.Tools("get_account", "list_invoices") },
			want: []string{`check if tool($t), ["get_account", "list_invoices"].contains($t)`},
		},
		{
			name: "tools deduplicated",
			add:  func(b *attenuate.Builder) { b.Tools("get_account", "get_account") },
			want: []string{`check if tool($t), ["get_account"].contains($t)`},
		},
		{
			name: "operations",
			add:  func(b *attenuate.Builder) { b.Operations("read") },
			want: []string{`check if operation($o), ["read"].contains($o)`},
		},
		{
			name: "services",
			add:  func(b *attenuate.Builder) { b.Services("crm", "billing") },
			want: []string{`check if service($s), ["billing", "crm"].contains($s)`},
		},
		{
			name: "exact resource",
			add:  func(b *attenuate.Builder) { b.Resource("account:acme/42") },
			want: []string{`check if resource($r), $r == "account:acme/42"`},
		},
		{
			name: "segment-aware prefix",
			add:  func(b *attenuate.Builder) { b.ResourcePrefix("account:acme/42") },
			want: []string{`check if resource($r), $r == "account:acme/42" || $r.starts_with("account:acme/42/")`},
		},
		{
			name: "prefix ending at a separator",
			add:  func(b *attenuate.Builder) { b.ResourcePrefix("account:acme/42/") },
			want: []string{`check if resource($r), $r.starts_with("account:acme/42/")`},
		},
		{
			name: "prefix with two separators",
			opts: []attenuate.Option{attenuate.WithSeparators("/:")},
			add:  func(b *attenuate.Builder) { b.ResourcePrefix("account:acme") },
			want: []string{`check if resource($r), $r == "account:acme" || $r.starts_with("account:acme/") || $r.starts_with("account:acme:")`},
		},
		{
			name: "prefix ending at the second separator",
			opts: []attenuate.Option{attenuate.WithSeparators("/:")},
			add:  func(b *attenuate.Builder) { b.ResourcePrefix("account:") },
			want: []string{`check if resource($r), $r.starts_with("account:")`},
		},
		{
			name: "arg max",
			add:  func(b *attenuate.Builder) { b.ArgMax("refund", "amount", 500) },
			want: []string{`check if tool($t), !($t == "refund") or tool("refund"), arg("amount", $a), $a <= 500`},
		},
		{
			name: "arg min",
			add:  func(b *attenuate.Builder) { b.ArgMin("refund", "amount", -3) },
			want: []string{`check if tool($t), !($t == "refund") or tool("refund"), arg("amount", $a), $a >= -3`},
		},
		{
			name: "arg one of strings",
			add: func(b *attenuate.Builder) {
				b.ArgOneOf("send_email", "to", "bob@acme.test", "carol@acme.test", "bob@acme.test")
			},
			want: []string{`check if tool($t), !($t == "send_email") or tool("send_email"), arg("to", $v), ["bob@acme.test", "carol@acme.test"].contains($v)`},
		},
		{
			name: "arg one of integers of mixed Go types",
			add: func(b *attenuate.Builder) {
				b.ArgOneOf("page", "size", 10, int64(20), uint8(50), float64(10), json.Number("100"))
			},
			want: []string{`check if tool($t), !($t == "page") or tool("page"), arg("size", $v), [10, 100, 20, 50].contains($v)`},
		},
		{
			name: "arg one of booleans, bytes and dates",
			add: func(b *attenuate.Builder) {
				b.ArgOneOf("t", "dry_run", true).ArgOneOf("t", "blob", []byte{0xca, 0xfe}).
					ArgOneOf("t", "day", t0.Add(1500*time.Millisecond))
			},
			want: []string{
				`check if tool($t), !($t == "t") or tool("t"), arg("dry_run", $v), [true].contains($v)`,
				`check if tool($t), !($t == "t") or tool("t"), arg("blob", $v), [hex:cafe].contains($v)`,
				`check if tool($t), !($t == "t") or tool("t"), arg("day", $v), [2026-11-22T10:00:01Z].contains($v)`,
			},
		},
		{
			name: "expires at, rounded down",
			add:  func(b *attenuate.Builder) { b.ExpiresAt(t0.Add(5*time.Minute + 999*time.Millisecond)) },
			want: []string{`check if time($time), $time <= 2026-11-22T10:05:00Z`},
		},
		{
			name: "expires at in another zone",
			add: func(b *attenuate.Builder) {
				b.ExpiresAt(t0.Add(5 * time.Minute).In(time.FixedZone("CET", 3600)))
			},
			want: []string{`check if time($time), $time <= 2026-11-22T10:05:00Z`},
		},
		{
			name: "ttl from the injected clock",
			add:  func(b *attenuate.Builder) { b.TTL(90 * time.Second) },
			want: []string{`check if time($time), $time <= 2026-11-22T10:01:30Z`},
		},
		{
			name:  "delegated to",
			add:   func(b *attenuate.Builder) { b.DelegatedTo("billing-helper").DelegatedTo("billing-helper") },
			facts: []string{`delegated_to("billing-helper")`},
		},
		{
			name: "raw check",
			add: func(b *attenuate.Builder) {
				b.Check("  check   if operation($o), !($o == \"write\")\n or resource($r), $r.starts_with(\"drafts/\");  ")
			},
			want: []string{`check if operation($o), !($o == "write") or resource($r), $r.starts_with("drafts/")`},
		},
		{
			name: "raw check true",
			add:  func(b *attenuate.Builder) { b.Check("check if true") },
			want: []string{`check if true`},
		},
		{
			name: "contradicting caveats are kept",
			add:  func(b *attenuate.Builder) { b.Tools("a", "b").Tools("c") },
			want: []string{`check if tool($t), ["a", "b"].contains($t)`, `check if tool($t), ["c"].contains($t)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := attenuate.New(tok, append([]attenuate.Option{attenuate.WithClock(clockAt(t0))}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			tt.add(b)
			out, err := b.Build()
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			checks, facts := lastBlock(t, out)
			if !slices.Equal(checks, tt.want) {
				t.Errorf("checks:\n got %q\nwant %q", checks, tt.want)
			}
			if !slices.Equal(facts, tt.facts) {
				t.Errorf("facts:\n got %q\nwant %q", facts, tt.facts)
			}
		})
	}
}

// Every invalid input is refused by the method that receives it, with an
// error that matches the documented sentinels, and Build returns it.
func TestBuilderRefusesInvalidCaveats(t *testing.T) {
	a := newAuthority(t)
	tok := a.mint(t)
	long := strings.Repeat("x", token.MaxStringBytes+1)
	many := func(n int, f string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf(f, i)
		}
		return out
	}
	manyAny := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	invalid := []error{attenuate.ErrInvalidCaveat}
	over := []error{attenuate.ErrInvalidCaveat, attenuate.ErrOverLimit}
	tests := []struct {
		name    string
		add     func(*attenuate.Builder)
		wantErr []error
		wantMsg string
	}{
		{"tools empty list", func(b *attenuate.Builder) { b.Tools() }, invalid, "at least one tool"},
		{"tools empty name", func(b *attenuate.Builder) { b.Tools("get_account", "") }, invalid, "tool name 2 is empty"},
		{"tools blank name", func(b *attenuate.Builder) { b.Tools(" \t") }, invalid, "empty"},
		{"tools control character", func(b *attenuate.Builder) { b.Tools("get\naccount") }, invalid, "control characters"},
		{"tools escape sequence", func(b *attenuate.Builder) { b.Tools("get\x1b[2Jaccount") }, invalid, "control characters"},
		{"tools not UTF-8", func(b *attenuate.Builder) { b.Tools("get\xffaccount") }, invalid, "UTF-8"},
		{"tools wildcard", func(b *attenuate.Builder) { b.Tools("*") }, invalid, "not a wildcard"},
		{"tools too long", func(b *attenuate.Builder) { b.Tools(long) }, over, "byte limit"},
		{"tools too many", func(b *attenuate.Builder) { b.Tools(many(token.MaxSetSize+1, "t%d")...) }, over, "elements in a set"},
		{"operations empty list", func(b *attenuate.Builder) { b.Operations() }, invalid, "at least one operation"},
		{"operations wildcard", func(b *attenuate.Builder) { b.Operations("*") }, invalid, "not a wildcard"},
		{"services empty name", func(b *attenuate.Builder) { b.Services("") }, invalid, "empty"},
		{"resource empty", func(b *attenuate.Builder) { b.Resource("") }, invalid, "empty"},
		{"resource control character", func(b *attenuate.Builder) { b.Resource("a\rb") }, invalid, "control"},
		{"resource too long", func(b *attenuate.Builder) { b.Resource(long) }, over, "byte limit"},
		{"prefix empty", func(b *attenuate.Builder) { b.ResourcePrefix("") }, invalid, "empty"},
		{"prefix plus separator too long", func(b *attenuate.Builder) { b.ResourcePrefix(long[1:]) }, over, "separator"},
		{"arg max empty tool", func(b *attenuate.Builder) { b.ArgMax("", "amount", 1) }, invalid, "tool name is empty"},
		{"arg max empty arg", func(b *attenuate.Builder) { b.ArgMax("refund", "", 1) }, invalid, "argument name is empty"},
		{"arg max wildcard tool", func(b *attenuate.Builder) { b.ArgMax("*", "amount", 1) }, invalid, "not a wildcard"},
		{"arg min control character", func(b *attenuate.Builder) { b.ArgMin("refund", "amo\x00unt", 1) }, invalid, "control"},
		{"arg one of no values", func(b *attenuate.Builder) { b.ArgOneOf("send", "to") }, invalid, "at least one allowed value"},
		{"arg one of mixed types", func(b *attenuate.Builder) { b.ArgOneOf("send", "to", "a", 1) }, invalid, "one type"},
		{"arg one of nil", func(b *attenuate.Builder) { b.ArgOneOf("send", "to", nil) }, invalid, "nil"},
		{"arg one of fraction", func(b *attenuate.Builder) { b.ArgOneOf("pay", "amount", 1.5) }, invalid, "not an integer"},
		{"arg one of json fraction", func(b *attenuate.Builder) { b.ArgOneOf("pay", "amount", json.Number("1.5")) }, invalid, "not an integer"},
		{"arg one of NaN", func(b *attenuate.Builder) { b.ArgOneOf("pay", "amount", math.NaN()) }, invalid, "not an integer"},
		{"arg one of uint64 overflow", func(b *attenuate.Builder) { b.ArgOneOf("pay", "amount", uint64(math.MaxUint64)) }, invalid, "out of range"},
		{"arg one of a slice", func(b *attenuate.Builder) { b.ArgOneOf("send", "to", []string{"a", "b"}) }, invalid, "unsupported type"},
		{"arg one of control character", func(b *attenuate.Builder) { b.ArgOneOf("send", "to", "a\nb") }, invalid, "control"},
		{"arg one of long string", func(b *attenuate.Builder) { b.ArgOneOf("send", "to", long) }, over, "byte limit"},
		{"arg one of long bytes", func(b *attenuate.Builder) { b.ArgOneOf("send", "to", []byte(long)) }, over, "byte limit"},
		{"arg one of date before 1970", func(b *attenuate.Builder) { b.ArgOneOf("t", "day", time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)) }, invalid, "1970"},
		{"arg one of too many", func(b *attenuate.Builder) { b.ArgOneOf("page", "size", manyAny(token.MaxSetSize+1)...) }, over, "elements in a set"},
		{"expires at zero", func(b *attenuate.Builder) { b.ExpiresAt(time.Time{}) }, invalid, "zero time"},
		{"expires at in the past", func(b *attenuate.Builder) { b.ExpiresAt(t0.Add(-time.Second)) }, invalid, "in the past"},
		{"expires at after 9999", func(b *attenuate.Builder) { b.ExpiresAt(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)) }, invalid, "9999"},
		{"ttl zero", func(b *attenuate.Builder) { b.TTL(0) }, invalid, "positive"},
		{"ttl negative", func(b *attenuate.Builder) { b.TTL(-time.Minute) }, invalid, "positive"},
		{"delegated to empty", func(b *attenuate.Builder) { b.DelegatedTo("") }, invalid, "empty"},
		{"delegated to control character", func(b *attenuate.Builder) { b.DelegatedTo("helper\u0085") }, invalid, "control"},
		{"too many checks", func(b *attenuate.Builder) {
			for i := 0; i <= token.MaxChecksPerBlock; i++ {
				b.Tools("get_account")
			}
		}, over, "at most 64 checks"},
		{"too many facts", func(b *attenuate.Builder) {
			for _, n := range many(token.MaxFactsPerBlock+1, "helper-%d") {
				b.DelegatedTo(n)
			}
		}, over, "at most 64 facts"},
		{"too many raw checks", func(b *attenuate.Builder) {
			for i := 0; i < token.MaxChecksPerBlock; i++ {
				b.Tools("get_account")
			}
			b.Check("check if true")
		}, over, "at most 64 checks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := attenuate.New(tok, attenuate.WithClock(clockAt(t0)))
			if err != nil {
				t.Fatal(err)
			}
			tt.add(b)
			err = b.Err()
			if err == nil {
				t.Fatal("Err() = nil, want an error")
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("errors.Is(%v, %v) = false", err, want)
				}
			}
			if !errors.Is(err, attenuate.ErrOverLimit) && slices.Contains(tt.wantErr, attenuate.ErrOverLimit) {
				t.Errorf("error is not ErrOverLimit")
			}
			if errors.Is(err, attenuate.ErrOverLimit) && !slices.Contains(tt.wantErr, attenuate.ErrOverLimit) {
				t.Errorf("error %v is ErrOverLimit, want only %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
			if strings.ContainsAny(err.Error(), "\n\r\x1b\x00") {
				t.Errorf("error %q echoes control characters", err)
			}
			out, berr := b.Build()
			if out != "" || berr != err {
				t.Errorf("Build() = %q, %v; want \"\", the recorded error", out, berr)
			}
		})
	}
}

// Raw checks: only one Biscuit v3 "check if" is accepted, and the error
// says why anything else is not.
func TestCheckRefusesNonV3Datalog(t *testing.T) {
	a := newAuthority(t)
	tok := a.mint(t)
	bigSet := `check if tool($t), [` + strings.Join(func() []string {
		s := make([]string, token.MaxSetSize+1)
		for i := range s {
			s[i] = fmt.Sprintf(`"t%d"`, i)
		}
		return s
	}(), ", ") + `].contains($t)`
	invalid := []error{attenuate.ErrInvalidCaveat}
	tests := []struct {
		name    string
		text    string
		wantErr []error
		wantMsg string
	}{
		{"empty", "  ", invalid, "empty"},
		{"allow policy", `allow if true`, invalid, "policies belong to the verifier"},
		{"deny policy (panics in biscuit-go's parser)", `deny if true`, invalid, "policies belong to the verifier"},
		{"check all", `check all tool($t), $t == "a"`, invalid, "Datalog 3.1"},
		{"reject if", `reject if tool("refund")`, invalid, "Datalog 3.1"},
		{"a fact", `right("crm", "*", "*", "")`, invalid, "only `check if"},
		{"a rule", `right("crm", "*", "*", "") <- tool($t)`, invalid, "only `check if"},
		{"not equal", `check if tool($t), $t != "refund"`, invalid, "no != operator"},
		{"strict equality", `check if tool($t), $t === "refund"`, invalid, "Datalog 3.3"},
		{"rust set", `check if tool($t), {"a", "b"}.contains($t)`, invalid, `not {"a", "b"}`},
		{"two checks", `check if true; check if false`, invalid, "unexpected"},
		{"parameter", `check if resource({res})`, invalid, "unbound parameter"},
		{"garbage", `check if (((`, invalid, "unexpected"},
		{"unbound variable", `check if tool($t), $x == 1`, invalid, "not bound"},
		{"unbound variable in a second query", `check if tool($t), $t == "a" or $t == "b"`, invalid, "not bound"},
		{"mixed set", `check if tool($t), ["a", 1].contains($t)`, invalid, "same type"},
		{"set over the limit", bigSet, []error{attenuate.ErrInvalidCaveat, attenuate.ErrOverLimit, token.ErrTooLarge}, "elements in a set"},
		{"join over the limit", `check if tool($a), operation($b), service($c), resource($d), arg($e, $f)`, []error{attenuate.ErrInvalidCaveat, attenuate.ErrOverLimit, token.ErrTooLarge}, "predicates in a rule body"},
		{"escaped control character", `check if tool("get\u001baccount")`, invalid, "control"},
		{"raw control character", "check if tool(\"get\x1baccount\")", invalid, "control"},
		{"not UTF-8", "check if tool(\"\xff\")", invalid, "UTF-8"},
		{"regex Go cannot compile", `check if resource($r), $r.matches("a{1001}")`, invalid, "does not compile"},
		{"regex over the budget", `check if resource($r), $r.matches("\\w\\w\\w")`, []error{attenuate.ErrInvalidCaveat, attenuate.ErrOverLimit}, "evaluation steps"},
		{"regex Go and Rust read differently", `check if resource($r), $r.matches("\\bx")`, []error{attenuate.ErrInvalidCaveat, token.ErrUnsupported}, `\b`},
		{"text over the token size", "check if true" + strings.Repeat(" ", token.MaxTokenBytes), []error{attenuate.ErrInvalidCaveat, attenuate.ErrOverLimit}, "token limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := attenuate.New(tok)
			if err != nil {
				t.Fatal(err)
			}
			err = b.Check(tt.text).Err()
			if err == nil {
				t.Fatal("Check accepted the text")
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("errors.Is(%v, %v) = false", err, want)
				}
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

// Limits that only the whole block can exceed (symbols, token bytes) are
// caught by Build, which reads the result back as a verifier would.
func TestBuildRefusesWhatTheVerifierWouldReject(t *testing.T) {
	a := newAuthority(t)
	tok := a.mint(t)
	tests := []struct {
		name    string
		add     func(*attenuate.Builder)
		wantMsg string
	}{
		{"token bytes", func(b *attenuate.Builder) {
			for i := 0; i < 20; i++ {
				vals := make([]any, 8)
				for j := range vals {
					vals[j] = fmt.Sprintf("%03d-%03d-%s", i, j, strings.Repeat("v", 100))
				}
				b.ArgOneOf("send", "to", vals...)
			}
		}, "token limit"},
		{"symbols", func(b *attenuate.Builder) {
			for i := 0; i < 9; i++ {
				names := make([]string, token.MaxSetSize)
				for j := range names {
					names[j] = fmt.Sprintf("tool-%d-%d", i, j)
				}
				b.Tools(names...)
			}
		}, "symbols"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := attenuate.New(tok)
			if err != nil {
				t.Fatal(err)
			}
			tt.add(b)
			if err := b.Err(); err != nil {
				t.Fatalf("a caveat was refused before Build: %v", err)
			}
			out, err := b.Build()
			if out != "" || err == nil {
				t.Fatalf("Build() = %d chars, %v; want an error", len(out), err)
			}
			for _, want := range []error{attenuate.ErrInvalidCaveat, attenuate.ErrOverLimit, token.ErrTooLarge} {
				if !errors.Is(err, want) {
					t.Errorf("errors.Is(%v, %v) = false", err, want)
				}
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

// After the first error every call is a no-op and the first error stays.
func TestFirstErrorWins(t *testing.T) {
	a := newAuthority(t)
	b, err := attenuate.New(a.mint(t))
	if err != nil {
		t.Fatal(err)
	}
	first := b.Tools().Err()
	if first == nil {
		t.Fatal("Tools() accepted an empty list")
	}
	b.Resource("").TTL(-1).Operations("read").Check("check if true")
	if b.Err() != first {
		t.Errorf("Err() = %v, want the first error %v", b.Err(), first)
	}
	if _, err := b.Build(); err != first {
		t.Errorf("Build error = %v, want %v", err, first)
	}
}

func TestBuildEmptyBlock(t *testing.T) {
	a := newAuthority(t)
	b, err := attenuate.New(a.mint(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Build(); !errors.Is(err, attenuate.ErrEmptyBlock) {
		t.Fatalf("Build of an empty block: %v, want ErrEmptyBlock", err)
	}
	if _, err := b.Seal().BuildBytes(); !errors.Is(err, attenuate.ErrEmptyBlock) {
		t.Fatalf("BuildBytes of an empty sealed block: %v, want ErrEmptyBlock", err)
	}
	// A block with only an annotation is allowed.
	b, _ = attenuate.New(a.mint(t))
	if _, err := b.DelegatedTo("helper").Build(); err != nil {
		t.Fatalf("Build with only delegated_to: %v", err)
	}
}

// Tokens the builder cannot start from.
func TestNewRefusesTokens(t *testing.T) {
	a := newAuthority(t)
	tok := a.mint(t)
	raw, err := token.Decode(tok)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := attenuate.Seal(tok)
	if err != nil {
		t.Fatal(err)
	}
	full := tok
	for i := 1; i < token.MaxBlocks; i++ {
		full = build(t, full, func(b *attenuate.Builder) { b.Tools("get_account") })
	}
	tests := []struct {
		name    string
		tok     string
		opts    []attenuate.Option
		wantErr error
	}{
		{"empty", "", nil, token.ErrMalformed},
		{"not base64", "not a token!", nil, token.ErrMalformed},
		{"base64 of garbage", token.Encode([]byte("hello, biscuit")), nil, token.ErrMalformed},
		{"truncated", token.Encode(raw[:len(raw)/2]), nil, token.ErrInvalid},
		{"oversized", strings.Repeat("A", token.MaxEncodedBytes+1), nil, token.ErrTooLarge},
		{"newer container field", token.Encode(append(bytes.Clone(raw), 0x48, 0x01)), nil, token.ErrUnsupported},
		{"sealed", sealed, nil, token.ErrSealed},
		{"full", full, nil, attenuate.ErrOverLimit},
		{"no separators", tok, []attenuate.Option{attenuate.WithSeparators("")}, attenuate.ErrInvalidCaveat},
		{"letter separator", tok, []attenuate.Option{attenuate.WithSeparators("/a")}, attenuate.ErrInvalidCaveat},
		{"repeated separator", tok, []attenuate.Option{attenuate.WithSeparators("//")}, attenuate.ErrInvalidCaveat},
		{"non-ASCII separator", tok, []attenuate.Option{attenuate.WithSeparators("·")}, attenuate.ErrInvalidCaveat},
		{"too many separators", tok, []attenuate.Option{attenuate.WithSeparators("/:.-_+=|~")}, attenuate.ErrInvalidCaveat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := attenuate.New(tt.tok, tt.opts...)
			if b != nil || !errors.Is(err, tt.wantErr) {
				t.Fatalf("New() = %v, %v; want nil, %v", b, err, tt.wantErr)
			}
		})
	}
	if _, err := attenuate.NewFromBytes(nil); !errors.Is(err, token.ErrMalformed) {
		t.Errorf("NewFromBytes(nil): %v, want token.ErrMalformed", err)
	}
	// The full token itself still verifies: the builder refused to add a
	// 17th block, not a bad token.
	if d := a.authorize(t, full, getAccount42); !d.Allowed {
		t.Errorf("16-block token denied: %s", d.Reason)
	}
}

// The input is never modified, with or without sealing.
func TestInputUnchanged(t *testing.T) {
	a := newAuthority(t)
	raw, err := token.Decode(a.mint(t))
	if err != nil {
		t.Fatal(err)
	}
	orig := bytes.Clone(raw)
	b, err := attenuate.NewFromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	out, err := b.Tools("get_account").Seal().BuildBytes()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attenuate.SealBytes(raw); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, orig) {
		t.Fatal("the input token was modified")
	}
	if bytes.HasPrefix(out, raw) || bytes.Equal(out, raw) {
		t.Fatal("the output is not a new token")
	}
}

// The root key ID hint that biscuit-go drops on Append and Seal is restored,
// and a token without one stays without one.
func TestRootKeyIDHintKept(t *testing.T) {
	a := newAuthority(t)
	tok := a.mint(t)
	if id, ok := hintOf(t, tok); !ok || id != a.key.ID {
		t.Fatalf("minted token hint = %d, %v; want %d", id, ok, a.key.ID)
	}
	attenuated := build(t, tok, func(b *attenuate.Builder) { b.Tools("get_account") })
	sealedByBuilder := build(t, tok, func(b *attenuate.Builder) { b.Tools("get_account").Seal() })
	sealed, err := attenuate.Seal(attenuated)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"attenuated": attenuated, "sealed by the builder": sealedByBuilder, "sealed": sealed} {
		if id, ok := hintOf(t, tok); !ok || id != a.key.ID {
			t.Errorf("%s: hint = %d, %v; want %d", name, id, ok, a.key.ID)
		}
		if d := a.authorize(t, tok, getAccount42); !d.Allowed {
			t.Errorf("%s: denied: %s", name, d.Reason)
		}
	}
	// biscuit-go itself drops the hint; attenuating such a token keeps it
	// absent, and the verifier falls back to trying each key.
	noHint := appendRaw(t, tok, `delegated_to("raw")`)
	if _, ok := hintOf(t, noHint); ok {
		t.Fatal("biscuit-go kept the hint; update this test")
	}
	out := build(t, noHint, func(b *attenuate.Builder) { b.Tools("get_account") })
	if _, ok := hintOf(t, out); ok {
		t.Error("a hint appeared from nowhere")
	}
	if d := a.authorize(t, out, getAccount42); !d.Allowed {
		t.Errorf("token without hint denied: %s", d.Reason)
	}
}

// A builder can Build more than once; each result is a distinct token with
// its own revocation ID for the new block, and the parent's IDs as prefix.
func TestBuildTwice(t *testing.T) {
	a := newAuthority(t)
	tok := a.mint(t)
	b, err := attenuate.New(tok)
	if err != nil {
		t.Fatal(err)
	}
	b.Tools("get_account")
	one, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	two, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if one == two {
		t.Fatal("two builds produced the same token")
	}
	parent := revocationIDs(t, tok)
	id1, id2 := revocationIDs(t, one), revocationIDs(t, two)
	if len(id1) != 2 || !bytes.Equal(id1[0], parent[0]) || !bytes.Equal(id2[0], parent[0]) || bytes.Equal(id1[1], id2[1]) {
		t.Fatalf("revocation IDs: parent %x, one %x, two %x", parent, id1, id2)
	}
}

func revocationIDs(t testing.TB, tok string) [][]byte {
	t.Helper()
	u, err := token.ParseString(tok)
	if err != nil {
		t.Fatal(err)
	}
	return u.RevocationIDs()
}

func TestSeal(t *testing.T) {
	a := newAuthority(t)
	tok := build(t, a.mint(t), func(b *attenuate.Builder) { b.Tools("get_account") })
	sealed, err := attenuate.Seal(tok)
	if err != nil {
		t.Fatal(err)
	}
	u, err := token.ParseString(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Sealed() || u.BlockCount() != 2 {
		t.Fatalf("sealed = %v, blocks = %d; want true, 2", u.Sealed(), u.BlockCount())
	}
	if d := a.authorize(t, sealed, getAccount42); !d.Allowed {
		t.Fatalf("sealed token denied: %s", d.Reason)
	}
	if d := a.authorize(t, sealed, refund(1)); d.Allowed {
		t.Fatal("sealing widened the token")
	}
	if _, err := attenuate.Seal(sealed); !errors.Is(err, token.ErrSealed) {
		t.Errorf("Seal(sealed): %v, want token.ErrSealed", err)
	}
	if _, err := attenuate.New(sealed); !errors.Is(err, token.ErrSealed) {
		t.Errorf("New(sealed): %v, want token.ErrSealed", err)
	}
	if _, err := attenuate.Seal("garbage!"); !errors.Is(err, token.ErrMalformed) {
		t.Errorf("Seal(garbage): %v, want token.ErrMalformed", err)
	}
	if _, err := attenuate.SealBytes([]byte{0x0a, 0x02, 0x08}); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("SealBytes(truncated): %v, want token.ErrInvalid", err)
	}
	// The builder's Seal appends and seals in one step.
	bs := build(t, tok, func(b *attenuate.Builder) { b.Operations("read").Seal() })
	if _, err := attenuate.New(bs); !errors.Is(err, token.ErrSealed) {
		t.Errorf("New(sealed by builder): %v, want token.ErrSealed", err)
	}
	if d := a.authorize(t, bs, getAccount42); !d.Allowed || d.Blocks != 3 {
		t.Errorf("builder-sealed token: allowed %v, blocks %d (%s)", d.Allowed, d.Blocks, d.Reason)
	}
}

// Builders on different goroutines share nothing but biscuit-go's parser,
// which is guarded; run with -race.
func TestConcurrentBuilders(t *testing.T) {
	a := newAuthority(t)
	tok := a.mint(t)
	v := a.verifier(t, t0)
	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			b, err := attenuate.New(tok)
			if err != nil {
				errs <- err
				return
			}
			out, err := b.Check(fmt.Sprintf(`check if tool($t), ["get_account", "t%d"].contains($t)`, i)).Tools("get_account").Build()
			if err == nil {
				if d := v.Authorize(context.Background(), out, getAccount42); !d.Allowed {
					err = errors.New(d.Reason)
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
