package natsstore_test

import (
	"context"
	"testing"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/natsstore"
	"github.com/mandate-dev/mandate/authority/storetest"
)

// The authority's Store conformance suite, on JetStream.
func TestStore(t *testing.T) {
	storetest.RunStoreTests(t, func(t *testing.T) authority.Store {
		srv := runServer(t, t.TempDir())
		e, err := natsstore.Open(context.Background(), connect(t, srv.ClientURL()), natsstore.Options{Replicas: 1})
		if err != nil {
			t.Fatal(err)
		}
		return authority.NewKVStore(e, authority.KVStoreOptions{Grace: -1})
	})
}

func TestStoreDurable(t *testing.T) {
	dir := t.TempDir()
	var srv interface{ Shutdown() }
	storetest.RunDurableStoreTests(t, func(t *testing.T) authority.Store {
		if srv != nil {
			srv.Shutdown()
		}
		s := runServer(t, dir)
		srv = s
		e, err := natsstore.Open(context.Background(), connect(t, s.ClientURL()), natsstore.Options{Replicas: 1})
		if err != nil {
			t.Fatal(err)
		}
		return authority.NewKVStore(e, authority.KVStoreOptions{})
	})
}
