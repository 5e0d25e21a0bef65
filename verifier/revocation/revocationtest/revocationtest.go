// Package revocationtest is the conformance suite for implementations of
// [revocation.Store]: every backend runs the same tests, so they all honour
// the contract written on the interface.
//
//	func TestStore(t *testing.T) {
//		revocationtest.RunStoreTests(t, func(t *testing.T) revocation.Store {
//			return revocation.NewMemory()
//		})
//	}
//
// A durable backend also runs [RunDurableStoreTests], which closes and
// reopens the store in the same directory.
package revocationtest

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/verifier/revocation"
)

// expiryReporter is implemented by stores that can report the expiry they
// hold for an ID (revocation.Memory and badgerstore.Store do). The suite
// uses it to check ExpiresAt exactly; stores without it are checked
// through Revoked only.
type expiryReporter interface {
	ExpiresAt(id []byte) (time.Time, bool)
}

// ID returns a deterministic 64-byte revocation ID (the size of an Ed25519
// block signature) for n, distinct for distinct n.
func ID(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	sum := sha512.Sum512(b[:])
	return sum[:]
}

// RunStoreTests runs the conformance suite against the stores newStore
// returns. newStore is called once per subtest and must return an empty,
// open store; the suite closes it (and newStore may register its own
// cleanup with t.Cleanup). Stores with an ExpiresAt(id []byte) (time.Time,
// bool) method also get the expiry they hold checked.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) revocation.Store) {
	t.Helper()
	open := func(t *testing.T) revocation.Store {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	t.Run("Empty", func(t *testing.T) { testEmpty(t, open(t)) })
	t.Run("AddThenRevoked", func(t *testing.T) { testAddThenRevoked(t, open(t)) })
	t.Run("IDLengths", func(t *testing.T) { testIDLengths(t, open(t)) })
	t.Run("IdempotentAdd", func(t *testing.T) { testIdempotentAdd(t, open(t)) })
	t.Run("ReAddKeepsLaterExpiry", func(t *testing.T) { testReAddKeepsLaterExpiry(t, open(t)) })
	t.Run("LastSeqMonotonic", func(t *testing.T) { testLastSeqMonotonic(t, open(t)) })
	t.Run("LastHash", func(t *testing.T) { testLastHash(t, open(t)) })
	t.Run("InvalidEntries", func(t *testing.T) { testInvalidEntries(t, open) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceledContext(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, open(t)) })
	t.Run("Close", func(t *testing.T) { testClose(t, newStore(t)) })
	t.Run("ConcurrentClose", func(t *testing.T) { testConcurrentClose(t, newStore(t)) })
}

func mustAdd(t *testing.T, s revocation.Store, entries ...revocation.Entry) {
	t.Helper()
	if err := s.Add(context.Background(), entries...); err != nil {
		t.Fatalf("Add(%d entries): %v", len(entries), err)
	}
}

func wantRevoked(t *testing.T, s revocation.Store, ids [][]byte, want int) {
	t.Helper()
	if got := s.Revoked(ids); got != want {
		t.Errorf("Revoked(%d ids) = %d, want %d", len(ids), got, want)
	}
}

func wantLen(t *testing.T, s revocation.Store, want int) {
	t.Helper()
	if got := s.Len(); got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
}

func wantLastSeq(t *testing.T, s revocation.Store, want uint64) {
	t.Helper()
	if got := s.LastSeq(); got != want {
		t.Errorf("LastSeq() = %d, want %d", got, want)
	}
}

// wantExpiry checks the stored ExpiresAt of id if s can report it.
func wantExpiry(t *testing.T, s revocation.Store, id []byte, want time.Time) {
	t.Helper()
	r, ok := s.(expiryReporter)
	if !ok {
		return
	}
	got, found := r.ExpiresAt(id)
	if !found {
		t.Errorf("ExpiresAt(%x…): not found, want %v", id[:min(4, len(id))], want)
		return
	}
	if !got.Equal(want) || got.IsZero() != want.IsZero() {
		t.Errorf("ExpiresAt(%x…) = %v, want %v", id[:min(4, len(id))], got, want)
	}
}

func testEmpty(t *testing.T, s revocation.Store) {
	wantLen(t, s, 0)
	wantLastSeq(t, s, 0)
	wantRevoked(t, s, nil, -1)
	wantRevoked(t, s, [][]byte{}, -1)
	wantRevoked(t, s, [][]byte{ID(1)}, -1)
	wantRevoked(t, s, [][]byte{nil, {}, ID(1), ID(2)}, -1)
	if err := s.Add(context.Background()); err != nil {
		t.Errorf("Add() with no entries: %v, want nil", err)
	}
	wantLen(t, s, 0)
	wantLastSeq(t, s, 0)
}

func testAddThenRevoked(t *testing.T, s revocation.Store) {
	a, b := ID(1), ID(2)
	mustAdd(t, s,
		revocation.Entry{ID: a, Seq: 1},
		revocation.Entry{ID: b, Seq: 2, ExpiresAt: time.Now().Add(time.Hour)},
	)
	x, y, z := ID(100), ID(101), ID(102)
	longer := append(append([]byte(nil), a...), 0)
	tests := []struct {
		name string
		ids  [][]byte
		want int
	}{
		{"nil list", nil, -1},
		{"only a", [][]byte{a}, 0},
		{"only b", [][]byte{b}, 0},
		{"b last of four", [][]byte{x, y, z, b}, 3},
		{"first revoked of several wins", [][]byte{x, a, y, b}, 1},
		{"four misses", [][]byte{x, y, z, ID(103)}, -1},
		{"prefix of a is not a", [][]byte{a[:63]}, -1},
		{"a plus a byte is not a", [][]byte{longer}, -1},
		{"empty id", [][]byte{{}}, -1},
		{"copy of a", [][]byte{x, bytes.Clone(a)}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantRevoked(t, s, tt.ids, tt.want) })
	}
	wantLen(t, s, 2)
	wantLastSeq(t, s, 2)
}

func testIDLengths(t *testing.T, s revocation.Store) {
	one := []byte{0x2a}
	maxLen := bytes.Repeat([]byte{0xab}, revocation.MaxIDLen)
	mustAdd(t, s, revocation.Entry{ID: one}, revocation.Entry{ID: maxLen})
	wantRevoked(t, s, [][]byte{one}, 0)
	wantRevoked(t, s, [][]byte{maxLen}, 0)
	wantRevoked(t, s, [][]byte{{0x2b}}, -1)
	wantRevoked(t, s, [][]byte{maxLen[:revocation.MaxIDLen-1]}, -1)
	wantLen(t, s, 2)
	// The store must have copied the ID: changing the caller's slice
	// afterwards changes nothing.
	one[0] = 0x2c
	wantRevoked(t, s, [][]byte{{0x2a}}, 0)
	wantRevoked(t, s, [][]byte{{0x2c}}, -1)
}

func testIdempotentAdd(t *testing.T, s revocation.Store) {
	a, b := ID(1), ID(2)
	for i := range 3 {
		mustAdd(t, s, revocation.Entry{ID: a, Seq: 7})
		if i == 1 {
			mustAdd(t, s, revocation.Entry{ID: b, Seq: 8}, revocation.Entry{ID: b, Seq: 8})
		}
	}
	wantLen(t, s, 2)
	wantLastSeq(t, s, 8)
	wantRevoked(t, s, [][]byte{a}, 0)
	wantRevoked(t, s, [][]byte{ID(3), b}, 1)
	wantExpiry(t, s, a, time.Time{})
}

func testReAddKeepsLaterExpiry(t *testing.T, s revocation.Store) {
	now := time.Now()
	later, sooner, past := now.Add(2*time.Hour), now.Add(time.Hour), now.Add(-time.Hour)
	shortThenLong, longThenShort, longThenPast, neverThenLong, longThenNever := ID(1), ID(2), ID(3), ID(4), ID(5)
	mustAdd(t, s,
		revocation.Entry{ID: shortThenLong, ExpiresAt: sooner},
		revocation.Entry{ID: longThenShort, ExpiresAt: later},
		revocation.Entry{ID: longThenPast, ExpiresAt: later},
		revocation.Entry{ID: neverThenLong},
		revocation.Entry{ID: longThenNever, ExpiresAt: later},
	)
	mustAdd(t, s,
		revocation.Entry{ID: shortThenLong, ExpiresAt: later},
		revocation.Entry{ID: longThenShort, ExpiresAt: sooner},
		revocation.Entry{ID: longThenPast, ExpiresAt: past},
		revocation.Entry{ID: neverThenLong, ExpiresAt: later},
		revocation.Entry{ID: longThenNever},
	)
	wantLen(t, s, 5)
	for _, id := range [][]byte{shortThenLong, longThenShort, longThenPast, neverThenLong, longThenNever} {
		wantRevoked(t, s, [][]byte{id}, 0)
	}
	wantExpiry(t, s, shortThenLong, later)
	wantExpiry(t, s, longThenShort, later)
	wantExpiry(t, s, longThenPast, later)
	wantExpiry(t, s, neverThenLong, time.Time{})
	wantExpiry(t, s, longThenNever, time.Time{})
}

func testLastSeqMonotonic(t *testing.T, s revocation.Store) {
	steps := []struct {
		seqs []uint64
		want uint64
	}{
		{[]uint64{5}, 5},
		{[]uint64{3}, 5},          // a lower seq later never lowers it
		{[]uint64{0}, 5},          // local entries have seq 0
		{[]uint64{9}, 9},          // a higher one raises it
		{[]uint64{7, 12, 10}, 12}, // the max of a batch, whatever its order
		{[]uint64{11, 11}, 12},
	}
	n := uint64(0)
	for _, st := range steps {
		var batch []revocation.Entry
		for _, seq := range st.seqs {
			n++
			batch = append(batch, revocation.Entry{ID: ID(n), Seq: seq})
		}
		mustAdd(t, s, batch...)
		wantLastSeq(t, s, st.want)
	}
	// An entry already expired when added still counts for LastSeq: the
	// follower must not fetch it again.
	mustAdd(t, s, revocation.Entry{ID: ID(1000), Seq: 40, ExpiresAt: time.Now().Add(-time.Hour)})
	wantLastSeq(t, s, 40)
}

func testInvalidEntries(t *testing.T, open func(t *testing.T) revocation.Store) {
	valid := revocation.Entry{ID: ID(1), Seq: 100}
	tests := []struct {
		name  string
		batch []revocation.Entry
	}{
		{"nil ID", []revocation.Entry{{ID: nil, Seq: 100}}},
		{"empty ID", []revocation.Entry{{ID: []byte{}, Seq: 100}}},
		{"ID one byte too long", []revocation.Entry{{ID: make([]byte, revocation.MaxIDLen+1), Seq: 100}}},
		{"huge ID", []revocation.Entry{{ID: make([]byte, 1<<20), Seq: 100}}},
		{"valid then invalid", []revocation.Entry{valid, {ID: nil, Seq: 101}}},
		{"invalid then valid", []revocation.Entry{{Seq: 99}, valid}},
		{"invalid in the middle of many", append(manyEntries(50), revocation.Entry{}, valid)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			mustAdd(t, s, revocation.Entry{ID: ID(9999), Seq: 3})
			err := s.Add(context.Background(), tt.batch...)
			if !errors.Is(err, revocation.ErrInvalidEntry) {
				t.Fatalf("Add(invalid batch) = %v, want an error wrapping ErrInvalidEntry", err)
			}
			// Nothing of the batch was stored.
			wantLen(t, s, 1)
			wantLastSeq(t, s, 3)
			for _, e := range tt.batch {
				if len(e.ID) > 0 && len(e.ID) <= revocation.MaxIDLen {
					wantRevoked(t, s, [][]byte{e.ID}, -1)
				}
			}
		})
	}
}

// manyEntries returns n valid entries with seqs 1000..1000+n-1.
func manyEntries(n int) []revocation.Entry {
	out := make([]revocation.Entry, n)
	for i := range out {
		out[i] = revocation.Entry{ID: ID(uint64(50000 + i)), Seq: uint64(1000 + i)}
	}
	return out
}

func testCanceledContext(t *testing.T, s revocation.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Add(ctx, revocation.Entry{ID: ID(1), Seq: 1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Add(canceled ctx) = %v, want an error wrapping context.Canceled", err)
	}
	wantLen(t, s, 0)
	wantLastSeq(t, s, 0)
	wantRevoked(t, s, [][]byte{ID(1)}, -1)
}

func testConcurrent(t *testing.T, s revocation.Store) {
	const (
		writers   = 4
		batches   = 8
		batchSize = 16
		readers   = 4
	)
	total := writers * batches * batchSize
	idOf := func(w, b, i int) []byte { return ID(uint64(w*batches*batchSize + b*batchSize + i)) }

	var writersDone sync.WaitGroup
	errs := make(chan error, writers+readers)
	done := make(chan struct{})
	for w := range writers {
		writersDone.Go(func() {
			for b := range batches {
				batch := make([]revocation.Entry, batchSize)
				for i := range batch {
					batch[i] = revocation.Entry{
						ID:        idOf(w, b, i),
						Seq:       uint64(1 + w*batches*batchSize + b*batchSize + i),
						ExpiresAt: time.Now().Add(time.Hour),
					}
				}
				if err := s.Add(context.Background(), batch...); err != nil {
					errs <- fmt.Errorf("writer %d, batch %d: %w", w, b, err)
					return
				}
				// What this writer added is visible as soon as Add returned.
				if got := s.Revoked([][]byte{ID(1 << 40), batch[batchSize-1].ID}); got != 1 {
					errs <- fmt.Errorf("writer %d: Revoked right after Add = %d, want 1", w, got)
					return
				}
			}
		})
	}
	var readersDone sync.WaitGroup
	for r := range readers {
		readersDone.Go(func() {
			// Each reader watches one writer's IDs: once revoked, an ID
			// stays revoked, and LastSeq and Len never go down.
			w := r % writers
			seen := make([]bool, batches*batchSize)
			var lastSeq uint64
			var lastLen int
			for {
				for b := range batches {
					for i := range batchSize {
						got := s.Revoked([][]byte{idOf(w, b, i)}) == 0
						if seen[b*batchSize+i] && !got {
							errs <- fmt.Errorf("reader %d: writer %d's ID %d,%d revoked, then not", r, w, b, i)
							return
						}
						seen[b*batchSize+i] = got
					}
				}
				seq, n := s.LastSeq(), s.Len()
				if seq < lastSeq || n < lastLen {
					errs <- fmt.Errorf("reader %d: LastSeq %d -> %d, Len %d -> %d: went down", r, lastSeq, seq, lastLen, n)
					return
				}
				lastSeq, lastLen = seq, n
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	writersDone.Wait()
	close(done)
	readersDone.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantLen(t, s, total)
	wantLastSeq(t, s, uint64(total))
	for w := range writers {
		for b := range batches {
			for i := range batchSize {
				if s.Revoked([][]byte{idOf(w, b, i)}) != 0 {
					t.Fatalf("ID of writer %d batch %d #%d not revoked after all Adds returned", w, b, i)
				}
			}
		}
	}
}

func testClose(t *testing.T, s revocation.Store) {
	mustAdd(t, s, revocation.Entry{ID: ID(1), Seq: 4})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := s.Add(context.Background(), revocation.Entry{ID: ID(2), Seq: 5}); !errors.Is(err, revocation.ErrClosed) {
		t.Errorf("Add after Close = %v, want ErrClosed", err)
	}
	// A closed store fails closed: any non-empty list is revoked.
	wantRevoked(t, s, [][]byte{ID(3)}, 0)
	wantRevoked(t, s, [][]byte{ID(3), ID(1)}, 0)
	wantRevoked(t, s, nil, -1)
	wantLastSeq(t, s, 0)
	wantLen(t, s, 0)
}

func testConcurrentClose(t *testing.T, s revocation.Store) {
	// Writers add until they see ErrClosed; the Closes start once some Adds
	// went through, so Close races with Adds in flight.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	started := make(chan struct{}, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := range 10_000 {
				n := uint64(g*10_000 + i)
				err := s.Add(context.Background(), revocation.Entry{ID: ID(n), Seq: n}, revocation.Entry{ID: ID(n + 1<<32)})
				if errors.Is(err, revocation.ErrClosed) {
					return
				}
				if err != nil {
					errs <- fmt.Errorf("Add during Close: %w, want nil or ErrClosed", err)
					return
				}
				if i == 2 {
					started <- struct{}{}
				}
			}
			errs <- fmt.Errorf("writer %d: 10000 Adds and no ErrClosed", g)
		})
		wg.Go(func() {
			for i := range 1000 {
				_ = s.Revoked([][]byte{ID(uint64(i))})
				_, _ = s.Len(), s.LastSeq()
			}
		})
	}
	for range 4 {
		<-started
	}
	var closers sync.WaitGroup
	for range 4 {
		closers.Go(func() {
			if err := s.Close(); err != nil {
				errs <- fmt.Errorf("Close: %w", err)
			}
		})
	}
	closers.Wait()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := s.Add(context.Background(), revocation.Entry{ID: ID(1)}); !errors.Is(err, revocation.ErrClosed) {
		t.Errorf("Add after concurrent Closes = %v, want ErrClosed", err)
	}
	wantRevoked(t, s, [][]byte{ID(12345)}, 0)
}

// RunDurableStoreTests checks what a durable store adds to the contract:
// what was added survives Close and reopening the same directory, and
// expired entries are gone after a reopen. open opens (or creates) the
// store in dir; the suite closes what it opens. One subtest waits up to
// 1.2 s for an entry to expire.
func RunDurableStoreTests(t *testing.T, open func(t *testing.T, dir string) revocation.Store) {
	t.Helper()
	t.Run("SurvivesReopen", func(t *testing.T) { testSurvivesReopen(t, open) })
	t.Run("LastSeqOfUnstoredEntrySurvives", func(t *testing.T) { testLastSeqOfUnstoredEntry(t, open) })
	t.Run("ExpiryMergeSurvivesReopen", func(t *testing.T) { testExpiryMergeSurvives(t, open) })
	t.Run("ExpiredGoneAfterReopen", func(t *testing.T) { testExpiredGone(t, open) })
	t.Run("LastHashSurvivesReopen", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir)
		mustAdd(t, s, revocation.Entry{ID: ID(1), Seq: 1, Hash: hashOf(1)}, revocation.Entry{ID: ID(2), Seq: 2, Hash: hashOf(2)})
		// Expired on arrival: not stored, but its hash is the log's.
		mustAdd(t, s, revocation.Entry{ID: ID(3), Seq: 3, Hash: hashOf(3), ExpiresAt: time.Now().Add(-time.Minute)})
		s = reopen(t, s, open, dir)
		wantLastSeq(t, s, 3)
		if got := s.LastHash(); !bytes.Equal(got, hashOf(3)) {
			t.Errorf("LastHash after reopen = %x, want %x", got, hashOf(3))
		}
	})
}

// hashOf is a stand-in chain hash for tests.
func hashOf(n int) []byte {
	h := sha512.Sum512_256(binary.BigEndian.AppendUint64(nil, uint64(n)))
	return h[:]
}

func testLastHash(t *testing.T, s revocation.Store) {
	if h := s.LastHash(); h != nil {
		t.Errorf("LastHash of an empty store = %x, want nil", h)
	}
	mustAdd(t, s, revocation.Entry{ID: ID(2), Seq: 2, Hash: hashOf(2)}, revocation.Entry{ID: ID(1), Seq: 1, Hash: hashOf(1)})
	if got := s.LastHash(); !bytes.Equal(got, hashOf(2)) {
		t.Errorf("LastHash = %x, want the hash of seq 2 %x", got, hashOf(2))
	}
	// A lower Seq (a follower resyncing from 0) never replaces it.
	mustAdd(t, s, revocation.Entry{ID: ID(5), Seq: 1, Hash: hashOf(5)})
	if got := s.LastHash(); !bytes.Equal(got, hashOf(2)) {
		t.Errorf("LastHash after a lower Seq = %x, want %x", got, hashOf(2))
	}
	mustAdd(t, s, revocation.Entry{ID: ID(3), Seq: 3, Hash: hashOf(3)})
	if got := s.LastHash(); !bytes.Equal(got, hashOf(3)) {
		t.Errorf("LastHash = %x, want %x", got, hashOf(3))
	}
}

func reopen(t *testing.T, s revocation.Store, open func(t *testing.T, dir string) revocation.Store, dir string) revocation.Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2 := open(t, dir)
	t.Cleanup(func() {
		if err := s2.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s2
}

func testSurvivesReopen(t *testing.T, open func(t *testing.T, dir string) revocation.Store) {
	dir := t.TempDir()
	s := open(t, dir)
	exp := time.Now().Add(time.Hour).Round(0)
	entries := []revocation.Entry{
		{ID: ID(1), Seq: 10},
		{ID: ID(2), Seq: 12, ExpiresAt: exp},
		{ID: []byte{7}, Seq: 11},
		{ID: bytes.Repeat([]byte{9}, revocation.MaxIDLen)},
	}
	mustAdd(t, s, entries...)
	mustAdd(t, s, manyEntries(300)...) // several hundred, so more than one memtable write
	mustAdd(t, s, revocation.Entry{ID: ID(3), Seq: 5})
	s = reopen(t, s, open, dir)

	wantLen(t, s, len(entries)+300+1)
	wantLastSeq(t, s, 1000+300-1)
	for _, e := range entries {
		wantRevoked(t, s, [][]byte{ID(999999), e.ID}, 1)
		wantExpiry(t, s, e.ID, e.ExpiresAt)
	}
	for _, e := range manyEntries(300) {
		wantRevoked(t, s, [][]byte{e.ID}, 0)
	}
	wantRevoked(t, s, [][]byte{ID(3)}, 0)
	wantRevoked(t, s, [][]byte{ID(4), ID(5), ID(6), ID(7)}, -1)

	// And the reopened store keeps working and persisting.
	mustAdd(t, s, revocation.Entry{ID: ID(4), Seq: 2000})
	s = reopen(t, s, open, dir)
	wantLastSeq(t, s, 2000)
	wantRevoked(t, s, [][]byte{ID(4)}, 0)
	wantLen(t, s, len(entries)+300+2)
}

func testLastSeqOfUnstoredEntry(t *testing.T, open func(t *testing.T, dir string) revocation.Store) {
	dir := t.TempDir()
	s := open(t, dir)
	mustAdd(t, s, revocation.Entry{ID: ID(1), Seq: 3})
	// Already expired: need not be stored, but the log position must be.
	mustAdd(t, s, revocation.Entry{ID: ID(2), Seq: 8, ExpiresAt: time.Now().Add(-time.Minute)})
	s = reopen(t, s, open, dir)
	wantLastSeq(t, s, 8)
	wantRevoked(t, s, [][]byte{ID(1)}, 0)
}

func testExpiryMergeSurvives(t *testing.T, open func(t *testing.T, dir string) revocation.Store) {
	dir := t.TempDir()
	s := open(t, dir)
	later := time.Now().Add(time.Hour).Round(0)
	longThenPast, shortThenNever, longThenShort := ID(1), ID(2), ID(3)
	mustAdd(t, s,
		revocation.Entry{ID: longThenPast, Seq: 1, ExpiresAt: later},
		revocation.Entry{ID: shortThenNever, Seq: 2, ExpiresAt: time.Now().Add(time.Minute)},
		revocation.Entry{ID: longThenShort, Seq: 3, ExpiresAt: later},
	)
	mustAdd(t, s,
		revocation.Entry{ID: longThenPast, Seq: 4, ExpiresAt: time.Now().Add(-time.Hour)},
		revocation.Entry{ID: shortThenNever, Seq: 5},
		revocation.Entry{ID: longThenShort, Seq: 6, ExpiresAt: time.Now().Add(time.Minute)},
	)
	s = reopen(t, s, open, dir)
	for _, id := range [][]byte{longThenPast, shortThenNever, longThenShort} {
		wantRevoked(t, s, [][]byte{id}, 0)
	}
	wantExpiry(t, s, longThenPast, later)
	wantExpiry(t, s, shortThenNever, time.Time{})
	wantExpiry(t, s, longThenShort, later)
	wantLastSeq(t, s, 6)
}

func testExpiredGone(t *testing.T, open func(t *testing.T, dir string) revocation.Store) {
	dir := t.TempDir()
	s := open(t, dir)
	// A whole second between 0.2 s and 1.2 s away: stores may keep
	// expiries to the second (rounded up), and Add must see it unexpired.
	exp := time.Now().Add(200 * time.Millisecond).Truncate(time.Second).Add(time.Second)
	short, never, long := ID(1), ID(2), ID(3)
	mustAdd(t, s,
		revocation.Entry{ID: short, Seq: 1, ExpiresAt: exp},
		revocation.Entry{ID: never, Seq: 2},
		revocation.Entry{ID: long, Seq: 3, ExpiresAt: time.Now().Add(time.Hour)},
	)
	wantRevoked(t, s, [][]byte{short}, 0)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Wait for the entry to expire.
	wait := time.Until(exp.Add(10 * time.Millisecond))
	if wait > 2*time.Second {
		t.Fatalf("waiting %v for expiry: the clock is odd", wait)
	}
	time.Sleep(wait)
	s2 := open(t, dir)
	t.Cleanup(func() { _ = s2.Close() })
	wantRevoked(t, s2, [][]byte{short}, -1)
	wantRevoked(t, s2, [][]byte{never}, 0)
	wantRevoked(t, s2, [][]byte{long}, 0)
	wantLen(t, s2, 2)
	wantLastSeq(t, s2, 3)
}
