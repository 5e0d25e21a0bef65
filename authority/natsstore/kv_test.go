package natsstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/authority/kv/kvtest"
	"github.com/mandate-dev/mandate/authority/natsstore"
)

func TestKV(t *testing.T) {
	var url string
	var clock *kvtest.Clock
	ns := 0
	kvtest.Run(t, func(t *testing.T, c *kvtest.Clock) kv.KV {
		srv := runServer(t, t.TempDir())
		url, clock = srv.ClientURL(), c
		e, err := natsstore.Open(context.Background(), connect(t, url), natsstore.Options{Replicas: 1, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		ns++
		return e.Namespace("test")
	}, func(t *testing.T) kv.KV {
		e, err := natsstore.Open(context.Background(), connect(t, url), natsstore.Options{Replicas: 1, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return e.Namespace("test")
	})
}

func TestKeyEscaping(t *testing.T) {
	srv := runServer(t, t.TempDir())
	e, err := natsstore.Open(context.Background(), connect(t, srv.ClientURL()), natsstore.Options{Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := e.Namespace("esc")
	keys := []string{"p/alice@acme.test", "a.b", "a/b", "a//b", "a/", "/a", "=", "=3D", "a b", "ü", "*", ">", "x.>"}
	for _, k := range keys {
		if _, err := ns.Apply(ctx, kv.Create(k, []byte(k), time.Time{})); err != nil {
			t.Fatalf("create %q: %v", k, err)
		}
	}
	for _, k := range keys {
		got, err := ns.Get(ctx, k)
		if err != nil || string(got.Value) != k {
			t.Errorf("Get(%q) = %q, %v", k, got.Value, err)
		}
	}
	var seen []string
	if err := ns.Scan(ctx, kv.ScanOptions{Prefix: "a/"}, func(e kv.Entry) bool { seen = append(seen, e.Key); return true }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/", "a//b", "a/b"}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("Scan a/ = %q, want %q", seen, want)
	}
	// Another namespace never sees these keys.
	n := 0
	_ = e.Namespace("other").Scan(ctx, kv.ScanOptions{}, func(kv.Entry) bool { n++; return true })
	if n != 0 {
		t.Errorf("namespace other sees %d keys", n)
	}
}
