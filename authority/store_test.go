package authority_test

import (
	"path/filepath"
	"testing"

	"github.com/mandate-dev/mandate/authority"
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
