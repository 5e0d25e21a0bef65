package datalog

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/biscuit-auth/biscuit-go/v2"
	"github.com/biscuit-auth/biscuit-go/v2/parser"
	"github.com/biscuit-auth/biscuit-go/v2/pb"
	"google.golang.org/protobuf/proto"
)

// testLimits mirrors token/limits.go (which imports this package).
var testLimits = Limits{
	MaxSymbols: 512, MaxStringBytes: 1024, MaxFacts: 64, MaxRules: 16, MaxChecks: 64,
	MaxQueries: 8, MaxBodyPredicates: 4, MaxExpressions: 8, MaxOps: 64, MaxTerms: 8,
	MaxSetSize: 64, MaxVariables: 16, MaxContextBytes: 256,
}

var testRoot = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

// authorityBytes builds an authority block with biscuit-go from Datalog
// text and returns its serialized pb.Block.
func authorityBytes(t testing.TB, facts, rules, checks []string) []byte {
	t.Helper()
	b := biscuit.NewBuilder(testRoot)
	for _, s := range facts {
		f, err := parser.FromStringFact(s)
		if err != nil {
			t.Fatalf("parse fact %q: %v", s, err)
		}
		if err := b.AddAuthorityFact(f); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range rules {
		r, err := parser.FromStringRule(s)
		if err != nil {
			t.Fatalf("parse rule %q: %v", s, err)
		}
		if err := b.AddAuthorityRule(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range checks {
		c, err := parser.FromStringCheck(s)
		if err != nil {
			t.Fatalf("parse check %q: %v", s, err)
		}
		if err := b.AddAuthorityCheck(c); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tok.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	c := new(pb.Biscuit)
	if err := proto.Unmarshal(raw, c); err != nil {
		t.Fatal(err)
	}
	return c.Authority.Block
}

func decodeText(t testing.TB, facts, rules, checks []string) *Block {
	t.Helper()
	var syms SymbolTable
	b, err := DecodeBytes(authorityBytes(t, facts, rules, checks), &syms, &testLimits)
	if err != nil {
		t.Fatalf("DecodeBytes: %v", err)
	}
	return b
}

// Datalog written with biscuit-go, decoded by this package and printed with
// String reads the same, and parses back to the same terms.
func TestStringRoundTrip(t *testing.T) {
	tests := []struct {
		kind string // fact, rule or check
		text string
	}{
		{"fact", `right("crm", "get_account", "read", "account:acme/42")`},
		{"fact", `arg("limit", 1)`},
		{"fact", `f(true, false, hex:00ff, 2026-11-22T10:00:00Z)`},
		{"fact", `to(["a@x.test", "b@x.test"])`},
		{"fact", `n([1, 2, 3])`},
		{"fact", `delegated_to("sub-agent")`},
		{"rule", `allowed($t) <- tool($t), ["a", "b"].contains($t)`},
		{"rule", `pair($a, $b) <- p($a), q($b), $a < $b`},
		{"check", `check if tool($t), ["get_account", "list_invoices"].contains($t)`},
		{"check", `check if resource($r), $r.starts_with("account:acme/42")`},
		{"check", `check if resource($r), $r == "account:acme/42" || $r.starts_with("account:acme/42/")`},
		{"check", `check if tool($t), !($t == "refund") or arg("amount", $a), $a <= 500`},
		{"check", `check if time($t), $t <= 2026-11-22T10:05:00Z`},
		{"check", `check if tool("get_account")`},
		{"check", `check if x($a), $a + 1 * 2 > 3`},
		{"check", `check if x($a), ($a + 1) * 2 > 3`},
		{"check", `check if x($a), $a - 4 / 2 >= 0`},
		{"check", `check if s($s), $s.length() == 3`},
		{"check", `check if x($a), ($a > 1 || $a < 0) && true`},
		{"check", `check if u($u), $u.matches("^a.*z$")`},
		{"check", `check if u($u), $u.ends_with(".test"), $u.contains("@")`},
		{"check", `check if s($s), $s.intersection(["a"]).contains("a")`},
		{"check", `check if s($s), $s.union(["b"]).length() == 2`},
		{"check", `check if arg("to", $to), ["a@x.test", "b@x.test"].contains($to)`},
		{"check", `check if a($x), b($y), c($x, $y, $z), d($z)`},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			var facts, rules, checks []string
			switch tt.kind {
			case "fact":
				facts = []string{tt.text}
			case "rule":
				rules = []string{tt.text}
			default:
				checks = []string{tt.text}
			}
			b := decodeText(t, facts, rules, checks)
			var got string
			switch tt.kind {
			case "fact":
				got = b.Facts[0].String()
			case "rule":
				got = b.Rules[0].String()
			default:
				got = b.Checks[0].String()
			}
			if got != tt.text {
				t.Fatalf("String() = %s\nwant       %s", got, tt.text)
			}
		})
	}
}

func TestTermString(t *testing.T) {
	tests := []struct {
		term Term
		want string
	}{
		{Int(-3), "-3"},
		{String("a\nb"), `"a\nb"`},
		{Date(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)), "2026-11-22T10:00:00Z"},
		{Bytes([]byte{0xde, 0xad}), "hex:dead"},
		{Bool(true), "true"},
		{set(String("b"), String("a")), `["a", "b"]`}, // sorted: sets have no order
		{variable(3), "$3"},                           // no names: the slot
		{Term{Kind: Kind(42)}, ""},
	}
	for _, tt := range tests {
		if got := tt.term.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	if got := Kind(42).String(); got != "kind(42)" {
		t.Errorf("Kind(42).String() = %q", got)
	}
}

func TestDecodeMatchesDecodeBytes(t *testing.T) {
	raw := authorityBytes(t, []string{`agent("a")`}, nil, []string{`check if tool($t), $t == "x"`})
	pbb := new(pb.Block)
	if err := proto.Unmarshal(raw, pbb); err != nil {
		t.Fatal(err)
	}
	var s1, s2 SymbolTable
	a, err1 := Decode(pbb, &s1, &testLimits)
	b, err2 := DecodeBytes(raw, &s2, &testLimits)
	if err1 != nil || err2 != nil {
		t.Fatalf("Decode: %v, DecodeBytes: %v", err1, err2)
	}
	if a.Facts[0].String() != b.Facts[0].String() || a.Checks[0].String() != b.Checks[0].String() || s1.Len() != s2.Len() {
		t.Fatal("Decode and DecodeBytes disagree")
	}
}

func TestDecodeStrict(t *testing.T) {
	valid := authorityBytes(t, []string{`agent("a")`}, nil, nil)
	tests := []struct {
		name    string
		raw     []byte
		wantErr string
	}{
		{"version twice", append(append([]byte{}, valid...), 0x18, 0x03), "twice"},
		{"context twice", append(append([]byte{}, valid...), 0x12, 0x00, 0x12, 0x00), "twice"},
		{"version as bytes", append(append([]byte{}, valid...), 0x1a, 0x00), "wire type"},
		{"truncated", valid[:len(valid)-1], "malformed"},
		{"unknown field 9", append(append([]byte{}, valid...), 0x48, 0x01), "unknown to Biscuit v3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var syms SymbolTable
			_, err := DecodeBytes(tt.raw, &syms, &testLimits)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("DecodeBytes = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
