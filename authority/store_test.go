package authority_test

import (
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/authority/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.RunStoreTests(t, func(t *testing.T) authority.Store {
		return authority.NewMemoryStore(authority.WithMemoryGrace(0))
	})
}

func TestBadgerStore(t *testing.T) {
	storetest.RunStoreTests(t, func(t *testing.T) authority.Store {
		s, err := authority.OpenBadgerStore(t.TempDir(), authority.BadgerOptions{Grace: -1})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestBadgerStoreDurable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	storetest.RunDurableStoreTests(t, func(t *testing.T) authority.Store {
		s, err := authority.OpenBadgerStore(dir, authority.BadgerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestKVStoreOnMemory(t *testing.T) {
	storetest.RunStoreTests(t, func(t *testing.T) authority.Store {
		return authority.NewKVStore(kv.NewMemoryProvider(nil), authority.KVStoreOptions{Grace: -1})
	})
}

// badgerProvider opens Badger in dir as a bare kv.Provider, the way a
// replicated engine is one.
func badgerProvider(t *testing.T, dir string) (kv.Provider, func() error) {
	db, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(true).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	return providerFunc(func(name string) kv.KV { return kv.NewBadger(db, "k/"+name+"/", nil) }), db.Close
}

type providerFunc func(string) kv.KV

func (f providerFunc) Namespace(name string) kv.KV { return f(name) }

func TestKVStoreOnBadger(t *testing.T) {
	storetest.RunStoreTests(t, func(t *testing.T) authority.Store {
		p, closeDB := badgerProvider(t, t.TempDir())
		return authority.NewKVStore(p, authority.KVStoreOptions{Grace: -1, Close: closeDB})
	})
}

func TestKVStoreDurable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	storetest.RunDurableStoreTests(t, func(t *testing.T) authority.Store {
		p, closeDB := badgerProvider(t, dir)
		return authority.NewKVStore(p, authority.KVStoreOptions{Close: closeDB})
	})
}
