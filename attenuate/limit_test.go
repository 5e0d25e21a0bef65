package attenuate_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
)

func TestLimit(t *testing.T) {
	a := newAuthority(t)
	tok := a.mint(t)
	got := build(t, tok, func(b *attenuate.Builder) {
		b.LimitCalls("send_email", 20, time.Hour).LimitSum("refund", "amount", 1000, 0)
	})
	checks, _ := lastBlock(t, got)
	want := []string{
		`check if limit_ok("send_email", "calls", "", 20, 3600)`,
		`check if limit_ok("refund", "sum", "amount", 1000, 0)`,
	}
	if strings.Join(checks, "\n") != strings.Join(want, "\n") {
		t.Fatalf("checks:\n%s\nwant:\n%s", strings.Join(checks, "\n"), strings.Join(want, "\n"))
	}
	u, err := token.ParseString(got)
	if err != nil {
		t.Fatal(err)
	}
	if ls := u.UnsafeLimits(); len(ls) != 2 || ls[0].Block != 1 || ls[1].Index != 1 {
		t.Fatalf("limits %+v", ls)
	}

	refused := []struct {
		name string
		fn   func(*attenuate.Builder)
		over bool
	}{
		{"zero", func(b *attenuate.Builder) { b.LimitCalls("send_email", 0, time.Hour) }, false},
		{"negative", func(b *attenuate.Builder) { b.LimitSum("refund", "amount", -1, 0) }, false},
		{"overflowing", func(b *attenuate.Builder) { b.LimitSum("refund", "amount", 1<<62, 0) }, false},
		{"window too small", func(b *attenuate.Builder) { b.LimitCalls("send_email", 1, time.Second) }, false},
		{"window too large", func(b *attenuate.Builder) { b.LimitCalls("send_email", 1, 48*time.Hour) }, false},
		{"sum without an argument", func(b *attenuate.Builder) { b.LimitSum("refund", "", 5, 0) }, false},
		{"empty tool", func(b *attenuate.Builder) { b.LimitCalls("", 5, 0) }, false},
		{"twice", func(b *attenuate.Builder) { b.LimitCalls("x", 5, 0).LimitCalls("x", 5, 0) }, false},
		{"too many", func(b *attenuate.Builder) {
			for i := range token.MaxLimitsPerToken - 1 {
				b.LimitCalls(string(rune('a'+i)), 5, 0)
			}
		}, true},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			b, err := attenuate.New(got, attenuate.WithClock(clockAt(t0)))
			if err != nil {
				t.Fatal(err)
			}
			tt.fn(b)
			_, err = b.Build()
			if !errors.Is(err, attenuate.ErrInvalidCaveat) || errors.Is(err, attenuate.ErrOverLimit) != tt.over {
				t.Fatalf("Build: %v; want ErrInvalidCaveat (over a limit: %v)", err, tt.over)
			}
		})
	}
}
