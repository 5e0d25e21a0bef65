package authority_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
)

// BenchmarkMintHTTP mints tokens over real HTTP on 127.0.0.1 from many
// parallel clients, against the Badger store with synchronous writes: each
// response is sent only once the token's record is on disk. It reports
// tokens/s (goal: ≥ 5,000 on 2 cores) and the mean number of mints per
// storage commit (the group-commit batch size).
//
//	go test -run '^$' -bench MintHTTP -benchtime 5s ./authority/
func BenchmarkMintHTTP(b *testing.B) {
	a, err := authority.Open(context.Background(), authority.Config{DataDir: b.TempDir(), AdminToken: adminToken, AdminTokenOutput: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(authority.NewHandler(a))
	defer func() {
		srv.Close()
		a.Close()
	}()
	e := &env{t: &testing.T{}, a: a, srv: srv}
	// The benchmark's own requests use the client below; register with
	// the server's client.
	c, err := a.RegisterClient(context.Background(), authority.Principal{Admin: true}, "platform", authority.Ceiling{
		Services: crmCeiling.Services, Tools: crmCeiling.Tools, Operations: crmCeiling.Operations,
		ResourcePrefixes: crmCeiling.ResourcePrefixes, Orgs: crmCeiling.Orgs, MaxTTL: time.Hour,
	})
	if err != nil {
		b.Fatal(err)
	}
	_ = e
	body, err := json.Marshal(crmMint(""))
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}
	url := srv.URL + "/v1/tokens"
	b.SetParallelism(32) // 32 × GOMAXPROCS concurrent clients
	batches0 := a.Stats().Batches.Load()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+c.Secret)
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
