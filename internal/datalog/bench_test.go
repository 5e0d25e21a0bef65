package datalog

import (
	"fmt"
	"testing"
	"time"
)

// thirtyTwoChecks are the 32 typical checks of the verifier's
// BenchmarkAuthorizeCold32Checks, all of which hold for benchAmbient.
func thirtyTwoChecks() []string {
	var cs []string
	for i := range 8 {
		cs = append(cs,
			fmt.Sprintf(`check if tool($t), ["get_account", "list_invoices", "t%d"].contains($t)`, i),
			fmt.Sprintf(`check if resource($r), $r.starts_with("account:acme/%d") or resource($r), $r.starts_with("account:acme/")`, i),
			fmt.Sprintf(`check if tool($t), !($t == "refund%d") or arg("amount", $a), $a <= %d`, i, 500+i),
			fmt.Sprintf(`check if time($t), $t <= 2099-01-0%dT00:00:00Z`, i+1),
		)
	}
	return cs
}

var benchAmbient = []Predicate{
	pred("time", Date(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))), pred("service", String("crm")),
	pred("tool", String("get_account")), pred("operation", String("read")),
	pred("resource", String("account:acme/42")), pred("arg", String("limit"), Int(1)),
}

// BenchmarkDecode32Checks decodes a block of 32 typical checks: what
// decoding costs per check (check-ns).
func BenchmarkDecode32Checks(b *testing.B) {
	raw := authorityBytes(b, nil, nil, thirtyTwoChecks())
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var syms SymbolTable
		if _, err := DecodeBytes(raw, &syms, &testLimits); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/32, "check-ns")
}

// BenchmarkRun32Checks evaluates a decoded block of 32 typical checks as
// an attenuation block: what evaluating a check costs (check-ns).
func BenchmarkRun32Checks(b *testing.B) {
	raw := authorityBytes(b, nil, nil, thirtyTwoChecks())
	var syms SymbolTable
	blk, err := DecodeBytes(raw, &syms, &testLimits)
	if err != nil {
		b.Fatal(err)
	}
	prog := NewProgram([]*Block{{}, blk})
	e := NewEvaluator(RunLimits{Steps: 10000, Facts: 512, Iterations: 16})
	b.ReportAllocs()
	for b.Loop() {
		out, err := e.RunProgram(prog, benchAmbient, func(*World) bool { return true })
		if err != nil || !out.Allowed {
			b.Fatal(out, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/32, "check-ns")
}
