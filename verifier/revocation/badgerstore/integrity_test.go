package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mandate-dev/mandate/verifier/revocation"
)

// A byte flipped in a Badger table file (here: in a stored revocation ID)
// makes Open refuse the store with a clear error, where it used to load the
// altered ID, so that the real one was no longer revoked.
func TestCorruptTableRefused(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	ids := [][]byte{id(1), id(2), id(3)}
	for i, x := range ids {
		if err := s.Add(context.Background(), revocation.Entry{ID: x, Seq: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	altered := false
	for _, p := range tables {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, ids[1][8:40]); i >= 0 {
			b[i+16] ^= 0x01
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			altered = true
		}
	}
	if !altered {
		t.Fatalf("no table in %s holds the revocation ID (tables %v)", dir, tables)
	}
	s2, err := Open(dir)
	if err == nil {
		defer s2.Close()
		t.Fatalf("Open loaded a corrupted store; Revoked(the altered ID) = %d (0: still revoked, -1: no longer revoked)", s2.Revoked([][]byte{ids[1]}))
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want an error wrapping ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), "sync the revocation log again") {
		t.Errorf("the error does not say what to do next: %v", err)
	}
}

// Badger's files and folder are private whatever the umask.
func TestFilesPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s := openT(t, dir)
	if err := s.Add(context.Background(), revocation.Entry{ID: id(1), Seq: 1}); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s has mode %o, want no access for group and others", p, fi.Mode().Perm())
			}
			return nil
		})
	}
	check()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check()
}

// A kill -9 while Badger deletes a flushed memtable (truncate to zero, then
// remove) or creates one (create, then grow) leaves an empty *.mem file,
// which Badger refuses to open ("Create a new file"): the verifier would
// never start again. Open drops such files (they hold nothing) and loads
// everything acknowledged.
func TestEmptyMemtableFromACrash(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	if err := s.Add(context.Background(), revocation.Entry{ID: id(1), Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00099.mem"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after a crash left an empty memtable: %v", err)
	}
	defer s2.Close()
	if s2.Revoked([][]byte{id(1)}) != 0 || s2.LastSeq() != 1 {
		t.Errorf("after reopening: Revoked = %d, LastSeq = %d; want the entry kept", s2.Revoked([][]byte{id(1)}), s2.LastSeq())
	}
	if _, err := os.Stat(filepath.Join(dir, "00099.mem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the empty memtable is still there: %v", err)
	}
}
