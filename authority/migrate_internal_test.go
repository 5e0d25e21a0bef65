package authority

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// A log written before entries were hash-chained (no hashes, no chain head)
// is chained once at open, and then loads and serves like any other.
func TestMigrateUnchainedLog(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBadgerStore(dir, BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	err = s.db.Update(func(txn *badger.Txn) error {
		for _, seq := range []uint64{2, 3, 5} { // 1 and 4 expired
			v, _ := json.Marshal(entryJSON{ID: bytes.Repeat([]byte{byte(seq)}, 64), ExpiresAt: exp, RevokedAt: time.Now()})
			if err := txn.Set(logKey(seq), v); err != nil {
				return err
			}
		}
		return txn.Set(keyLastSeq, binary.BigEndian.AppendUint64(nil, 5))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenBadgerStore(dir, BadgerOptions{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	last, head, err := s.ChainHead(ctx)
	if err != nil || last != 5 {
		t.Fatalf("ChainHead = %d, %x, %v", last, head, err)
	}
	var prev *LogEntry
	n := 0
	err = s.Revocations(ctx, 0, func(e LogEntry) bool {
		if err := checkLink(prev, &e, last); err != nil {
			t.Errorf("entry %d: %v", e.Seq, err)
		}
		if prev != nil && !bytes.Equal(e.PrevHash, prev.Hash) {
			t.Errorf("entry %d does not chain to the entry before it", e.Seq)
		}
		prev = &e
		n++
		return true
	})
	if err != nil || n != 3 || !bytes.Equal(prev.Hash, head) {
		t.Fatalf("Revocations: %d entries, %v; last hash = head: %v", n, err, prev != nil && bytes.Equal(prev.Hash, head))
	}
	// New entries continue the migrated chain.
	b := &Batch{Now: time.Now(), Revocations: []RevokeOp{{ID: bytes.Repeat([]byte{6}, 64), ExpiresAt: exp}}}
	if err := s.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	if e := b.Revocations[0].Entry; e.Seq != 6 || !bytes.Equal(e.PrevHash, head) {
		t.Errorf("entry 6: seq %d, prev %x; want 6 chained to %x", e.Seq, e.PrevHash, head)
	}
}
