package authority_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// BenchmarkMintHTTP mints tokens over real HTTP on 127.0.0.1 from many
// parallel clients, against the Badger store with synchronous writes: each
// response is sent only once the token's record is on disk. It reports
// tokens/s (goal: ≥ 5,000 on 2 cores) and the mean number of mints per
// storage commit (the group-commit batch size). With MINT_BENCH_MEMORY=1
// it runs on the memory store instead, to show what the disk costs.
//
//	go test -run '^$' -bench MintHTTP -benchtime 5s ./authority/
func BenchmarkMintHTTP(b *testing.B) {
	a, srv, secret := benchAuthority(b, "MINT_BENCH_MEMORY")
	body, err := json.Marshal(crmMint(""))
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}
	url := srv.URL + "/v1/tokens"
	b.SetParallelism(64) // 64 × GOMAXPROCS concurrent clients
	batches0 := a.Stats().Batches.Load()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+secret)
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusCreated {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tokens/s")
	if n := a.Stats().Batches.Load() - batches0; n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "mints/commit")
	}
}

// benchAuthority serves an authority on Badger in a temporary folder (on
// the memory store when the environment variable memoryEnv is set) over
// 127.0.0.1, with a client "platform" of the crm ceiling whose secret it
// returns. Both close when the benchmark ends.
func benchAuthority(b *testing.B, memoryEnv string) (*authority.Authority, *httptest.Server, string) {
	b.Helper()
	var opts []authority.Option
	if os.Getenv(memoryEnv) != "" {
		opts = append(opts, authority.WithStore(authority.NewMemoryStore()))
	}
	a, err := authority.Open(context.Background(), authority.Config{DataDir: b.TempDir(), AdminToken: adminToken, AdminTokenOutput: io.Discard}, opts...)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(authority.NewHandler(a))
	b.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	c, err := a.RegisterClient(context.Background(), authority.Principal{Admin: true}, "platform", authority.Ceiling{
		Services: crmCeiling.Services, Tools: crmCeiling.Tools, Operations: crmCeiling.Operations,
		ResourcePrefixes: crmCeiling.ResourcePrefixes, Orgs: crmCeiling.Orgs, MaxTTL: time.Hour,
	})
	if err != nil {
		b.Fatal(err)
	}
	return a, srv, c.Secret
}

// BenchmarkRevocationPropagation measures the time from a revocation API
// call returning until N following verifiers deny the token (N = 1 and
// N = 50). Each follower has its own memory store, key set, verifier and
// HTTP transport, and follows the real authority (Badger, synchronous
// writes) over 127.0.0.1 with long polls. It reports the p50 and p99 of
// "until all N deny" (goal: p99 ≤ 1 s), and the p99 of single followers.
//
//	go test -run '^$' -bench RevocationPropagation -benchtime 200x ./authority/
func BenchmarkRevocationPropagation(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) { benchPropagation(b, n) })
	}
}

func benchPropagation(b *testing.B, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := authority.Open(ctx, authority.Config{DataDir: b.TempDir(), AdminToken: adminToken, AdminTokenOutput: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(authority.NewHandler(a))
	defer func() {
		cancel()
		a.Shutdown()
		srv.Close()
		a.Close()
	}()

	type follower struct {
		f *follow.Follower
		v *verifier.Verifier
	}
	fs := make([]follower, n)
	var runs sync.WaitGroup
	defer runs.Wait()
	defer cancel()
	for i := range fs {
		store := revocation.NewMemory()
		keys := token.NewKeySet()
		root := a.Keys()[0]
		f, err := follow.New(follow.Config{Authority: srv.URL, Store: store, Keys: keys, TrustAnchors: []token.PublicKey{{ID: root.ID, Key: root.PublicKey}}})
		if err != nil {
			b.Fatal(err)
		}
		v, err := verifier.New(verifier.Config{Keys: keys, Revocations: store, Fresh: f.Fresh})
		if err != nil {
			b.Fatal(err)
		}
		fs[i] = follower{f, v}
		runs.Add(1)
		go func() {
			defer runs.Done()
			_ = f.Run(ctx)
		}()
	}
	for _, f := range fs {
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		err := f.f.WaitSeq(wctx, 0)
		wcancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	// Tokens to revoke, minted up front; every follower allows them.
	toks := make([]string, b.N)
	for i := range toks {
		m, err := a.Mint(ctx, authority.Principal{Admin: true}, authority.MintRequest{
			Agent: "bench", Rights: crmMint("").Rights, TTL: time.Hour,
		})
		if err != nil {
			b.Fatal(err)
		}
		toks[i] = m.Token
	}
	for _, f := range fs {
		if d := f.v.Authorize(ctx, toks[0], crmRead); !d.Allowed {
			b.Fatalf("follower denies a live token before the benchmark: %s", d.Reason)
		}
	}
	client := &http.Client{}
	all := make([]time.Duration, 0, b.N)
	single := make([]time.Duration, 0, b.N*n)
	lat := make([]time.Duration, n)
	b.ResetTimer()
	for i := range b.N {
		body, _ := json.Marshal(map[string]string{"token": toks[i]})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/revocations", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var rr revokeResp
		err = json.NewDecoder(res.Body).Decode(&rr)
		res.Body.Close()
		returned := time.Now()
		if err != nil || res.StatusCode != http.StatusOK || len(rr.Entries) != 1 {
			b.Fatalf("revoke: %d %v %+v", res.StatusCode, err, rr)
		}
		seq := rr.Entries[0].Seq
		var wg sync.WaitGroup
		for j, f := range fs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
				defer wcancel()
				if err := f.f.WaitSeq(wctx, seq); err != nil {
					b.Error(err)
					return
				}
				d := f.v.Authorize(wctx, toks[i], crmRead)
				lat[j] = time.Since(returned)
				if d.Allowed || !errors.Is(d.Err, verifier.ErrRevoked) {
					b.Errorf("follower %d: revoked token not denied as revoked: %s", j, d.Reason)
				}
			}()
		}
		wg.Wait()
		all = append(all, slices.Max(lat))
		single = append(single, lat...)
	}
	b.StopTimer()
	slices.Sort(all)
	slices.Sort(single)
	pct := func(s []time.Duration, p float64) float64 {
		return float64(s[min(len(s)-1, int(float64(len(s))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(all, 0.50), "p50-ms")
	b.ReportMetric(pct(all, 0.99), "p99-ms")
	b.ReportMetric(pct(all, 1), "max-ms")
	b.ReportMetric(pct(single, 0.99), "p99-one-follower-ms")
}
