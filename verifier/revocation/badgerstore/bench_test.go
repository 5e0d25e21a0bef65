package badgerstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/rs/zerolog"

	"github.com/mandate-dev/mandate/verifier/revocation"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if big.dir != "" {
		_ = os.RemoveAll(big.dir)
	}
	os.Exit(code)
}

const n1M = 1_000_000

// big is a database with n1M entries, built once per test binary by the
// benchmarks that need it and removed by TestMain.
var big struct {
	once  sync.Once
	dir   string
	err   error
	build time.Duration
}

// bigDB returns the directory of a closed store holding n1M unexpired
// entries (IDs revocationtest.ID(1..n1M), seqs 1..n1M), building it with a
// WriteBatch the first time.
func bigDB(b *testing.B) string {
	b.Helper()
	big.once.Do(func() {
		start := time.Now()
		big.dir, big.err = os.MkdirTemp("", "badgerstore-bench-")
		if big.err == nil {
			big.err = buildDB(big.dir, n1M)
		}
		big.build = time.Since(start)
	})
	if big.err != nil {
		b.Fatalf("building the %d-entry database: %v", n1M, big.err)
	}
	return big.dir
}

// buildDB writes n entries with the Store's key and value layout, without
// synced writes (it is a fixture, not a store).
func buildDB(dir string, n int) error {
	db, err := badger.Open(badgerOptions(dir, zerolog.Nop()).WithSyncWrites(false))
	if err != nil {
		return err
	}
	// Writing in key order makes Badger's memtable inserts cheap; the
	// resulting tables are the same as for random order.
	entries := make([]revocation.Entry, n)
	exp := time.Now().Add(24 * time.Hour)
	for i := range entries {
		entries[i] = revocation.Entry{ID: id(uint64(i + 1)), Seq: uint64(i + 1), ExpiresAt: exp}
	}
	slices.SortFunc(entries, func(a, b revocation.Entry) int { return bytes.Compare(a.ID, b.ID) })
	wb := db.NewWriteBatch()
	for _, e := range entries {
		be := badger.NewEntry(entryKey(e.ID), encodeValue(e))
		be.ExpiresAt = badgerExpiry(exp)
		if err := wb.SetEntry(be); err != nil {
			wb.Cancel()
			_ = db.Close()
			return err
		}
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(n))
	if err := wb.Set(metaLastSeq, v[:]); err != nil {
		wb.Cancel()
		_ = db.Close()
		return err
	}
	if err := wb.Flush(); err != nil {
		_ = db.Close()
		return err
	}
	return db.Close()
}

// BenchmarkOpen1M measures restart to serving: Open of a store holding
// 1,000,000 entries, which returns once all of them are in memory. Target:
// ≤ 2 s/open. The database is built once (a few seconds) and is in the page
// cache, as after a process restart; a cold disk adds its read time.
//
//	go test -run='^$' -bench=Open1M -benchtime=5x ./verifier/revocation/badgerstore/
func BenchmarkOpen1M(b *testing.B) {
	dir := bigDB(b)
	b.Logf("built %d entries in %v", n1M, big.build.Round(time.Millisecond))
	var opening time.Duration
	for b.Loop() {
		start := time.Now()
		s, err := Open(dir)
		opening += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if s.Len() != n1M || s.LastSeq() != n1M {
			b.Fatalf("reopened with Len %d, LastSeq %d; want %d, %d", s.Len(), s.LastSeq(), n1M, n1M)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(opening.Seconds()/float64(b.N), "s/open")
}

// BenchmarkRevokedLookup1M measures the hot path of a Store opened with
// 1,000,000 entries: a 4-ID list with no revoked ID, and one whose 4th ID is
// revoked. Target: ≤ 1 µs.
//
//	go test -run='^$' -bench=RevokedLookup1M ./verifier/revocation/badgerstore/
func BenchmarkRevokedLookup1M(b *testing.B) {
	s, err := Open(bigDB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	miss := [][]byte{id(n1M + 1), id(n1M + 2), id(n1M + 3), id(n1M + 4)}
	hit := [][]byte{id(n1M + 1), id(n1M + 2), id(n1M + 3), id(n1M / 2)}
	for _, bc := range []struct {
		name string
		ids  [][]byte
		want int
	}{{"miss4", miss, -1}, {"hit4th", hit, 3}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got := s.Revoked(bc.ids); got != bc.want {
					b.Fatal(fmt.Sprintf("Revoked = %d, want %d", got, bc.want))
				}
			}
		})
	}
}
