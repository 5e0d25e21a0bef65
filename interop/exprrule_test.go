package interop

import (
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/token"
)

// A rule whose body is only an expression (`p(1) <- true`) is valid
// Biscuit v3: written by Rust's parser, it verifies in mandate, and derives
// its head exactly when the expression holds.
//
// biscuit-wasm 0.6.0 itself exhausts its run limit ({"RunLimit":"Timeout"})
// on such a rule when the expression holds, and so denies; that is logged,
// not asserted, since it is a limit of that version rather than what the
// rule means. When the expression fails, both deny.
func TestExpressionOnlyRuleFromRust(t *testing.T) {
	t.Parallel()
	pub := pubHex(testKey())
	tests := []struct {
		name    string
		code    string
		allowed bool
	}{
		{"the head holds", "scoped(1) <- true;\ncheck if scoped(1);", true},
		{"the head does not hold", "never(1) <- 1 > 2;\ncheck if never(1);", false},
	}
	var ops []op
	for _, tt := range tests {
		ops = append(ops, op{Op: "append", PublicKey: pub, Token: mint(t).Token, Code: tt.code})
	}
	appended := rust(t, ops...)
	ops = ops[:0]
	for i := range tests {
		ops = append(ops, authorizeOp(t, pub, must(t, "appending", appended[i]).Token, at(5, 0), getAccount))
	}
	res := rust(t, ops...)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := appended[i].Token
			u, err := token.ParseString(tok)
			if err != nil {
				t.Fatalf("mandate cannot parse a block with an expression-only rule: %v", err)
			}
			if v := u.UnsafeBlocks()[1].Version; v != 3 {
				t.Fatalf("Rust wrote block version %d, want 3", v)
			}
			if d := authorize(t, tok, at(5, 0), getAccount); d.Allowed != tt.allowed {
				t.Errorf("mandate: allowed = %v (%s), want %v", d.Allowed, d.Reason, tt.allowed)
			}
			r := must(t, "authorizing", res[i])
			switch {
			case r.Allowed == tt.allowed:
			case tt.allowed && strings.Contains(r.Reason, "RunLimit"):
				t.Logf("Rust ran out of its run limit (%s): a limitation of biscuit-wasm %s", r.Reason, wasmVersion)
			default:
				t.Errorf("Rust: allowed = %v (%s), want %v", r.Allowed, r.Reason, tt.allowed)
			}
		})
	}
}
