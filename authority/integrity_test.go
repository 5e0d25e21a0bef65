package authority_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// openAuthority opens an authority on dir with its Badger store.
func openAuthority(t *testing.T, dir string) (*authority.Authority, error) {
	t.Helper()
	return authority.Open(context.Background(), authority.Config{DataDir: dir, AdminToken: adminToken, AdminTokenOutput: io.Discard})
}

// revokeIDs revokes n random IDs as the admin and returns them.
func revokeIDs(t *testing.T, a *authority.Authority, n int) [][]byte {
	t.Helper()
	var ids [][]byte
	for range n {
		id := make([]byte, 64)
		_, _ = rand.Read(id)
		if _, err := a.RevokeID(context.Background(), authority.Principal{Admin: true}, id); err != nil {
			t.Fatalf("RevokeID: %v", err)
		}
		ids = append(ids, id)
	}
	return ids
}

// alterInTables finds one of needles, in order, in one of the Badger table
// files (*.sst) under dir and changes one of its bytes to another that keeps
// it well-formed (a base64 character for a base64 one), as a bit flip on the
// disk would. It fails the test if no table holds any needle (blocks are
// compressed, so a needle that repeats itself may not be stored literally).
func alterInTables(t *testing.T, dir string, needles ...[]byte) string {
	t.Helper()
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	for _, needle := range needles {
		if p := alterFirst(t, tables, needle); p != "" {
			return p
		}
	}
	t.Fatalf("no table file in %s holds the bytes to alter (tables: %v)", dir, tables)
	return ""
}

func alterFirst(t *testing.T, tables []string, needle []byte) string {
	t.Helper()
	for _, p := range tables {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, needle)
		if i < 0 {
			continue
		}
		j := i + len(needle)/2
		if b[j] == 'A' {
			b[j] = 'B'
		} else {
			b[j] = 'A'
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return ""
}

// A byte flipped in a Badger table file of the authority's store (here: in
// the stored form of a revocation ID) makes the authority refuse to start
// with a clear error, where it used to start, report ready and serve the
// altered ID on its feed.
func TestCorruptTableRefused(t *testing.T) {
	dir := t.TempDir()
	a, err := openAuthority(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := revokeIDs(t, a, 3)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "db")
	// Blocks are snappy-compressed: the start of the base64 form of the
	// ID is stored literally.
	var needles [][]byte
	for _, id := range ids {
		b64 := base64.StdEncoding.EncodeToString(id)
		for off := 0; off+16 <= len(b64); off += 16 {
			needles = append(needles, []byte(b64[off:off+16]))
		}
	}
	alterInTables(t, db, needles...)

	a, err = openAuthority(t, dir)
	if err == nil {
		defer a.Close()
		f, _ := a.RevocationsAfter(context.Background(), 0, 0)
		served := 0
		for _, e := range f.Entries {
			for _, id := range ids {
				if bytes.Equal(e.ID, id) {
					served++
				}
			}
		}
		t.Fatalf("the authority started on a corrupted store (ready %v) and serves %d of the 3 revoked IDs unaltered", a.Ready(), served)
	}
	if !errors.Is(err, authority.ErrCorrupt) {
		t.Fatalf("Open on a corrupted store: %v, want an error wrapping ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), "backup") {
		t.Errorf("the error does not say what to do next: %v", err)
	}
}

// The chain check stands behind Badger's checksums: a store that hands back
// an altered log entry (a store without checksums, or a bug) is refused at
// start, and so is one whose chain does not link.
func TestBrokenChainRefused(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	for _, tt := range []struct {
		name  string
		alter func(e *authority.LogEntry)
	}{
		{"altered ID", func(e *authority.LogEntry) { e.ID[0] ^= 1 }},
		{"altered expiry", func(e *authority.LogEntry) { e.ExpiresAt = e.ExpiresAt.Add(-time.Hour) }},
		{"relinked", func(e *authority.LogEntry) {
			e.PrevHash = token.GenesisHash()
			e.Hash = token.ChainHash(e.PrevHash, e.Seq, e.ID, e.ExpiresAt)
		}},
		{"no hash", func(e *authority.LogEntry) { e.Hash, e.PrevHash = nil, nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mem := authority.NewMemoryStore()
			b := &authority.Batch{Now: now, Revocations: []authority.RevokeOp{
				{ID: bytes.Repeat([]byte{1}, 64), ExpiresAt: now.Add(time.Hour)},
				{ID: bytes.Repeat([]byte{2}, 64), ExpiresAt: now.Add(time.Hour)},
				{ID: bytes.Repeat([]byte{3}, 64), ExpiresAt: now.Add(time.Hour)},
			}}
			if err := mem.Apply(ctx, b); err != nil {
				t.Fatal(err)
			}
			s := &alteringStore{MemoryStore: mem, seq: 2, alter: tt.alter}
			a, err := authority.Open(ctx, authority.Config{DataDir: t.TempDir(), AdminToken: adminToken}, authority.WithStore(s))
			if err == nil {
				a.Close()
				t.Fatal("the authority started on a log whose chain is broken")
			}
			if !errors.Is(err, authority.ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
		})
	}
}

// alteringStore hands back log entry seq altered.
type alteringStore struct {
	*authority.MemoryStore
	seq   uint64
	alter func(*authority.LogEntry)
}

func (s *alteringStore) Revocations(ctx context.Context, after uint64, fn func(authority.LogEntry) bool) error {
	return s.MemoryStore.Revocations(ctx, after, func(e authority.LogEntry) bool {
		if e.Seq == s.seq {
			s.alter(&e)
		}
		return fn(e)
	})
}

// Badger's files and folder are private to the authority's user, whatever
// the umask: Badger itself creates its tables, value log and lock file
// world-readable.
func TestBadgerFilesPrivate(t *testing.T) {
	dir := t.TempDir()
	a, err := openAuthority(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	revokeIDs(t, a, 2)
	checkPrivate(t, filepath.Join(dir, "db"))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	checkPrivate(t, filepath.Join(dir, "db"))
}

func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %o, want no access for group and others", p, fi.Mode().Perm())
		}
		return nil
	})
}

// End to end over HTTP: a follower pinned to the authority's first root key
// follows two rotations (each new key endorsed by the one before it), keeps
// applying the signed feed, and its verifier accepts tokens of the newest
// key; a follower pinned to another key refuses the authority's keys.
func TestRotationVerifiableFromThePin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pin := e.a.Keys()[0]
	keys := token.NewKeySet()
	store := revocation.NewMemory()
	f, err := follow.New(follow.Config{Authority: e.srv.URL, Store: store, Keys: keys,
		TrustAnchors: []token.PublicKey{{ID: pin.ID, Key: pin.PublicKey}}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Keys: keys, Revocations: store, Fresh: f.Fresh})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	admin := authority.Principal{Admin: true}
	right := []token.Right{{Service: "crm", Tool: "*", Operation: "*", Resource: "account:acme/"}}
	before, err := e.a.Mint(ctx, admin, authority.MintRequest{Agent: "bot", Org: "acme", TTL: time.Hour, Rights: right})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := e.a.Rotate(ctx, admin); err != nil {
			t.Fatal(err)
		}
	}
	m, err := e.a.Mint(ctx, admin, authority.MintRequest{Agent: "bot", Org: "acme", TTL: time.Hour,
		Rights: []token.Right{{Service: "crm", Tool: "*", Operation: "*", Resource: "account:acme/"}}})
	if err != nil {
		t.Fatal(err)
	}
	if m.KeyID == pin.ID {
		t.Fatal("the token was minted with the pinned key, not a rotated one")
	}
	if _, err := e.a.RevokeID(ctx, admin, bytes.Repeat([]byte{7}, 64)); err != nil {
		t.Fatal(err)
	}
	if err := f.SyncOnce(ctx); err != nil {
		t.Fatalf("SyncOnce after two rotations: %v", err)
	}
	req := verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/1"}
	if d := v.Authorize(ctx, m.Token, req); !d.Allowed {
		t.Fatalf("a token of the rotated key: %v", d.Err)
	}
	if store.Revoked([][]byte{bytes.Repeat([]byte{7}, 64)}) != 0 {
		t.Error("the revocation signed by the rotated key was not applied")
	}

	// A verifier pinned to the newest key (as `authority serve` prints it
	// after the rotations) trusts the retiring ones too: each rotation's
	// new key endorses the key it replaces.
	newest := e.a.Keys()[0]
	keys3, store3 := token.NewKeySet(), revocation.NewMemory()
	f3, err := follow.New(follow.Config{Authority: e.srv.URL, Store: store3, Keys: keys3,
		TrustAnchors: []token.PublicKey{{ID: newest.ID, Key: newest.PublicKey}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f3.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	v3, err := verifier.New(verifier.Config{Keys: keys3, Revocations: store3, Fresh: f3.Fresh})
	if err != nil {
		t.Fatal(err)
	}
	if d := v3.Authorize(ctx, before.Token, req); !d.Allowed {
		t.Errorf("a token of the first key, at a verifier pinned to the newest: %v", d.Err)
	}

	other, _ := token.GenerateKey()
	f2, err := follow.New(follow.Config{Authority: e.srv.URL, Store: revocation.NewMemory(), Keys: token.NewKeySet(),
		TrustAnchors: []token.PublicKey{other.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f2.SyncOnce(ctx); !errors.Is(err, follow.ErrTampered) {
		t.Fatalf("a follower pinned to another key: SyncOnce = %v, want ErrTampered", err)
	}
}

// Keys at rest: a key file or manifest altered on disk is refused with a
// clear error, never used.
func TestCorruptKeysRefused(t *testing.T) {
	for _, tt := range []struct {
		name  string
		alter func(t *testing.T, keysDir string)
	}{
		{"key file", func(t *testing.T, dir string) {
			files, _ := filepath.Glob(filepath.Join(dir, "key-*.pem"))
			flipByte(t, files[0], 40)
		}},
		{"manifest not_after", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "keys.json")
			b, _ := os.ReadFile(p)
			// The retiring key would verify for nine more centuries.
			i := bytes.Index(b, []byte(`"not_after": "2`)) + len(`"not_after": "2`)
			b[i] = '9'
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"manifest endorsement", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "keys.json")
			b, _ := os.ReadFile(p)
			i := bytes.Index(b, []byte(`"signature": "`)) + len(`"signature": "`)
			if b[i] == 'a' {
				b[i] = 'b'
			} else {
				b[i] = 'a'
			}
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			a, err := openAuthority(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Rotate(context.Background(), authority.Principal{Admin: true}); err != nil {
				t.Fatal(err)
			}
			a.Close()
			tt.alter(t, filepath.Join(dir, "keys"))
			a, err = openAuthority(t, dir)
			if err == nil {
				a.Close()
				t.Fatal("the authority started on altered keys")
			}
			if !errors.Is(err, authority.ErrCorrupt) || !strings.Contains(err.Error(), "backup") {
				t.Fatalf("Open = %v, want ErrCorrupt saying to restore from a backup", err)
			}
		})
	}
}

func flipByte(t *testing.T, path string, i int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[i] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A log entry that does not chain to the head the authority serves (a
// store that went bad while running) is never published: the authority
// reports not ready with the reason, and the feed refuses to answer, so
// followers go stale and deny rather than follow a broken log.
func TestCorruptionWhileServing(t *testing.T) {
	mem := authority.NewMemoryStore()
	bad := &corruptingStore{MemoryStore: mem}
	e := newEnv(t, func(cfg *authority.Config, opts *[]authority.Option) {
		*opts = append(*opts, authority.WithStore(bad))
	})
	ctx := context.Background()
	if _, err := e.a.RevokeID(ctx, authority.Principal{Admin: true}, bytes.Repeat([]byte{1}, 64)); err != nil {
		t.Fatal(err)
	}
	if r := e.do(http.MethodGet, "/readyz", "", nil); r.status != http.StatusOK {
		t.Fatalf("readyz before: %d %s", r.status, r.body)
	}
	bad.corrupt.Store(true)
	_, _ = e.a.RevokeID(ctx, authority.Principal{Admin: true}, bytes.Repeat([]byte{2}, 64))
	if e.a.Ready() {
		t.Fatal("the authority is ready after publishing a broken chain")
	}
	r := e.do(http.MethodGet, "/readyz", "", nil)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "corrupt") {
		t.Errorf("readyz = %d %s, want 503 naming the corruption", r.status, r.body)
	}
	if r := e.do(http.MethodGet, "/v1/revocations?after=0", "", nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("feed = %d %s, want 503", r.status, r.body)
	}
}

// corruptingStore hands back new log entries with a wrong hash once
// corrupt is set.
type corruptingStore struct {
	*authority.MemoryStore
	corrupt atomic.Bool
}

func (s *corruptingStore) Apply(ctx context.Context, b *authority.Batch) error {
	err := s.MemoryStore.Apply(ctx, b)
	if s.corrupt.Load() {
		for i := range b.Revocations {
			b.Revocations[i].Entry.Hash = bytes.Repeat([]byte{9}, 32)
		}
	}
	return err
}

// A key manifest written before checksums opens, and is sealed with them.
func TestKeyManifestUpgrade(t *testing.T) {
	dir := t.TempDir()
	a, err := openAuthority(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	p := filepath.Join(dir, "keys", "keys.json")
	b, _ := os.ReadFile(p)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "checksum")
	for _, k := range m["keys"].([]any) {
		delete(k.(map[string]any), "sha256")
	}
	b, _ = json.Marshal(m)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err = openAuthority(t, dir)
	if err != nil {
		t.Fatalf("Open with a manifest from before checksums: %v", err)
	}
	a.Close()
	b, _ = os.ReadFile(p)
	if !bytes.Contains(b, []byte(`"checksum"`)) || !bytes.Contains(b, []byte(`"sha256"`)) {
		t.Errorf("the manifest was not sealed: %s", b)
	}
}

// Against the real authority: after entries expired and were pruned (gaps
// in the log), a new follower starts mid-chain and checks what it gets, and
// a follower that held the chain continues it.
func TestFollowerAcrossPrunedEntries(t *testing.T) {
	clk := newClock()
	e := newEnv(t, withClock(clk))
	ctx := context.Background()
	admin := authority.Principal{Admin: true}
	root := e.a.Keys()[0]
	newFollower := func() (*follow.Follower, *revocation.Memory) {
		store := revocation.NewMemory(revocation.WithNow(clk.Now))
		f, err := follow.New(follow.Config{Authority: e.srv.URL, Store: store, Now: clk.Now,
			TrustAnchors: []token.PublicKey{{ID: root.ID, Key: root.PublicKey}}})
		if err != nil {
			t.Fatal(err)
		}
		return f, store
	}
	early, earlyStore := newFollower()
	for i, ttl := range []time.Duration{time.Minute, time.Hour, time.Minute, time.Hour} {
		m, err := e.a.Mint(ctx, admin, authority.MintRequest{Agent: "bot", Org: "acme", TTL: ttl,
			Rights: []token.Right{{Service: "crm", Tool: "*", Operation: "*", Resource: "account:acme/"}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.RevokeToken(ctx, m.Token); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if err := early.SyncOnce(ctx); err != nil { // holds the chain at seq 2
				t.Fatal(err)
			}
		}
	}
	clk.Advance(time.Minute + authority.RetentionGrace + time.Second)
	if n := e.a.Prune(); n != 2 {
		t.Fatalf("Prune dropped %d entries, want 2 (seq 1 and 3)", n)
	}
	late, lateStore := newFollower()
	if err := late.SyncOnce(ctx); err != nil {
		t.Fatalf("a follower starting mid-chain: %v", err)
	}
	if lateStore.LastSeq() != 4 || lateStore.Len() != 2 {
		t.Errorf("mid-chain follower: LastSeq %d, Len %d; want 4 and 2", lateStore.LastSeq(), lateStore.Len())
	}
	if err := early.SyncOnce(ctx); err != nil {
		t.Fatalf("a follower continuing its chain across a gap: %v", err)
	}
	if earlyStore.LastSeq() != 4 {
		t.Errorf("LastSeq = %d, want 4", earlyStore.LastSeq())
	}
}

// A kill -9 while Badger deletes a flushed memtable (truncate to zero, then
// remove) or creates one leaves an empty *.mem file, which Badger refuses to
// open: the authority would never start again (TestCrashDurability met it
// now and then). Open drops such files (they hold nothing) and keeps every
// acknowledged revocation.
func TestEmptyMemtableFromACrash(t *testing.T) {
	dir := t.TempDir()
	a, err := openAuthority(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := revokeIDs(t, a, 2)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "db", "00099.mem"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err = openAuthority(t, dir)
	if err != nil {
		t.Fatalf("Open after a crash left an empty memtable: %v", err)
	}
	defer a.Close()
	if got := a.Revoked(ids); got != 0 {
		t.Errorf("Revoked = %d after reopening, want the first ID still revoked", got)
	}
	if f, _ := a.RevocationsAfter(context.Background(), 0, 0); len(f.Entries) != 2 {
		t.Errorf("feed has %d entries after reopening, want 2", len(f.Entries))
	}
}
