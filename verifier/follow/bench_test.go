package follow_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/verifier/follow"
)

// BenchmarkFollowerCatchUp measures a follower catching up a log of 100,000
// entries over HTTP (a 127.0.0.1 fake authority paging 1,000 entries per
// response) into an empty Memory store, as a new verifier does at its first
// start. Reported as entries/s.
//
//	go test -run='^$' -bench=FollowerCatchUp ./verifier/follow/
func BenchmarkFollowerCatchUp(b *testing.B) {
	const n = 100_000
	a := newFakeAuthority(b)
	a.addN(1, n, time.Now().Add(time.Hour))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		cfg := testConfig(a)
		f := newFollower(b, cfg)
		if err := f.SyncOnce(ctx); err != nil {
			b.Fatal(err)
		}
		if cfg.Store.Len() != n {
			b.Fatalf("Len = %d, want %d", cfg.Store.Len(), n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkFresh is the cost Fresh adds to every verifier decision.
func BenchmarkFresh(b *testing.B) {
	a := newFakeAuthority(b)
	f := newFollower(b, testConfig(a))
	mustSync(b, f)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if f.Fresh() != nil {
				panic("stale")
			}
		}
	})
}

// BenchmarkManyFollowers measures, for N followers in one process (each
// with its own Memory store, each held in a long poll of a 127.0.0.1 fake
// authority), the time from a revocation entering the log until every
// follower has applied it; it reports p50 and p99 over the iterations. The
// authority's BenchmarkRevocationPropagation measures the same end to end
// against the real authority, from the revocation API call.
//
//	go test -run='^$' -bench=ManyFollowers ./verifier/follow/
func BenchmarkManyFollowers(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("followers=%d", n), func(b *testing.B) {
			a := newFakeAuthority(b)
			fs := make([]*follow.Follower, n)
			for i := range fs {
				fs[i] = newFollower(b, testConfig(a))
				run(b, fs[i])
				waitSeq(b, fs[i], 0)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var lat []time.Duration
			var seq uint64
			for b.Loop() {
				b.StopTimer()
				waitFor(b, "every follower held in a long poll", func() bool { return a.held() == n })
				b.StartTimer()
				start := time.Now()
				seq = a.addN(seq+1, 1, time.Now().Add(time.Hour))
				for _, f := range fs {
					if err := f.WaitSeq(ctx, seq); err != nil {
						b.Fatal(err)
					}
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
