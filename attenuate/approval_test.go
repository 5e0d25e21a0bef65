package attenuate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

func TestRequireApprovalWrites(t *testing.T) {
	a := newAuthority(t)
	for _, tc := range []struct {
		name string
		add  func(*attenuate.Builder)
		want string
	}{
		{"every call", func(b *attenuate.Builder) { b.RequireApproval("refund") },
			`check if tool($t), !($t == "refund") or approved($p, $o)`},
		{"above a threshold", func(b *attenuate.Builder) { b.RequireApproval("refund", attenuate.Above("amount", 100)) },
			`check if tool($t), !($t == "refund") or arg("amount", $a), $a <= 100 or approved($p, $o)`},
		{"named approvers", func(b *attenuate.Builder) {
			b.RequireApproval("refund", attenuate.ApprovedBy("dave@acme.test", "alice@acme.test", "dave@acme.test"))
		}, `check if tool($t), !($t == "refund") or approved($p, $o), ["alice@acme.test", "dave@acme.test"].contains($p)`},
		{"org approvers", func(b *attenuate.Builder) { b.RequireApproval("refund", attenuate.ApprovedByOrg()) },
			`check if tool($t), !($t == "refund") or approved($p, $o), org($o)`},
		{"in one service", func(b *attenuate.Builder) { b.RequireApproval("refund", attenuate.InService("billing")) },
			`check if service($s), !($s == "billing") or tool($t), !($t == "refund") or approved($p, $o)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checks, _ := lastBlock(t, build(t, a.mint(t), tc.add))
			if len(checks) != 1 || checks[0] != tc.want {
				t.Fatalf("checks %q,\nwant %q", checks, tc.want)
			}
		})
	}
}

func TestRequireApprovalRefuses(t *testing.T) {
	a := newAuthority(t)
	tok := a.mint(t)
	many := make([]string, token.MaxApproversPerCaveat+1)
	for i := range many {
		many[i] = "p" + strings.Repeat("x", i)
	}
	for _, tc := range []struct {
		name string
		add  func(*attenuate.Builder)
	}{
		{"empty tool", func(b *attenuate.Builder) { b.RequireApproval("") }},
		{"wildcard tool", func(b *attenuate.Builder) { b.RequireApproval("*") }},
		{"tool with a bidi override", func(b *attenuate.Builder) { b.RequireApproval("re\u202efund") }},
		{"empty approver", func(b *attenuate.Builder) { b.RequireApproval("refund", attenuate.ApprovedBy("")) }},
		{"too many approvers", func(b *attenuate.Builder) { b.RequireApproval("refund", attenuate.ApprovedBy(many...)) }},
		{"threshold without argument", func(b *attenuate.Builder) { b.RequireApproval("refund", attenuate.Above("", 5)) }},
		{"wildcard service", func(b *attenuate.Builder) { b.RequireApproval("refund", attenuate.InService("*")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := attenuate.New(tok)
			if err != nil {
				t.Fatal(err)
			}
			tc.add(b)
			if _, err := b.Build(); !errors.Is(err, attenuate.ErrInvalidCaveat) {
				t.Fatalf("Build: %v, want ErrInvalidCaveat", err)
			}
		})
	}
}

// TestRequireApprovalNarrows: the caveat only ever narrows (it lets other
// calls through unchanged and stops the named ones), in mandate's verifier.
func TestRequireApprovalNarrows(t *testing.T) {
	a := newAuthority(t)
	tok := build(t, a.mint(t), func(b *attenuate.Builder) { b.RequireApproval("refund", attenuate.Above("amount", 100)) })
	for _, tc := range []struct {
		name string
		req  verifier.Request
		want error
	}{
		{"another tool", getAccount42, nil},
		{"under the threshold", refund(100), nil},
		{"above the threshold", refund(101), verifier.ErrApprovalRequired},
		{"no amount", refund(nil), verifier.ErrApprovalRequired},
		{"a string amount", refund("50"), verifier.ErrEvaluation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := a.authorize(t, tok, tc.req)
			if tc.want == nil {
				if !d.Allowed {
					t.Fatalf("denied: %s", d.Reason)
				}
				return
			}
			if d.Allowed || !errors.Is(d.Err, tc.want) {
				t.Fatalf("decision %v (%s), want %v", d.Err, d.Reason, tc.want)
			}
		})
	}
}

func TestParseApprovalRequirement(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want token.ApprovalRequirement
		ok   bool
	}{
		{"refund", token.ApprovalRequirement{Tool: "refund"}, true},
		{"refund:amount>100", token.ApprovalRequirement{Tool: "refund", Arg: "amount", Above: 100}, true},
		{"refund:amount>-5", token.ApprovalRequirement{Tool: "refund", Arg: "amount", Above: -5}, true},
		{"refund:amount", token.ApprovalRequirement{}, false},
		{"refund:amount>x", token.ApprovalRequirement{}, false},
		{"refund:>100", token.ApprovalRequirement{}, false},
		{"", token.ApprovalRequirement{}, false},
		{"*", token.ApprovalRequirement{}, false},
	} {
		got, err := token.ParseApprovalRequirement(tc.spec)
		if (err == nil) != tc.ok {
			t.Errorf("%q: error %v, want ok=%v", tc.spec, err, tc.ok)
			continue
		}
		if tc.ok && (got.Tool != tc.want.Tool || got.Arg != tc.want.Arg || got.Above != tc.want.Above) {
			t.Errorf("%q: %+v, want %+v", tc.spec, got, tc.want)
		}
	}
}
