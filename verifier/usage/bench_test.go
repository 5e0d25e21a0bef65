package usage_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/usage"
)

// BenchmarkLimitCost measures what a usage limit adds to a warm decision
// decided from a lease: the same call, with the same kind of token, with
// and without a limit, alternating; it reports both p50s and the
// difference (DESIGN.md: ≤ 10 µs).
func BenchmarkLimitCost(b *testing.B) {
	e := newEnv(b, nil)
	root := e.mint(b)
	plain := attenuated(b, root, time.Now, "get_account:calls=5/1h") // a limit on another tool: no spending
	limited := attenuated(b, root, time.Now, "send_email:calls=1125899906842624")
	noLimit := attenuated(b, root, time.Now)
	v, _ := e.verifier(b, func(c *usage.Config) { c.MaxLease = 1 << 20 })
	ctx := context.Background()
	req := call("send_email", nil)
	for range 1000 { // warm: verified chains cached, a large lease held
		v.Authorize(ctx, noLimit, req)
		v.Authorize(ctx, limited, req)
	}
	_ = plain
	base := make([]time.Duration, 0, b.N)
	lim := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		d1 := v.Authorize(ctx, noLimit, req)
		t1 := time.Now()
		d2 := v.Authorize(ctx, limited, req)
		t2 := time.Now()
		if !d1.Allowed || !d2.Allowed {
			b.Fatal(d1.Reason, d2.Reason)
		}
		base = append(base, t1.Sub(t0))
		lim = append(lim, t2.Sub(t1))
	}
	b.StopTimer()
	p50 := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Nanoseconds()) / 1e3
	}
	pb, pl := p50(base), p50(lim)
	b.ReportMetric(pb, "µs-p50-no-limit")
	b.ReportMetric(pl, "µs-p50-limit")
	b.ReportMetric(pl-pb, "µs-p50-extra")
}

// BenchmarkRoundTrips measures the round trips to the authority on a
// steady stream of calls under one limit, per 100 calls (DESIGN.md: < 1).
func BenchmarkRoundTrips(b *testing.B) {
	e := newEnv(b, nil)
	tok := attenuated(b, e.mint(b), time.Now, "send_email:calls=1125899906842624/24h")
	v, enf := e.verifier(b)
	ctx := context.Background()
	req := call("send_email", nil)
	b.ResetTimer()
	for range b.N {
		if d := v.Authorize(ctx, tok, req); !d.Allowed {
			b.Fatal(d.Reason)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(enf.RoundTrips.Load())*100/float64(b.N), "round-trips/100-calls")
}

// BenchmarkContention: 16 goroutines on 4 verifiers spend one limit of
// 20,000 calls until it is used up; it reports the throughput of allowed
// calls and the fraction of the limit left unused in other verifiers'
// leases when every goroutine has been denied.
func BenchmarkContention(b *testing.B) {
	e := newEnv(b, nil)
	const max = 20000
	var unused float64
	var rate float64
	for range b.N {
		tok := attenuated(b, e.mint(b), time.Now, "send_email:calls=20000/24h")
		var allowed atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		var enfs []*usage.Enforcer
		for range 4 {
			v, enf := e.verifier(b)
			enfs = append(enfs, enf)
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						d := v.Authorize(context.Background(), tok, call("send_email", nil))
						if !d.Allowed {
							if d.Kind() != verifier.KindLimitExceeded {
								b.Error(d.Reason)
							}
							return
						}
						allowed.Add(1)
					}
				}()
			}
		}
		wg.Wait()
		el := time.Since(start)
		for _, enf := range enfs {
			_ = enf.Close()
		}
		rate += float64(allowed.Load()) / el.Seconds()
		unused += float64(max-allowed.Load()) / max
	}
	b.ReportMetric(rate/float64(b.N), "allowed-calls/s")
	b.ReportMetric(unused/float64(b.N), "fraction-unused")
}

var _ = token.MaxLimitAmount
