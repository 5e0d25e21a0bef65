package authority_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/token"
)

// BenchmarkDecisionIngestHTTP ships decisions to the authority's decision
// log over real HTTP on 127.0.0.1, in batches of 500 (the shipper's
// default) from 4 verifiers at once, against the Badger store on disk with
// synchronous writes, while a client mints tokens over HTTP all along. It
// reports decisions/s (goal: ≥ 20,000 on 2 cores), the mints/s achieved
// meanwhile, and decisions/s@2cpu: the rate 2 dedicated cores would give
// at the CPU this process used (see below). With DECISION_BENCH_MEMORY=1 it runs on the memory store,
// to show what the disk costs.
//
//	go test -run '^$' -bench DecisionIngestHTTP -benchtime 200000x ./authority/
func BenchmarkDecisionIngestHTTP(b *testing.B) {
	a, srv, secret := benchAuthority(b, "DECISION_BENCH_MEMORY")
	_, cred, err := a.AddVerifier(context.Background(), authority.Principal{Admin: true}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	const batchSize, senders = 500, 4
	// Realistic records: 10,000 sessions, a 3-block chain, one in five
	// denied by a caveat.
	batches := make([][]byte, 16)
	for i := range batches {
		recs := make([]token.DecisionRecord, batchSize)
		for j := range recs {
			n := i*batchSize + j
			r := token.DecisionRecord{
				ID: fmt.Sprintf("d_0123456789ab_%x", n), Time: time.Now().UTC(), Allowed: n%5 != 0, Reason: "allowed",
				Service: "crm", Tool: "get_account", Operation: "read", Resource: fmt.Sprintf("account:acme/%d", n%977),
				ArgNames: []string{"limit", "page"}, Session: fmt.Sprintf("platform/s_%05d", n%10000), Agent: "support-bot",
				User: "alice@acme.test", Org: "acme", DelegatedTo: []string{"triage", "reader"},
				RevocationIDs: []string{hex64(n), hex64(n + 1), hex64(n + 2)}, DurationNS: 21000,
			}
			if !r.Allowed {
				blk, chk := 2, 0
				r.Kind, r.Reason, r.FailedBlock, r.FailedCheck = "caveat_denied", "block 2 check 0: check if resource($r), $r.starts_with(\"account:acme/42\"); an attenuation forbids this call", &blk, &chk
				r.CheckText = `check if resource($r), $r.starts_with("account:acme/42")`
			}
			recs[j] = r
		}
		batches[i], _ = json.Marshal(map[string]any{"decisions": recs})
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}}
	post := func(url, bearer string, body []byte, want int) error {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+bearer)
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	}
	mintBody, _ := json.Marshal(crmMint(""))
	stop := make(chan struct{})
	var mints atomic.Int64
	var mintWG sync.WaitGroup
	mintWG.Add(1)
	go func() {
		defer mintWG.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := post(srv.URL+"/v1/tokens", secret, mintBody, http.StatusCreated); err != nil {
				b.Error(err)
				return
			}
			mints.Add(1)
		}
	}()
	total := (b.N + batchSize - 1) / batchSize
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				if err := post(srv.URL+"/v1/decisions", cred, batches[i%int64(len(batches))], http.StatusOK); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	close(stop)
	mintWG.Wait()
	n := float64(total * batchSize)
	b.ReportMetric(n/elapsed.Seconds(), "decisions/s")
	b.ReportMetric(float64(mints.Load())/elapsed.Seconds(), "mints/s")
	if cpu > 0 {
		// On a shared machine wall time counts other processes' work:
		// decisions per CPU-second of this process (the authority, the
		// senders and the minting client all included) times 2 is what
		// 2 dedicated cores would sustain if the work stays CPU-bound.
		b.ReportMetric(2*n/cpu.Seconds(), "decisions/s@2cpu")
	}
	if seq, _ := a.Decisions().Head(); seq != uint64(total*batchSize) {
		b.Fatalf("stored %d decisions, sent %d", seq, total*batchSize)
	}
}

func hex64(n int) string { return fmt.Sprintf("%0128x", n) }
