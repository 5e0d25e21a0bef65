package approval_test

import (
	"context"
	"crypto/ed25519"
	"runtime"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/attenuate"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/approval"
)

// BenchmarkApprovalOverhead is the extra cost of checking an approval in a
// decision (DESIGN.md: at most one signature verify + 10 µs). Each
// iteration decides, on the same warm 2-block token, a refund under the
// threshold (no approval needed: the baseline) and one above it with an
// approval (parse, signature, binding, the second evaluation, a no-op
// redemption), then times one crypto/ed25519.Verify in the same loop.
//
// base-ns and approval-ns are the two decisions, extra-ns their difference,
// verify-ns one Verify; x-verify is extra/verify and over-verify-ns is
// extra-ns minus verify-ns (the target is at most 10,000). Redemption at
// the authority is a network round trip and is not part of this number.
func BenchmarkApprovalOverhead(b *testing.B) {
	w := newWorld(b)
	c, err := approval.New(approval.Config{Redeemer: approval.RedeemerFunc(func(context.Context, approval.Redemption) error { return nil })})
	if err != nil {
		b.Fatal(err)
	}
	v := w.verifier(b, c)
	tok := build(b, w.root, func(bb *attenuate.Builder) {
		bb.DelegatedTo("refund-agent").RequireApproval("refund", attenuate.Above("amount", 100), attenuate.ApprovedByOrg())
	})
	small := refund(50, "7")
	big := refund(500, "7")
	big.Approval = w.approve(b, tok, big, func(a *token.Approval) { a.MaxUses = 100 })
	ctx := context.Background()
	for _, r := range []verifier.Request{small, big} { // warm the chain cache
		if d := v.Authorize(ctx, tok, r); !d.Allowed {
			b.Fatal(d.Reason)
		}
	}
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 200)
	sig := ed25519.Sign(priv, msg)
	runtime.GC()
	b.ReportAllocs()
	var base, withApproval, verify time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		if d := v.Authorize(ctx, tok, small); !d.Allowed {
			b.Fatal(d.Reason)
		}
		t1 := time.Now()
		if d := v.Authorize(ctx, tok, big); !d.Allowed {
			b.Fatal(d.Reason)
		}
		t2 := time.Now()
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
		base += t1.Sub(t0)
		withApproval += t2.Sub(t1)
		verify += time.Since(t2)
		n++
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	extra := per(withApproval) - per(base)
	b.ReportMetric(per(base), "base-ns")
	b.ReportMetric(per(withApproval), "approval-ns")
	b.ReportMetric(extra, "extra-ns")
	b.ReportMetric(per(verify), "verify-ns")
	b.ReportMetric(extra/per(verify), "x-verify")
	b.ReportMetric(extra-per(verify), "over-verify-ns")
}
