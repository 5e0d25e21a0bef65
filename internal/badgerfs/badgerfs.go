// Package badgerfs holds what both of mandate's Badger stores (the
// authority's and the verifier's revocation replica) do to Badger's folder
// around badger.Open: recover from a crash at the wrong moment, keep the
// files private, and recognise a failed integrity check.
package badgerfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/dgraph-io/badger/v4/y"
)

// DropEmptyMemtables removes the zero-length memtable files (*.mem) a crash
// can leave in dir, and returns their names. Badger cannot open a folder
// that holds one ("while opening fid: N err: Create a new file"), so
// without this an authority or verifier killed at the wrong moment would
// never start again.
//
// A zero-length memtable holds nothing: Badger deletes a memtable's write-
// ahead log, once its contents are flushed to a level-0 table, by truncating
// it to zero and then removing it (ristretto's MmapFile.Delete), and it
// creates one by creating the file and then growing it. A kill between the
// two steps of either leaves an empty file, never an acknowledged write.
// Call it before badger.Open, while no process has the folder open.
func DropEmptyMemtables(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var dropped []string
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".mem") {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.Size() != 0 {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return dropped, err
		}
		dropped = append(dropped, e.Name())
	}
	return dropped, nil
}

// RestrictFiles makes dir 0700 and every file in it 0600, whatever the
// umask: Badger creates its tables, value log and lock file 0644 (less the
// umask). The folder's mode is what keeps the files Badger creates later
// private. Best effort: an error leaves the folder as it is.
func RestrictFiles(dir string) {
	_ = os.Chmod(dir, 0o700)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil && fi.Mode().Perm()&0o077 != 0 {
				_ = os.Chmod(filepath.Join(dir, e.Name()), 0o600)
			}
		}
	}
}

// IsCorruption reports whether a Badger error is a failed integrity check.
// Badger wraps most of them in y.ErrChecksumMismatch; some only say so in
// their text.
func IsCorruption(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, y.ErrChecksumMismatch) {
		return true
	}
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "checksum") || strings.Contains(m, "corrupt")
}
