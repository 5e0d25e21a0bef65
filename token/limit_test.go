package token_test

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/biscuit-auth/biscuit-go/v2"
	"github.com/biscuit-auth/biscuit-go/v2/parser"

	"github.com/mandate-dev/mandate/token"
)

func TestParseLimit(t *testing.T) {
	tests := []struct {
		spec    string
		want    token.Limit
		wantErr string
	}{
		{spec: "send_email:calls=20/1h", want: token.Limit{Tool: "send_email", Measure: token.LimitCalls, Max: 20, Window: time.Hour}},
		{spec: "refund:amount=1000", want: token.Limit{Tool: "refund", Measure: token.LimitSum, Arg: "amount", Max: 1000}},
		{spec: "refund:amount=1000/1d", want: token.Limit{Tool: "refund", Measure: token.LimitSum, Arg: "amount", Max: 1000, Window: 24 * time.Hour}},
		{spec: "*:calls=500/24h", want: token.Limit{Tool: "*", Measure: token.LimitCalls, Max: 500, Window: 24 * time.Hour}},
		{spec: "send_email:calls=0", wantErr: "not between 1"},
		{spec: "send_email:calls=-3", wantErr: "not between 1"},
		{spec: "send_email:calls=99999999999999999999", wantErr: "not an integer"},
		{spec: "send_email:calls=1125899906842625", wantErr: "not between 1"},
		{spec: "send_email:calls=1.5", wantErr: "not an integer"},
		{spec: "send_email:calls=20/10s", wantErr: "between 1m0s and 24h0m0s"},
		{spec: "send_email:calls=20/2d", wantErr: "between 1m0s and 24h0m0s"},
		{spec: "send_email:calls=20/90500ms", wantErr: "whole seconds"},
		{spec: "send_email:calls=20/soon", wantErr: "not a duration"},
		{spec: "send_email=20", wantErr: "no TOOL:"},
		{spec: ":calls=20", wantErr: "no TOOL:"},
		{spec: "send_email:=20", wantErr: "no MEASURE=N"},
		{spec: "send\nemail:calls=20", wantErr: "usage limit: tool"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := token.ParseLimit(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, token.ErrBadRequest) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want ErrBadRequest containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v; want %+v", got, tt.want)
			}
			if again, err := token.ParseLimit(got.String()); err != nil || again != got {
				t.Fatalf("String %q reads back as %+v, %v", got.String(), again, err)
			}
		})
	}
}

// TestLimitDeclarations: Parse reads limit declarations with their
// identities, and refuses every other use of limit_ok (which would let a
// block satisfy its own limit check) and too many limits.
func TestLimitDeclarations(t *testing.T) {
	key := testKey(1)
	req := baseRequest()
	req.Limits = []token.Limit{{Tool: "*", Measure: token.LimitCalls, Max: 500, Window: 24 * time.Hour}}
	m, err := token.Mint(key, req)
	if err != nil {
		t.Fatal(err)
	}
	decl := `check if limit_ok("send_email", "calls", "", 20, 3600)`
	raw := attenuate(t, m.Raw, "", nil, decl, `check if limit_ok("refund", "sum", "amount", 1000, 0)`)
	u, err := token.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	vt, err := u.Verify(token.NewKeySet(key.Public()), t0)
	if err != nil {
		t.Fatal(err)
	}
	ls := vt.Limits()
	if len(ls) != 3 {
		t.Fatalf("%d limits; want 3", len(ls))
	}
	ids := vt.RevocationIDs()
	for i, want := range []struct {
		spec         string
		block, index int
	}{{"*:calls=500/24h", 0, 0}, {"send_email:calls=20/1h", 1, 0}, {"refund:amount=1000", 1, 1}} {
		l := ls[i]
		if l.String() != want.spec || l.Block != want.block || l.Index != want.index || l.ID != token.LimitID(ids[want.block], want.index) {
			t.Errorf("limit %d: %s block %d index %d id %s; want %s block %d index %d", i, l.String(), l.Block, l.Index, l.ID, want.spec, want.block, want.index)
		}
	}
	// A child carries the same limit under the same identity.
	child, _ := token.Parse(attenuate(t, raw, "", nil, `check if tool($t), $t == "send_email"`))
	if cl := child.UnsafeLimits(); len(cl) != 3 || cl[1].ID != ls[1].ID {
		t.Fatalf("the child's limits %+v; want the parent's, with the same IDs", cl)
	}

	refused := []struct {
		name   string
		facts  []string
		checks []string
		want   error
	}{
		{"a fact that satisfies the block's own limit", []string{`limit_ok("send_email", "calls", "", 20, 3600)`}, []string{decl}, token.ErrMalformed},
		{"a limit_ok fact alone", []string{`limit_ok("x", "calls", "", 1, 0)`}, nil, token.ErrMalformed},
		{"a check with a variable", nil, []string{`check if limit_ok($t, "calls", "", 20, 3600)`}, token.ErrMalformed},
		{"a check with another branch", nil, []string{`check if limit_ok("send_email", "calls", "", 20, 3600) or tool("x")`}, token.ErrMalformed},
		{"a check with an expression", nil, []string{`check if limit_ok("send_email", "calls", "", 20, $w), $w > 0`}, token.ErrMalformed},
		{"a zero maximum", nil, []string{`check if limit_ok("send_email", "calls", "", 0, 3600)`}, token.ErrMalformed},
		{"a window too small", nil, []string{`check if limit_ok("send_email", "calls", "", 5, 1)`}, token.ErrMalformed},
		{"a window too large", nil, []string{`check if limit_ok("send_email", "calls", "", 5, 999999999)`}, token.ErrMalformed},
		{"an unknown measure", nil, []string{`check if limit_ok("send_email", "bytes", "", 5, 0)`}, token.ErrMalformed},
		{"a declared limit twice", nil, []string{decl, decl}, token.ErrMalformed},
		{"too many limits", nil, []string{
			`check if limit_ok("a", "calls", "", 1, 0)`, `check if limit_ok("b", "calls", "", 1, 0)`, `check if limit_ok("c", "calls", "", 1, 0)`,
			`check if limit_ok("d", "calls", "", 1, 0)`, `check if limit_ok("e", "calls", "", 1, 0)`, `check if limit_ok("f", "calls", "", 1, 0)`,
		}, token.ErrTooLarge},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := token.Parse(attenuate(t, raw, "", tt.facts, tt.checks...))
			if !errors.Is(err, tt.want) || !errors.Is(err, token.ErrInvalid) {
				t.Fatalf("Parse: %v; want %v", err, tt.want)
			}
		})
	}
	t.Run("a rule that reads limit_ok", func(t *testing.T) {
		b := attenuateRule(t, raw, `ok($t) <- limit_ok($t, $m, $a, $n, $w)`)
		if _, err := token.Parse(b); !errors.Is(err, token.ErrMalformed) {
			t.Fatalf("Parse: %v; want ErrMalformed", err)
		}
	})
	t.Run("a rule that states limit_ok", func(t *testing.T) {
		b := attenuateRule(t, raw, `limit_ok("send_email", "calls", "", 20, 3600) <- tool("send_email")`)
		if _, err := token.Parse(b); !errors.Is(err, token.ErrMalformed) {
			t.Fatalf("Parse: %v; want ErrMalformed", err)
		}
	})
}

func TestMintLimitsValidated(t *testing.T) {
	req := baseRequest()
	l := token.Limit{Tool: "send_email", Measure: token.LimitCalls, Max: 1}
	for name, ls := range map[string][]token.Limit{
		"twice":    {l, l},
		"too many": make([]token.Limit, token.MaxLimitsPerToken+1),
		"invalid":  {{Tool: "send_email", Measure: token.LimitCalls, Max: 0}},
	} {
		req.Limits = ls
		if _, err := token.Mint(testKey(1), req); !errors.Is(err, token.ErrBadRequest) {
			t.Errorf("%s: Mint: %v; want ErrBadRequest", name, err)
		}
	}
}

// attenuateRule appends a block holding one rule (Datalog text).
func attenuateRule(t testing.TB, raw []byte, rule string) []byte {
	t.Helper()
	b, err := biscuit.Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	bb := b.CreateBlock()
	r, err := parser.FromStringRule(rule)
	if err != nil {
		t.Fatalf("parse rule %q: %v", rule, err)
	}
	if err := bb.AddRule(r); err != nil {
		t.Fatal(err)
	}
	next, err := b.Append(rand.Reader, bb.Build())
	if err != nil {
		t.Fatal(err)
	}
	out, err := next.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
