package kv_test

import (
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/authority/kv/kvtest"
)

func TestMemory(t *testing.T) {
	kvtest.Run(t, func(t *testing.T, c *kvtest.Clock) kv.KV { return kv.NewMemory(c.Now) }, nil)
}

func TestBadger(t *testing.T) {
	var dir string
	var db *badger.DB
	open := func(t *testing.T) *badger.DB {
		d, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(true).WithLogger(nil).WithInMemory(false))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	kvtest.Run(t, func(t *testing.T, c *kvtest.Clock) kv.KV {
		dir = t.TempDir()
		db = open(t)
		t.Cleanup(func() { db.Close() })
		return kv.NewBadger(db, "k/test/", c.Now)
	}, func(t *testing.T) kv.KV {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = open(t)
		return kv.NewBadger(db, "k/test/", nil)
	})
}
