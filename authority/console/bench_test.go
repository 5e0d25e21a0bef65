package console_test

import (
	"context"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/token"
)

// Fixture sizes of the console's number: the session page answers in
// ≤ 100 ms with this many sessions stored (and the decision log's
// decisions, see benchDecisions).
const benchSessions = 10000

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

// BenchmarkSessionPage is the console's number: one session page, over
// HTTP, signed in, with benchSessions sessions stored. It reports ms/op.
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
