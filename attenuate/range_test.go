package attenuate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/verifier"
)

// TestArgRange: ArgMax alone is one-sided (an amount of -1,000,000 passes
// a maximum of 500); ArgRange bounds both sides in one check.
func TestArgRange(t *testing.T) {
	a := newAuthority(t)
	tok := a.mint(t)
	refund := func(args map[string]any) verifier.Request {
		return verifier.Request{Service: "billing", Tool: "refund", Operation: "write", Resource: "account:acme/42", Args: args}
	}
	maxOnly := build(t, tok, func(b *attenuate.Builder) { b.ArgMax("refund", "amount", 500) })
	if d := a.authorize(t, maxOnly, refund(map[string]any{"amount": -1_000_000})); !d.Allowed {
		t.Fatalf("ArgMax is documented as one-sided, but denied -1,000,000: %s", d.Reason)
	}
	ranged := build(t, tok, func(b *attenuate.Builder) { b.ArgRange("refund", "amount", 0, 500) })
	if checks, _ := lastBlock(t, ranged); len(checks) != 1 || !strings.Contains(checks[0], `arg("amount", $a), $a >= 0 && $a <= 500`) {
		t.Errorf("ArgRange wrote %q", checks)
	}
	tests := []struct {
		name  string
		req   verifier.Request
		allow bool
	}{
		{"far below", refund(map[string]any{"amount": -1_000_000}), false},
		{"just below", refund(map[string]any{"amount": -1}), false},
		{"min", refund(map[string]any{"amount": 0}), true},
		{"inside", refund(map[string]any{"amount": 250}), true},
		{"max", refund(map[string]any{"amount": 500}), true},
		{"just above", refund(map[string]any{"amount": 501}), false},
		{"missing", refund(nil), false},
		{"not an integer", refund(map[string]any{"amount": "100"}), false},
		{"other tool", verifier.Request{Service: "billing", Tool: "list_invoices", Operation: "read", Resource: "account:acme/42"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := a.authorize(t, ranged, tt.req); d.Allowed != tt.allow {
				t.Errorf("allowed = %v, want %v (%s)", d.Allowed, tt.allow, d.Reason)
			}
		})
	}

	b, err := attenuate.New(tok, attenuate.WithClock(clockAt(t0)))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ArgRange("refund", "amount", 10, 5).Err(); !errors.Is(err, attenuate.ErrInvalidCaveat) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("ArgRange(10, 5) = %v, want ErrInvalidCaveat saying the range is empty", err)
	}
}
