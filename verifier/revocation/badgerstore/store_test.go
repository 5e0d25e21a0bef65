package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/rs/zerolog"

	"github.com/mandate-dev/mandate/verifier/revocation"
	"github.com/mandate-dev/mandate/verifier/revocation/revocationtest"
)

var id = revocationtest.ID

func openT(t *testing.T, dir string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(dir, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	revocationtest.RunStoreTests(t, func(t *testing.T) revocation.Store {
		return openT(t, t.TempDir())
	})
}

func TestDurable(t *testing.T) {
	revocationtest.RunDurableStoreTests(t, func(t *testing.T, dir string) revocation.Store {
		return openT(t, dir)
	})
}

func TestCoveredSeq(t *testing.T) {
	seqs := func(ss ...uint64) []revocation.Entry {
		out := make([]revocation.Entry, len(ss))
		for i, s := range ss {
			out[i] = revocation.Entry{ID: id(uint64(i)), Seq: s}
		}
		return out
	}
	tests := []struct {
		name   string
		sorted []revocation.Entry
		end    int
		want   uint64
	}{
		{"nothing written", seqs(1, 2), 0, 0},
		{"all written", seqs(1, 2, 3), 3, 3},
		{"chunk ends between seqs", seqs(1, 2, 3), 2, 2},
		{"chunk splits a seq", seqs(1, 2, 5, 5, 6), 3, 2},
		{"chunk splits the first seq", seqs(4, 4, 4), 2, 0},
		{"chunk ends after a group", seqs(1, 5, 5, 6), 3, 5},
		{"local entries only", seqs(0, 0), 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := coveredSeq(tt.sorted, tt.end); got != tt.want {
				t.Errorf("coveredSeq(end=%d) = %d, want %d", tt.end, got, tt.want)
			}
		})
	}
}

// cancelAfter is a context whose Err starts returning context.Canceled
// after n calls: it cancels an Add between two of its chunks.
type cancelAfter struct {
	context.Context
	n atomic.Int32
}

func (c *cancelAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestChunkedAdd writes a batch in many small transactions, in Seq order
// whatever the order given, and checks that an Add interrupted between two
// transactions never records a LastSeq beyond what it stored.
func TestChunkedAdd(t *testing.T) {
	// 60 entries, seqs 101..130 each used twice (one log entry revoking two
	// blocks), shuffled.
	var batch []revocation.Entry
	for i := range 60 {
		batch = append(batch, revocation.Entry{ID: id(uint64(i)), Seq: uint64(101 + i/2)})
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })

	// The first ctx.Err() call is Add's check before it takes the lock, the
	// next ones are made before each chunk: cancelAt = c lets c-1 chunks of
	// 7 entries through.
	for _, cancelAt := range []int{0, 1, 2, 3, 5, 8, 100} {
		t.Run(fmt.Sprintf("cancel after %d checks", cancelAt), func(t *testing.T) {
			dir := t.TempDir()
			s := openT(t, dir)
			s.chunk = 7 // odd, so chunks split pairs sharing a seq
			ctx := &cancelAfter{Context: context.Background()}
			ctx.n.Store(int32(cancelAt))
			err := s.Add(ctx, batch...)
			if cancelAt < 100 && !errors.Is(err, context.Canceled) {
				t.Fatalf("Add = %v, want context.Canceled", err)
			}
			if cancelAt == 100 && err != nil {
				t.Fatalf("Add: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openT(t, dir)
			defer s.Close()
			last := s.LastSeq()
			stored := 0
			for _, e := range batch {
				revoked := s.Revoked([][]byte{e.ID}) == 0
				if revoked {
					stored++
				}
				if e.Seq <= last && !revoked {
					t.Errorf("LastSeq is %d but the entry with seq %d is missing", last, e.Seq)
				}
			}
			t.Logf("cancel at check %d: %d entries stored, LastSeq %d", cancelAt, stored, last)
			wantStored, wantLast := min(60, 7*max(cancelAt-1, 0)), uint64(0)
			if cancelAt == 100 {
				wantLast = 130
			}
			if stored != wantStored {
				t.Errorf("%d entries stored, want %d", stored, wantStored)
			}
			if cancelAt == 100 && last != wantLast {
				t.Errorf("LastSeq after a complete Add = %d, want %d", last, wantLast)
			}
			// Chunks of 7 end mid-pair, so LastSeq lags one seq behind the
			// highest stored entry: with 7k entries stored, seqs 101 up to
			// 101+(7k-1)/2 are complete except the last.
			if cancelAt > 1 && cancelAt < 100 {
				if want := uint64(100 + stored/2); last != want {
					t.Errorf("LastSeq after %d entries = %d, want %d (the last complete pair)", stored, last, want)
				}
			}
		})
	}
}

func TestAddSkipsUselessWrites(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	if err := s.Add(ctx, revocation.Entry{ID: id(1), Seq: 1, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	before := s.db.MaxVersion()
	// Same ID, no later expiry, no higher seq: nothing to write.
	if err := s.Add(ctx,
		revocation.Entry{ID: id(1), Seq: 1, ExpiresAt: exp.Add(-time.Minute)},
		revocation.Entry{ID: id(2), ExpiresAt: time.Now().Add(-time.Minute)}, // expired
	); err != nil {
		t.Fatal(err)
	}
	if after := s.db.MaxVersion(); after != before {
		t.Errorf("a no-op Add committed a transaction (version %d -> %d)", before, after)
	}
	// A repeated ID inside one batch keeps the latest expiry, wherever it is.
	if err := s.Add(ctx,
		revocation.Entry{ID: id(3), Seq: 2, ExpiresAt: exp.Add(time.Hour)},
		revocation.Entry{ID: id(3), Seq: 2, ExpiresAt: exp},
	); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ExpiresAt(id(3)); !got.Equal(exp.Add(time.Hour)) {
		t.Errorf("ExpiresAt of an ID given twice in a batch = %v, want the later %v", got, exp.Add(time.Hour))
	}
}

func TestValueRoundTrip(t *testing.T) {
	for _, e := range []revocation.Entry{
		{Seq: 0},
		{Seq: 1<<64 - 1, ExpiresAt: time.Date(2026, 11, 22, 10, 15, 0, 123456789, time.UTC)},
		{Seq: 42, ExpiresAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{Seq: 7, ExpiresAt: time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC)},
	} {
		seq, exp, err := decodeValue(encodeValue(e))
		if err != nil || seq != e.Seq || !exp.Equal(e.ExpiresAt) || exp.IsZero() != e.ExpiresAt.IsZero() {
			t.Errorf("decode(encode(%d, %v)) = %d, %v, %v", e.Seq, e.ExpiresAt, seq, exp, err)
		}
	}
	for _, v := range [][]byte{nil, {1}, make([]byte, valueLen), append([]byte{2}, make([]byte, valueLen-1)...)} {
		if _, _, err := decodeValue(v); err == nil {
			t.Errorf("decodeValue(%x) = nil error, want an error", v)
		}
	}
}

func TestBadgerExpiry(t *testing.T) {
	tests := []struct {
		in   time.Time
		want uint64
	}{
		{time.Time{}, 0},
		{time.Unix(1000, 0), 1000},
		{time.Unix(1000, 1), 1001}, // rounded up: never forgotten early
		{time.Unix(0, 0), 1},       // 0 would mean "never"
		{time.Unix(-5, 0), 1},
	}
	for _, tt := range tests {
		if got := badgerExpiry(tt.in); got != tt.want {
			t.Errorf("badgerExpiry(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestCorruptValueFailsClosed: an entry whose value cannot be decoded is
// kept revoked, with no expiry, and logged.
func TestCorruptValueFailsClosed(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	if err := s.Add(context.Background(), revocation.Entry{ID: id(1), Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(entryKey(id(2)), []byte("garbage"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	// A logger that takes every level: the store must drop Badger's info
	// messages itself (Open logs several).
	s = openT(t, dir, WithLogger(zerolog.New(&logs).Level(zerolog.TraceLevel)))
	defer s.Close()
	if got := s.Revoked([][]byte{id(2)}); got != 0 {
		t.Errorf("Revoked(corrupt entry) = %d, want 0", got)
	}
	if got, ok := s.ExpiresAt(id(2)); !ok || !got.IsZero() {
		t.Errorf("ExpiresAt(corrupt entry) = %v, %v; want held with no expiry", got, ok)
	}
	if !strings.Contains(logs.String(), "unreadable entry kept as revoked") {
		t.Errorf("no warning logged for the corrupt entry; logs: %q", logs.String())
	}
	if strings.Contains(logs.String(), `"level":"info"`) {
		t.Errorf("Badger's info messages reached the logger: %q", logs.String())
	}
}

func TestOpenTwiceFails(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	defer s.Close()
	_, err := Open(dir)
	if err == nil {
		t.Fatal("a second Open of a directory in use succeeded")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "another process") {
		t.Errorf("error %q does not say what to check", err)
	}
}

func TestOpenNotADirectory(t *testing.T) {
	f := t.TempDir() + "/file"
	if err := os.WriteFile(f, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(f); err == nil {
		t.Fatal("Open of a regular file succeeded")
	}
}

// TestMaintenancePurges: the background goroutine drops expired entries
// from memory by the injected clock.
func TestMaintenancePurges(t *testing.T) {
	t0 := time.Now()
	var now atomic.Int64
	now.Store(t0.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	s := openT(t, t.TempDir(), WithNow(clock), WithMaintenanceInterval(5*time.Millisecond))
	defer s.Close()
	if err := s.Add(context.Background(),
		revocation.Entry{ID: id(1), Seq: 1, ExpiresAt: t0.Add(time.Minute)},
		revocation.Entry{ID: id(2), Seq: 2},
	); err != nil {
		t.Fatal(err)
	}
	now.Store(t0.Add(2 * time.Minute).UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for s.Revoked([][]byte{id(1)}) != -1 {
		select {
		case <-ctx.Done():
			t.Fatal("expired entry still revoked 5s after its expiry by the store's clock")
		case <-time.After(5 * time.Millisecond):
		}
	}
	if s.Revoked([][]byte{id(2)}) != 0 || s.Len() != 1 {
		t.Errorf("after the purge: Revoked(never-expiring) = %d, Len = %d; want 0, 1", s.Revoked([][]byte{id(2)}), s.Len())
	}
}

// TestCloseLeavesNoGoroutine: Close stops the maintenance goroutine and
// Badger's own.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	s := openT(t, t.TempDir(), WithMaintenanceInterval(time.Millisecond))
	if err := s.Add(context.Background(), revocation.Entry{ID: id(1), Seq: 1}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // let maintenance run a few rounds
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for runtime.NumGoroutine() > before {
		select {
		case <-ctx.Done():
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before Open:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		case <-time.After(5 * time.Millisecond):
		}
	}
}
