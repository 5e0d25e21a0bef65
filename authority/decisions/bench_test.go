package decisions_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/decisions"
	"github.com/mandate-dev/mandate/token"
)

const (
	benchSessions  = 10000
	benchDecisions = 1000000
)

var (
	bigOnce sync.Once
	bigLog  *decisions.Log
	bigErr  error
	bigDir  string
	bigTook time.Duration
)

// bigFixture builds, once per benchmark run, a decision log on the
// authority's Badger store (on disk, synchronous writes) holding 1,000,000
// decisions of 10,000 sessions (100 each, spread over the whole log),
// through the room's own API (Append), not HTTP.
func bigFixture(b *testing.B) *decisions.Log {
	bigOnce.Do(func() {
		start := time.Now()
		bigDir, bigErr = os.MkdirTemp("", "mandate-decisions-bench-")
		if bigErr != nil {
			return
		}
		st, err := authority.OpenBadgerStore(bigDir, authority.BadgerOptions{})
		if err != nil {
			bigErr = err
			return
		}
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		l, err := decisions.Open(context.Background(), st.Namespace("decisions"), decisions.Config{
			SignInterval: -1, Sign: func(m []byte) (uint32, []byte) { return 1, ed25519.Sign(priv, m) }})
		if err != nil {
			bigErr = err
			return
		}
		const batch = decisions.MaxBatch
		var wg sync.WaitGroup
		var mu sync.Mutex
		next := 0
		t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				recs := make([]token.DecisionRecord, batch)
				for {
					mu.Lock()
					first := next
					next += batch
					mu.Unlock()
					if first >= benchDecisions || bigErr != nil {
						return
					}
					for j := range recs {
						n := first + j
						recs[j] = rec(n, fmt.Sprintf("platform/s_%05d", n%benchSessions), fmt.Sprintf("agent-%d", n%50), fmt.Sprintf("org-%d", n%20), (n/benchSessions)%5 != 0, 0)
						recs[j].Time = t0.Add(time.Duration(n) * time.Millisecond)
					}
					if _, err := l.Append(context.Background(), "bench", recs); err != nil {
						mu.Lock()
						bigErr = err
						mu.Unlock()
						return
					}
				}
			}()
		}
		wg.Wait()
		bigLog, bigTook = l, time.Since(start)
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	return bigLog
}

// BenchmarkSessionQuery1M reads one session's decisions (a page of 100,
// newest first: what the console's session page shows) from a log of
// 1,000,000 decisions of 10,000 sessions. It reports ms/op (goal: well
// under 100 ms). Building the fixture takes a while, once per run; its
// time is printed as fixture_s.
//
//	go test -run '^$' -bench SessionQuery1M -benchtime 2000x ./authority/decisions/
func BenchmarkSessionQuery1M(b *testing.B) {
	l := bigFixture(b)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		s := fmt.Sprintf("platform/s_%05d", (i*7919)%benchSessions)
		p, err := l.Query(ctx, decisions.Query{Filter: decisions.Filter{Session: s}, Limit: 100}, decisions.Scope{All: true})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Decisions) != 100 {
			b.Fatalf("session %s: %d decisions, want 100", s, len(p.Decisions))
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/op")
	b.ReportMetric(bigTook.Seconds(), "fixture_s")
}

// BenchmarkSessionDenialsQuery1M is the session page's "denied only"
// filter on the same log: 20 of a session's 100 decisions.
func BenchmarkSessionDenialsQuery1M(b *testing.B) {
	l := bigFixture(b)
	ctx := context.Background()
	no := false
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		s := fmt.Sprintf("platform/s_%05d", (i*7919)%benchSessions)
		p, err := l.Query(ctx, decisions.Query{Filter: decisions.Filter{Session: s, Allowed: &no}, Limit: 100}, decisions.Scope{All: true})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Decisions) != 20 {
			b.Fatalf("session %s: %d denials, want 20", s, len(p.Decisions))
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/op")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bigLog != nil {
		bigLog.Close()
	}
	if bigDir != "" {
		_ = os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

// BenchmarkAppend stores decisions through the room's API (no HTTP) on the
// authority's Badger store, in batches of 500 from 4 goroutines: the
// storage side of ingest. It reports decisions/s.
//
//	go test -run '^$' -bench Append -benchtime 200000x ./authority/decisions/
func BenchmarkAppend(b *testing.B) {
	st, err := authority.OpenBadgerStore(b.TempDir(), authority.BadgerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	l, err := decisions.Open(context.Background(), st.Namespace("decisions"), decisions.Config{
		SignInterval: -1, Sign: func(m []byte) (uint32, []byte) { return 1, ed25519.Sign(priv, m) }})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const batch = 500
	recs := make([]token.DecisionRecord, batch)
	for j := range recs {
		recs[j] = rec(j, fmt.Sprintf("platform/s_%05d", j*37%benchSessions), "support-bot", "acme", j%5 != 0, j%60)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	left := b.N
	b.ResetTimer()
	start := time.Now()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				n := min(left, batch)
				left -= n
				mu.Unlock()
				if n == 0 {
					return
				}
				if _, err := l.Append(context.Background(), "bench", recs[:n]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "decisions/s")
}
