package revocation_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/verifier/revocation"
	"github.com/mandate-dev/mandate/verifier/revocation/revocationtest"
)

func TestMemory(t *testing.T) {
	revocationtest.RunStoreTests(t, func(t *testing.T) revocation.Store {
		return revocation.NewMemory()
	})
}

// fakeClock is a settable clock for WithNow.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.set(t)
	return c
}
func (c *fakeClock) now() time.Time  { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestMemoryPurge(t *testing.T) {
	clock := newFakeClock(t0)
	m := revocation.NewMemory(revocation.WithNow(clock.now))
	id := revocationtest.ID
	ctx := context.Background()
	if err := m.Add(ctx,
		revocation.Entry{ID: id(1), Seq: 1, ExpiresAt: t0.Add(time.Minute)},
		revocation.Entry{ID: id(2), Seq: 2, ExpiresAt: t0.Add(2 * time.Minute)},
		revocation.Entry{ID: id(3), Seq: 3}, // never expires
		revocation.Entry{ID: id(4), Seq: 4, ExpiresAt: t0.Add(time.Minute)},
	); err != nil {
		t.Fatal(err)
	}
	// Re-adding id(4) with a later expiry must save it from the first purge.
	if err := m.Add(ctx, revocation.Entry{ID: id(4), Seq: 5, ExpiresAt: t0.Add(3 * time.Minute)}); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		now         time.Time
		wantRemoved int
		wantRevoked []uint64 // IDs still revoked after the purge
		wantGone    []uint64
	}{
		{t0, 0, []uint64{1, 2, 3, 4}, nil},
		// ExpiresAt is the last valid instant: not purged at it exactly.
		{t0.Add(time.Minute), 0, []uint64{1, 2, 3, 4}, nil},
		{t0.Add(time.Minute + time.Nanosecond), 1, []uint64{2, 3, 4}, []uint64{1}},
		{t0.Add(time.Minute + time.Second), 0, []uint64{2, 3, 4}, []uint64{1}},
		{t0.Add(time.Hour), 2, []uint64{3}, []uint64{1, 2, 4}},
		{t0.Add(100 * 365 * 24 * time.Hour), 0, []uint64{3}, []uint64{1, 2, 4}},
	}
	for _, st := range steps {
		if got := m.Purge(st.now); got != st.wantRemoved {
			t.Errorf("Purge(%v) removed %d, want %d", st.now, got, st.wantRemoved)
		}
		for _, n := range st.wantRevoked {
			if m.Revoked([][]byte{id(n)}) != 0 {
				t.Errorf("after Purge(%v): id(%d) not revoked, want revoked", st.now, n)
			}
		}
		for _, n := range st.wantGone {
			if m.Revoked([][]byte{id(n)}) != -1 {
				t.Errorf("after Purge(%v): id(%d) revoked, want purged", st.now, n)
			}
		}
		if got, want := m.Len(), len(st.wantRevoked); got != want {
			t.Errorf("after Purge(%v): Len = %d, want %d", st.now, got, want)
		}
	}
	if got := m.LastSeq(); got != 5 {
		t.Errorf("LastSeq after purges = %d, want 5 (purging never lowers it)", got)
	}
}

func TestMemoryAddSkipsExpired(t *testing.T) {
	clock := newFakeClock(t0)
	m := revocation.NewMemory(revocation.WithNow(clock.now))
	id := revocationtest.ID
	if err := m.Add(context.Background(),
		revocation.Entry{ID: id(1), Seq: 9, ExpiresAt: t0.Add(-time.Nanosecond)},
		revocation.Entry{ID: id(2), Seq: 1, ExpiresAt: t0}, // last valid instant: kept
		revocation.Entry{ID: id(3), Seq: 2, ExpiresAt: time.Unix(0, 0)},
	); err != nil {
		t.Fatal(err)
	}
	if got := m.Revoked([][]byte{id(1), id(3), id(2)}); got != 2 {
		t.Errorf("Revoked = %d, want 2 (only id(2) is not expired)", got)
	}
	if m.Len() != 1 || m.LastSeq() != 9 {
		t.Errorf("Len, LastSeq = %d, %d; want 1, 9", m.Len(), m.LastSeq())
	}
	// The clock moves: the same entry is now in the past and skipped.
	clock.set(t0.Add(time.Hour))
	if err := m.Add(context.Background(), revocation.Entry{ID: id(4), ExpiresAt: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if m.Revoked([][]byte{id(4)}) != -1 {
		t.Error("an entry expired by the injected clock was stored")
	}
}

func TestMemoryExtremeExpiries(t *testing.T) {
	m := revocation.NewMemory(revocation.WithNow(func() time.Time { return t0 }))
	id := revocationtest.ID
	farFuture := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	farPast := time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)
	if err := m.Add(context.Background(),
		revocation.Entry{ID: id(1), ExpiresAt: farFuture},
		revocation.Entry{ID: id(2), ExpiresAt: farPast},
	); err != nil {
		t.Fatal(err)
	}
	if m.Revoked([][]byte{id(1)}) != 0 {
		t.Error("entry expiring in year 9999 not revoked")
	}
	if m.Revoked([][]byte{id(2)}) != -1 {
		t.Error("entry expired in year 1 stored")
	}
	if n := m.Purge(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)); n != 0 {
		t.Errorf("Purge(year 3000) removed %d, want 0: an expiry past 2262 must not wrap around", n)
	}
}

func TestMemoryExpiresAt(t *testing.T) {
	m := revocation.NewMemory()
	id := revocationtest.ID
	exp := time.Now().Add(time.Hour)
	if err := m.Add(context.Background(), revocation.Entry{ID: id(1), Seq: 3, ExpiresAt: exp}, revocation.Entry{ID: []byte("short")}); err != nil {
		t.Fatal(err)
	}
	if got, ok := m.ExpiresAt(id(1)); !ok || !got.Equal(exp) {
		t.Errorf("ExpiresAt(id(1)) = %v, %v; want %v, true", got, ok, exp)
	}
	if got, ok := m.ExpiresAt([]byte("short")); !ok || !got.IsZero() {
		t.Errorf("ExpiresAt(never-expiring) = %v, %v; want the zero Time, true", got, ok)
	}
	if _, ok := m.ExpiresAt(id(2)); ok {
		t.Error("ExpiresAt of an ID never added reported found")
	}
	_ = m.Close()
	if _, ok := m.ExpiresAt(id(1)); ok {
		t.Error("ExpiresAt after Close reported found")
	}
}

func TestInvalidEntryError(t *testing.T) {
	m := revocation.NewMemory()
	err := m.Add(context.Background(), revocation.Entry{ID: revocationtest.ID(1)}, revocation.Entry{ID: []byte("x")}, revocation.Entry{ID: nil})
	if !errors.Is(err, revocation.ErrInvalidEntry) {
		t.Fatalf("err = %v, want ErrInvalidEntry", err)
	}
	// The message says which entry and what to do.
	for _, want := range []string{"entry 2 of 3", "0 bytes", "raw revocation ID bytes", "nothing in this batch was stored"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestRevokedDoesNotAllocate(t *testing.T) {
	m := revocation.NewMemory()
	id := revocationtest.ID
	if err := m.Add(context.Background(), revocation.Entry{ID: id(1)}); err != nil {
		t.Fatal(err)
	}
	miss := [][]byte{id(2), id(3), id(4), id(5)}
	hit := [][]byte{id(2), id(1)}
	allocs := testing.AllocsPerRun(100, func() {
		if m.Revoked(miss) != -1 || m.Revoked(hit) != 1 {
			panic("wrong answer")
		}
	})
	if allocs != 0 {
		t.Errorf("Revoked allocates %v times per call, want 0", allocs)
	}
}

// TestPurgeConcurrentWithAdd: an entry re-added with a later expiry while a
// purge runs is never removed.
func TestPurgeConcurrentWithAdd(t *testing.T) {
	clock := newFakeClock(t0)
	m := revocation.NewMemory(revocation.WithNow(clock.now))
	id := revocationtest.ID
	const n = 5000
	batch := make([]revocation.Entry, n)
	for i := range batch {
		batch[i] = revocation.Entry{ID: id(uint64(i)), ExpiresAt: t0.Add(time.Minute)}
	}
	if err := m.Add(context.Background(), batch...); err != nil {
		t.Fatal(err)
	}
	// Extend the even IDs while purging at t0+2m.
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < n; i += 2 {
			if err := m.Add(context.Background(), revocation.Entry{ID: id(uint64(i)), ExpiresAt: t0.Add(time.Hour)}); err != nil {
				panic(err)
			}
		}
	})
	m.Purge(t0.Add(2 * time.Minute))
	wg.Wait()
	for i := 0; i < n; i += 2 {
		if m.Revoked([][]byte{id(uint64(i))}) != 0 {
			t.Fatalf("id(%d), extended during the purge, was purged", i)
		}
	}
	m.Purge(t0.Add(2 * time.Minute))
	if got := m.Len(); got != n/2 {
		t.Errorf("Len after purges = %d, want %d", got, n/2)
	}
}

// BenchmarkRevokedLookup1M measures the hot path with 1,000,000 revoked IDs:
// a token's four revocation IDs none of which is revoked (the common case),
// and a list whose last ID is revoked. Target: ≤ 1 µs per call.
//
//	go test -run='^$' -bench=RevokedLookup1M ./verifier/revocation/
func BenchmarkRevokedLookup1M(b *testing.B) {
	const n = 1_000_000
	m := revocation.NewMemory()
	batch := make([]revocation.Entry, 0, 10_000)
	exp := time.Now().Add(time.Hour)
	for i := range n {
		batch = append(batch, revocation.Entry{ID: revocationtest.ID(uint64(i)), Seq: uint64(i + 1), ExpiresAt: exp})
		if len(batch) == cap(batch) {
			if err := m.Add(context.Background(), batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if m.Len() != n {
		b.Fatalf("Len = %d, want %d", m.Len(), n)
	}
	miss := [][]byte{revocationtest.ID(n + 1), revocationtest.ID(n + 2), revocationtest.ID(n + 3), revocationtest.ID(n + 4)}
	hit := [][]byte{revocationtest.ID(n + 1), revocationtest.ID(n + 2), revocationtest.ID(n + 3), revocationtest.ID(n / 2)}
	// The same four IDs every time stay in the CPU cache; a verifier sees
	// many tokens, so also cycle through 4096 lists of four cold misses.
	lists := make([][][]byte, 4096)
	for i := range lists {
		for j := range 4 {
			lists[i] = append(lists[i], revocationtest.ID(uint64(2*n+4*i+j)))
		}
	}
	b.Run("miss4/cold", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if m.Revoked(lists[i%len(lists)]) != -1 {
				b.Fatal("wrong answer")
			}
			i++
		}
	})
	for _, bc := range []struct {
		name string
		ids  [][]byte
		want int
	}{{"miss4", miss, -1}, {"hit4th", hit, 3}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if m.Revoked(bc.ids) != bc.want {
					b.Fatal("wrong answer")
				}
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if m.Revoked(bc.ids) != bc.want {
						panic(fmt.Sprint("wrong answer for ", bc.name))
					}
				}
			})
		})
	}
}
