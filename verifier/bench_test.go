package verifier

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
)

// BenchmarkEd25519Verify is the floor the cold benchmarks are held to: a
// cold 4-block decision must cost at most 0.85 × 4 of these (issue 8; the
// design's bound is 1.3 ×), measured in the same loop.
func BenchmarkEd25519Verify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 200)
	sig := ed25519.Sign(priv, msg)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
}

// BenchmarkAuthorizeCold4Blocks decides on 4-block tokens never seen
// before: base64, parse, four signatures and the proof, revocation and
// Datalog. It cycles through more distinct tokens than the cache holds.
//
// Each iteration also times four crypto/ed25519 verifies right after the
// decision, so that the floor is measured in the same run under the same
// conditions: decision-ns is one decision, floor-ns four verifies, and
// x-floor their ratio (issue 8's target is at most 0.85). ns/op covers both.
func BenchmarkAuthorizeCold4Blocks(b *testing.B) {
	a := newTestAuthority(b)
	benchCold(b, a, 4, func() string { return fourBlocks(b, a) })
}

// BenchmarkAuthorizeCold1Block is the cold decision on a token of the
// authority block alone (one signature and the proof): target x-floor ≤ 1.1.
func BenchmarkAuthorizeCold1Block(b *testing.B) {
	a := newTestAuthority(b)
	benchCold(b, a, 1, func() string { return a.mint(b, time.Hour) })
}

// BenchmarkAuthorizeCold16Blocks is the cold decision on a token with the
// most blocks the limits allow: target x-floor ≤ 0.85.
func BenchmarkAuthorizeCold16Blocks(b *testing.B) {
	a := newTestAuthority(b)
	benchCold(b, a, 16, func() string { return sixteenBlocks(b, a) })
}

// BenchmarkAuthorizeCold50Rights is the cold decision on an authority block
// with 50 rights (the request matches the last one).
func BenchmarkAuthorizeCold50Rights(b *testing.B) {
	a := newTestAuthority(b)
	benchCold(b, a, 1, func() string { return a.mint(b, time.Hour, fiftyRights()...) })
}

// BenchmarkAuthorizeCold32Checks prices the checks of one block, cold: each
// iteration decides on a token whose attenuation block holds 32 checks and
// on one whose block holds 1 (same number of signatures), and check-ns is
// the difference divided by 31: decoding and evaluating one check.
func BenchmarkAuthorizeCold32Checks(b *testing.B) {
	a := newTestAuthority(b)
	const n = 128
	many, one := make([]string, n), make([]string, n)
	for i := range many {
		many[i] = appendBlock(b, a.mint(b, time.Hour), thirtyTwoChecks)
		one[i] = appendBlock(b, a.mint(b, time.Hour), `check if resource($r), $r.starts_with("account:acme/")`)
	}
	v := newVerifier(b, a, func(c *Config) { c.CacheSize = -1 })
	ctx := context.Background()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	runtime.GC()
	b.ReportAllocs()
	var tMany, tOne, cMany, cOne time.Duration
	i := 0
	for b.Loop() {
		c0 := threadCPU()
		t0 := time.Now()
		if d := v.Authorize(ctx, many[i%n], readAccount); !d.Allowed {
			b.Fatal(d.Reason)
		}
		t1 := time.Now()
		c1 := threadCPU()
		if d := v.Authorize(ctx, one[i%n], readAccount); !d.Allowed {
			b.Fatal(d.Reason)
		}
		c2 := threadCPU()
		tMany += t1.Sub(t0)
		tOne += time.Since(t1)
		cMany += c1 - c0
		cOne += c2 - c1
		i++
	}
	b.ReportMetric(float64(tMany.Nanoseconds())/float64(i), "decision-ns")
	b.ReportMetric(float64((tMany-tOne).Nanoseconds())/float64(i)/31, "check-ns")
	if cOne > 0 {
		b.ReportMetric(float64((cMany-cOne).Nanoseconds())/float64(i)/31, "cpu-check-ns")
	}
}

// thirtyTwoChecks is an attenuation block of 32 typical checks, all of
// which hold for readAccount.
var thirtyTwoChecks = func() string {
	var cs []string
	for i := range 8 {
		cs = append(cs,
			fmt.Sprintf(`check if tool($t), ["get_account", "list_invoices", "t%d"].contains($t)`, i),
			fmt.Sprintf(`check if resource($r), $r.starts_with("account:acme/%d") or resource($r), $r.starts_with("account:acme/")`, i),
			fmt.Sprintf(`check if tool($t), !($t == "refund%d") or arg("amount", $a), $a <= %d`, i, 500+i),
			fmt.Sprintf(`check if time($t), $t <= 2099-01-0%dT00:00:00Z`, i+1),
		)
	}
	return strings.Join(cs, "; ")
}()

// fiftyRights are 50 rights of which only the last covers readAccount.
func fiftyRights() []token.Right {
	rights := make([]token.Right, 0, 50)
	for i := range 49 {
		rights = append(rights, token.Right{Service: "crm", Tool: fmt.Sprintf("tool_%d", i), Operation: "read", Resource: fmt.Sprintf("account:acme/%d/", i)})
	}
	return append(rights, token.Right{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"})
}

// sixteenBlocks returns a token with the most blocks the limits allow.
func sixteenBlocks(t testing.TB, a *testAuthority) string {
	tok := fourBlocks(t, a)
	for i := range 12 {
		tok = appendBlock(t, tok, fmt.Sprintf(`check if time($t), $t <= 2099-01-%02dT00:00:00Z`, i+1))
	}
	return tok
}

// benchCold decides on distinct tokens of the given number of blocks (more
// than the cache holds) and times blocks × crypto/ed25519.Verify after each
// decision: decision-ns, floor-ns and x-floor, their ratio. On Linux the
// goroutine is locked to its thread and the same two intervals are also
// timed in thread CPU time: cpu-x-floor is their ratio without the time
// other processes took the core away (the robust figure on a shared
// machine; both are same-loop ratios).
func benchCold(b *testing.B, a *testAuthority, blocks int, mint func() string) {
	const n = 256
	toks := make([]string, n)
	for i := range toks {
		toks[i] = mint()
	}
	v := newVerifier(b, a, func(c *Config) { c.CacheSize = n / 2 })
	ctx := context.Background()
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 200)
	sig := ed25519.Sign(priv, msg)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	runtime.GC() // do not bill the setup's garbage to the loop
	b.ReportAllocs()
	var decision, floor, cpuDecision, cpuFloor time.Duration
	i := 0
	for b.Loop() {
		c0 := threadCPU()
		t0 := time.Now()
		if d := v.Authorize(ctx, toks[i%n], readAccount); !d.Allowed {
			b.Fatal(d.Reason)
		}
		t1 := time.Now()
		c1 := threadCPU()
		for range blocks {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("verify failed")
			}
		}
		c2 := threadCPU()
		decision += t1.Sub(t0)
		floor += time.Since(t1)
		cpuDecision += c1 - c0
		cpuFloor += c2 - c1
		i++
	}
	b.ReportMetric(float64(decision.Nanoseconds())/float64(i), "decision-ns")
	b.ReportMetric(float64(floor.Nanoseconds())/float64(i), "floor-ns")
	b.ReportMetric(float64(decision)/float64(floor), "x-floor")
	if cpuFloor > 0 {
		b.ReportMetric(float64(cpuDecision.Nanoseconds())/float64(i), "cpu-decision-ns")
		b.ReportMetric(float64(cpuDecision)/float64(cpuFloor), "cpu-x-floor")
	}
}

// serialNs times k decisions in a row on one goroutine, after a parallel
// run, so that a parallel benchmark can report its ratio to the serial
// cost measured under the same conditions (x-serial; 0.5 is perfect
// scaling on 2 cores).
func serialNs(k int, decide func(i int)) float64 {
	k = max(min(k, 2000), 50)
	t0 := time.Now()
	for i := range k {
		decide(i)
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(k)
}

// BenchmarkAuthorizeWarm4Blocks decides on the same 4-block token again: the
// signature chain comes from the cache; revocation and Datalog still run.
// Target: ≤ 4 µs.
func BenchmarkAuthorizeWarm4Blocks(b *testing.B) {
	a := newTestAuthority(b)
	benchWarm(b, a, fourBlocks(b, a))
}

// BenchmarkAuthorizeWarm50Rights decides again on a token whose authority
// block holds 50 rights. Target: ≤ 10 µs.
func BenchmarkAuthorizeWarm50Rights(b *testing.B) {
	a := newTestAuthority(b)
	benchWarm(b, a, a.mint(b, time.Hour, fiftyRights()...))
}

// benchWarm decides again and again on tok. On a shared machine absolute
// times drift with the load, so every 16th iteration also times one
// crypto/ed25519.Verify: x-verify is a decision over a verify, measured under
// the same conditions (on the reference machine a verify costs 43 µs, so
// the 4 µs target is x-verify ≤ 0.093, and 10 µs is 0.23). cpu-x-verify is
// the same ratio in thread CPU time (groups of 16 decisions, as a CPU clock
// read costs a system call), as in benchCold.
func benchWarm(b *testing.B, a *testAuthority, tok string) {
	v := newVerifier(b, a)
	ctx := context.Background()
	v.Authorize(ctx, tok, readAccount)
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 200)
	sig := ed25519.Sign(priv, msg)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	runtime.GC()
	b.ReportAllocs()
	var decision, verify, cpuDecision, cpuVerify time.Duration
	i, nv := 0, 0
	c0 := threadCPU()
	for b.Loop() {
		t0 := time.Now()
		if d := v.Authorize(ctx, tok, readAccount); !d.Allowed {
			b.Fatal(d.Reason)
		}
		t1 := time.Now()
		decision += t1.Sub(t0)
		if i%16 == 15 {
			c1 := threadCPU()
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("verify failed")
			}
			c2 := threadCPU()
			verify += time.Since(t1)
			cpuVerify += c2 - c1
			cpuDecision += c1 - c0
			c0 = threadCPU()
			nv++
		}
		i++
	}
	b.ReportMetric(float64(decision.Nanoseconds())/float64(i), "decision-ns")
	b.ReportMetric(float64(verify.Nanoseconds())/float64(nv), "verify-ns")
	b.ReportMetric((float64(decision)/float64(i))/(float64(verify)/float64(nv)), "x-verify")
	if cpuVerify > 0 {
		// decisions in whole groups of 16 over the verifies after them
		b.ReportMetric((float64(cpuDecision)/float64(16*nv))/(float64(cpuVerify)/float64(nv)), "cpu-x-verify")
	}
}

// BenchmarkAuthorizeWarm4BlocksParallel is the warm decision from every
// core at once. x-serial is ns/op over the serial cost measured right after
// in the same benchmark (0.5 is perfect scaling on 2 cores).
func BenchmarkAuthorizeWarm4BlocksParallel(b *testing.B) {
	a := newTestAuthority(b)
	tok := fourBlocks(b, a)
	v := newVerifier(b, a)
	ctx := context.Background()
	v.Authorize(ctx, tok, readAccount)
	benchParallel(b, func(int) {
		if d := v.Authorize(ctx, tok, readAccount); !d.Allowed {
			panic(d.Reason)
		}
	})
}

// BenchmarkAuthorizeCold4BlocksParallel is the cold decision from every
// core at once, with x-serial as in BenchmarkAuthorizeWarm4BlocksParallel.
func BenchmarkAuthorizeCold4BlocksParallel(b *testing.B) {
	a := newTestAuthority(b)
	const n = 256
	toks := make([]string, n)
	for i := range toks {
		toks[i] = fourBlocks(b, a)
	}
	v := newVerifier(b, a, func(c *Config) { c.CacheSize = -1 })
	ctx := context.Background()
	benchParallel(b, func(i int) {
		if d := v.Authorize(ctx, toks[i%n], readAccount); !d.Allowed {
			panic(d.Reason)
		}
	})
}

// BenchmarkAuthorizeCold16BlocksParallel is the 16-block cold decision from
// every core at once.
func BenchmarkAuthorizeCold16BlocksParallel(b *testing.B) {
	a := newTestAuthority(b)
	const n = 64
	toks := make([]string, n)
	for i := range toks {
		toks[i] = sixteenBlocks(b, a)
	}
	v := newVerifier(b, a, func(c *Config) { c.CacheSize = -1 })
	ctx := context.Background()
	benchParallel(b, func(i int) {
		if d := v.Authorize(ctx, toks[i%n], readAccount); !d.Allowed {
			panic(d.Reason)
		}
	})
}

// benchParallel runs decide from every core, then the same work serially,
// and reports x-serial: parallel ns/op over serial ns/op.
func benchParallel(b *testing.B, decide func(i int)) {
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			decide(i)
			i++
		}
	})
	par := float64(time.Since(t0).Nanoseconds()) / float64(b.N)
	b.StopTimer()
	ser := serialNs(b.N, decide)
	b.ReportMetric(ser, "serial-ns")
	b.ReportMetric(par/ser, "x-serial")
}

// worstCaseTokens are the most expensive tokens the limits allow, one per
// kind of work: MaxBlocks signatures plus an evaluation that runs into the
// step budget. Each is denied.
func worstCaseTokens(b testing.TB, a *testAuthority) map[string]string {
	base := a.mint(b, time.Hour)
	// Fill up to MaxBlocks-1 blocks so that every case pays for every
	// signature the limits allow.
	pad := base
	for i := 0; i < 14; i++ {
		pad = appendBlock(b, pad, fmt.Sprintf(`check if time($t), $t <= 2099-01-0%dT00:00:00Z`, i%9+1))
	}
	var facts []string
	for i := 0; i < 60; i++ {
		facts = append(facts, fmt.Sprintf("f(%d)", i))
	}
	out := map[string]string{}
	// A join bomb: four-way join over 60 facts, 13 million combinations
	// without a budget, with an expression that never holds.
	out["join"] = appendBlock(b, pad, strings.Join(facts, "; ")+
		`; check if f($a), f($b), f($c), f($d), $d == 1000`)
	// Rules that derive as many facts as allowed.
	out["rules"] = appendBlock(b, pad, strings.Join(facts, "; ")+
		`; g($a, $b) <- f($a), f($b); h($a, $b, $c) <- g($a, $b), f($c); check if h($a, $b, $c), $a == 1000`)
	// Regular expressions as long as strings may be, compiled per binding.
	long := strings.Repeat("(a|b)*c?", 100)
	out["regex"] = appendBlock(b, pad, strings.Join(facts[:8], "; ")+
		fmt.Sprintf(`; check if f($a), f($b), "%s".matches("%s"), $a == 1000`, strings.Repeat("ab", 400), long))
	// Set operations on the largest sets.
	var elems []string
	for i := 0; i < 64; i++ {
		elems = append(elems, fmt.Sprintf("%d", i))
	}
	set := "[" + strings.Join(elems, ", ") + "]"
	out["sets"] = appendBlock(b, pad, strings.Join(facts, "; ")+
		fmt.Sprintf(`; check if f($a), f($b), %s.intersection(%s).contains(%s), $a == 1000`, set, set, set))
	// Joins that unify the largest sets: every candidate compares 64
	// elements.
	var big []string
	for i := 0; i < 20; i++ {
		e := []string{fmt.Sprintf("%d", 1000+i)}
		for j := 0; j < 63; j++ {
			e = append(e, fmt.Sprintf("%d", j))
		}
		big = append(big, "f(["+strings.Join(e, ", ")+"])")
	}
	out["setjoin"] = appendBlock(b, pad, strings.Join(big, "; ")+
		`; check if f($a), f($b), f($c), f($a), $c == $b, $a == [1]`)
	// Unicode classes in patterns: each \w compiles to hundreds of ranges
	// (charged 4,000 steps), compiled anew for every binding: the most a
	// pattern may hold within the budget.
	out["regexunicode"] = appendBlock(b, pad, strings.Join(facts[:8], "; ")+
		fmt.Sprintf(`; check if f($a), f($b), "%s".matches("%s"), $a == 1000`, strings.Repeat("é", 200), `\\w\\s\\d\\w`))
	// Case folding over a range: Go's parser walks every character (a
	// step each), so this is about the widest range the budget lets
	// compile.
	out["regexfold"] = appendBlock(b, pad, strings.Join(facts[:8], "; ")+
		`; check if f($a), "x".matches("(?i)[\\x{42}-\\x{2360}]"), $a == 1000`)
	// Matching is linear in subject × program: a repeated alternation as
	// large as the budget lets run over a long subject.
	out["regexmatch"] = appendBlock(b, pad, strings.Join(facts[:8], "; ")+
		fmt.Sprintf(`; check if f($a), "%s".matches("(a|aa){6}x"), $a == 1000`, strings.Repeat("a", 800)))
	// As many checks as a block may hold, each one passing only after a
	// join over the block's facts.
	var checks []string
	for i := 0; i < token.MaxChecksPerBlock; i++ {
		checks = append(checks, fmt.Sprintf("check if f($a), f($b), $a == 59, $b == %d", 59-i%8))
	}
	out["checks"] = appendBlock(b, pad, strings.Join(facts, "; ")+"; "+strings.Join(checks, "; "))
	return out
}

// BenchmarkAuthorizeWorstCase decides, cold, on the most expensive tokens
// the limits allow. Each must be denied in at most 5 ms: ns/op is the mean,
// p99-µs and max-µs the tail of single decisions (which on a shared machine
// also carries scheduling and GC pauses that are not the token's doing).
// On Linux, cpu-µs, p99-cpu-µs and max-cpu-µs are the CPU time of the
// deciding thread per decision: the work a token causes, without the time
// spent waiting for a CPU on a loaded machine (on a virtual machine whose
// host is overcommitted, time the vCPU was stolen may still show up).
func BenchmarkAuthorizeWorstCase(b *testing.B) {
	a := newTestAuthority(b)
	for name, tok := range worstCaseTokens(b, a) {
		b.Run(name, func(b *testing.B) {
			v := newVerifier(b, a, func(c *Config) { c.CacheSize = -1 })
			ctx := context.Background()
			runtime.GC()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var took, cpu []time.Duration
			for b.Loop() {
				c0 := threadCPU()
				d := v.Authorize(ctx, tok, readAccount)
				if c1 := threadCPU(); c0 > 0 && c1 > 0 {
					cpu = append(cpu, c1-c0)
				}
				if d.Allowed {
					b.Fatal("worst-case token allowed")
				}
				took = append(took, d.Duration)
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(took[len(took)-1].Microseconds()), "max-µs")
			if len(cpu) > 0 {
				var sum time.Duration
				for _, c := range cpu {
					sum += c
				}
				slices.Sort(cpu)
				b.ReportMetric(float64(sum.Microseconds())/float64(len(cpu)), "cpu-µs")
				b.ReportMetric(float64(cpu[len(cpu)*99/100].Microseconds()), "p99-cpu-µs")
				b.ReportMetric(float64(cpu[len(cpu)-1].Microseconds()), "max-cpu-µs")
			}
		})
	}
}
