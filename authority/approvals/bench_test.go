package approvals_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority/approvals"
	"github.com/mandate-dev/mandate/verifier"
)

// BenchmarkApprovalLoop measures the whole approval loop on one machine,
// over HTTP on 127.0.0.1 with Badger on disk: the call is denied
// approval_required, the agent asks (POST /v1/approvals), a person
// approves (POST …/approve), the agent fetches the approval (GET …/{id}),
// and the retry is allowed (offline check + redemption at the authority).
// It prints p50 and p99 of one loop.
//
//	go test -run '^$' -bench ApprovalLoop -benchtime 300x ./authority/approvals/
func BenchmarkApprovalLoop(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, approvals.Config{})
	tok := e.refunder(e.mint("s_bench"))
	v := e.verifier(nil)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		call := refund(fmt.Sprint(i), 500)
		if d := v.Authorize(ctx, tok, vreq(call)); d.Kind() != verifier.KindApprovalRequired {
			b.Fatalf("first call: %s", d.Reason)
		}
		var q approvals.Request
		if st, m := e.do("POST", "/v1/approvals", tok, askBody(call, 0), &q); st != 201 {
			b.Fatalf("ask: %d %v", st, m)
		}
		if st, m := e.do("POST", "/v1/approvals/"+q.ID+"/approve", e.alice, map[string]any{}, nil); st != 200 {
			b.Fatalf("approve: %d %v", st, m)
		}
		var got approvals.Request
		if st, m := e.do("GET", "/v1/approvals/"+q.ID+"?wait=5s", tok, nil, &got); st != 200 || got.Approval == "" {
			b.Fatalf("get: %d %v", st, m)
		}
		r := vreq(call)
		r.Approval = got.Approval
		if d := v.Authorize(ctx, tok, r); !d.Allowed {
			b.Fatalf("retry: %s", d.Reason)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
	b.Logf("approval loop, %d runs: p50 %s, p99 %s", len(lat), pct(0.50), pct(0.99))
}
