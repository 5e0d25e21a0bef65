package attenuate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/biscuit-auth/biscuit-go/v2"

	"github.com/mandate-dev/mandate/token"
)

// readBack refuses a block whose decoded content differs from what was
// meant in any term, not only in counts: the same number of checks on a
// different string (what an overlapping symbol table produced) is caught.
func TestReadBackComparesContent(t *testing.T) {
	k, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	m, err := token.Mint(k, token.MintRequest{
		Subject: token.Subject{Agent: "a", User: "u@x.test", Org: "x"},
		Rights:  []token.Right{{Service: "crm", Tool: "*", Operation: "*", Resource: "account:acme/"}},
		TTL:     time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(m.Token)
	if err != nil {
		t.Fatal(err)
	}
	b.Resource("account:acme/42/orders/7").DelegatedTo("sub")
	_, u, err := b.append(b.checks, b.facts, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := readBack(u, b.checks, b.facts); err != nil {
		t.Fatalf("readBack of the block as built: %v", err)
	}

	ob, _ := New(m.Token)
	ob.Resource("account:acme/43").DelegatedTo("someone-else").Tools("x")
	tests := []struct {
		name   string
		checks []biscuit.Check
		facts  []biscuit.Fact
		want   string
	}{
		{"another string in the check", ob.checks[:1], b.facts, "check 1 reads"},
		{"another string in the fact", b.checks, ob.facts, "fact 1 reads"},
		{"a check too many", append(append([]biscuit.Check{}, b.checks...), ob.checks[1]), b.facts, "holds 1 checks"},
		{"a fact too few", b.checks, nil, "holds 1 checks, 1 facts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := readBack(u, tt.checks, tt.facts)
			if !errors.Is(err, ErrInvalidCaveat) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("readBack: %v; want ErrInvalidCaveat mentioning %q", err, tt.want)
			}
		})
	}
}
