package token_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/token"
)

func TestMintRequireApproval(t *testing.T) {
	k := testKey(1)
	req := baseRequest()
	req.RequireApproval = []token.ApprovalRequirement{{Tool: "refund", Arg: "amount", Above: 100}, {Service: "crm", Tool: "delete_account", OrgApprovers: true}}
	m, err := token.Mint(k, req)
	if err != nil {
		t.Fatal(err)
	}
	u, err := token.Parse(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, c := range u.UnsafeBlocks()[0].Checks {
		texts = append(texts, c.String())
	}
	want := []string{
		`check if tool($t), !($t == "refund") or arg("amount", $a), $a <= 100 or approved($p, $o)`,
		`check if service($s), !($s == "crm") or tool($t), !($t == "delete_account") or approved($p, $o), org($o)`,
	}
	if len(texts) != 3 || texts[1] != want[0] || texts[2] != want[1] {
		t.Fatalf("authority checks %q, want the expiry then %q", texts, want)
	}

	for _, tc := range []struct {
		name string
		reqs []token.ApprovalRequirement
	}{
		{"no tool", []token.ApprovalRequirement{{}}},
		{"wildcard", []token.ApprovalRequirement{{Tool: "*"}}},
		{"control character", []token.ApprovalRequirement{{Tool: "refund", Approvers: []string{"a\nb"}}}},
		{"too many", make([]token.ApprovalRequirement, token.MaxApprovalRequirements+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := baseRequest()
			r.RequireApproval = tc.reqs
			if _, err := token.Mint(k, r); !errors.Is(err, token.ErrBadRequest) {
				t.Fatalf("got %v, want ErrBadRequest", err)
			}
		})
	}
	if s := (token.ApprovalRequirement{Tool: "refund", Arg: "amount", Above: 100, Approvers: []string{"alice"}, OrgApprovers: true}).String(); !strings.Contains(s, "refund:amount>100") {
		t.Errorf("String() = %q", s)
	}
}
