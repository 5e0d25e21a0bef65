package console_test

import (
	"context"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/decisions"
	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/token"
)

// Fixture sizes of the console's number: the session page answers in
// ≤ 100 ms with benchSessions sessions and benchDecisions() decisions
// stored.
const benchSessions = 10000

// benchDecisions is 1,000,000 unless MANDATE_BENCH_DECISIONS says otherwise
// (building the full fixture takes a minute or more).
func benchDecisions(b *testing.B) int {
	if v := os.Getenv("MANDATE_BENCH_DECISIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			b.Fatalf("MANDATE_BENCH_DECISIONS=%q: want a count", v)
		}
		return n
	}
	return 1000000
}

// storeDecisions appends n decisions spread over the sessions to the
// decision log through its own API, in batches of decisions.MaxBatch from a
// few goroutines (the log commits concurrent batches together). Each
// session's decisions come from its authority block and two hops.
func storeDecisions(b *testing.B, a *authority.Authority, n int) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	now := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				first := int(next.Add(decisions.MaxBatch)) - decisions.MaxBatch
				if first >= n {
					return
				}
				recs := make([]token.DecisionRecord, 0, decisions.MaxBatch)
				for i := first; i < min(n, first+decisions.MaxBatch); i++ {
					s := i % benchSessions
					hop := 1 + i%2
					rec := token.DecisionRecord{
						ID: fmt.Sprintf("d%08d", i), Time: now.Add(time.Duration(i) * time.Microsecond), Allowed: i%5 != 0,
						Reason: "allowed", Service: "github", Tool: "read_file", Operation: "read", Resource: fmt.Sprintf("repo:acme/r%d", i%97),
						Session: fmt.Sprintf("platform/s%05d", s), Agent: fmt.Sprintf("agent-%d", s%50), User: "alice@acme.test", Org: "acme",
						DelegatedTo:   []string{fmt.Sprintf("sub-%d", hop)},
						RevocationIDs: []string{hex.EncodeToString(benchID(uint64(3*s + 1))), hex.EncodeToString(benchID(uint64(1<<32 + 2*s + hop)))},
						DurationNS:    20000,
					}
					if !rec.Allowed {
						rec.Kind, rec.Reason = "caveat_denied", "a check failed: block 1 check 0"
					}
					recs = append(recs, rec)
				}
				if _, err := a.Decisions().Append(ctx, "bench", recs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.Logf("stored %d decisions in %s", n, time.Since(start).Round(time.Millisecond))
}

// benchID is a deterministic 64-byte revocation ID.
func benchID(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	sum := sha512.Sum512(b[:])
	return sum[:]
}

// benchFixture stores benchSessions sessions of three tokens each directly
// through the Badger store, opens the authority on it with the console,
// and returns a signed-in admin client and the URL of one session's page.
func benchFixture(b *testing.B) (*http.Client, string) {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	st, err := authority.OpenBadgerStore(filepath.Join(dir, "db"), authority.BadgerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	rights := []token.Right{{Service: "github", Tool: "*", Operation: "read", Resource: "repo:acme/"}}
	var n uint64
	for s := 0; s < benchSessions; {
		batch := &authority.Batch{Now: now}
		for ; s < benchSessions && len(batch.Mints) < 300; s++ {
			for range 3 {
				n++
				batch.Mints = append(batch.Mints, authority.MintOp{Token: authority.TokenRecord{
					RevocationID: benchID(n), Session: fmt.Sprintf("platform/s%05d", s), Agent: fmt.Sprintf("agent-%d", s%50),
					User: "alice@acme.test", Org: "acme", ClientID: "", KeyID: 1, IssuedAt: now, ExpiresAt: now.Add(time.Hour), Rights: rights,
				}})
			}
		}
		if err := st.Apply(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	a, err := authority.Open(ctx, authority.Config{DataDir: dir, AdminToken: adminToken, AdminTokenOutput: io.Discard}, authority.WithStore(st))
	if err != nil {
		b.Fatal(err)
	}
	storeDecisions(b, a, benchDecisions(b))
	base := serveConsole(b, a)
	_, cred, err := a.AddPerson(ctx, authority.Principal{Admin: true}, people.Person{Name: "root", Role: people.RoleAdmin})
	if err != nil {
		b.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Get(base + "/console/signin")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pre := preRE.FindSubmatch(body)
	resp, err = hc.PostForm(base+"/console/signin", url.Values{"name": {"root"}, "credential": {cred}, "pre": {string(pre[1])}})
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	return hc, base + "/console/session?id=" + url.QueryEscape(fmt.Sprintf("platform/s%05d", benchSessions/2))
}

// BenchmarkSessionPage is the console's number: one session page (its
// tree drawn from its latest decisions), over HTTP, signed in, with
// benchSessions sessions and benchDecisions decisions stored. It reports
// ms/op.
func BenchmarkSessionPage(b *testing.B) {
	hc, page := benchFixture(b)
	get := func() {
		resp, err := hc.Get(page)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("session page: %d", resp.StatusCode)
		}
	}
	get()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		get()
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/op")
}

// BenchmarkSessionsPage is the sessions list's first page with the same
// fixture.
func BenchmarkSessionsPage(b *testing.B) {
	hc, page := benchFixture(b)
	list, _ := url.Parse(page)
	list.Path, list.RawQuery = "/console/sessions", "status=active"
	start := time.Now()
	for b.Loop() {
		resp, err := hc.Get(list.String())
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/op")
}
