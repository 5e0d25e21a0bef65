package authority_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/kv"
)

// replicas opens n authorities that share one replicated KVStore engine
// (in memory here; natsstore runs the same on JetStream), each on its own
// listener and data folder.
func replicas(t *testing.T, n int) []*env {
	t.Helper()
	shared := kv.NewMemoryProvider(nil)
	var out []*env
	for range n {
		e := &env{t: t, dir: t.TempDir()}
		store := authority.NewKVStore(shared, authority.KVStoreOptions{Replicated: true})
		a, err := authority.Open(context.Background(), authority.Config{DataDir: e.dir, AdminToken: adminToken, AdminTokenOutput: io.Discard}, authority.WithStore(store))
		if err != nil {
			t.Fatal(err)
		}
		e.a = a
		e.srv = httptest.NewServer(authority.NewHandler(a))
		t.Cleanup(func() {
			a.Shutdown()
			e.srv.Close()
			_ = a.Close()
		})
		out = append(out, e)
	}
	return out
}

func TestReplicasShareOneAuthority(t *testing.T) {
	rs := replicas(t, 2)
	a, b := rs[0], rs[1]

	// One key ring: a token minted by one verifies at the other.
	ids := func(e *env) (out []uint32) {
		for _, k := range e.keySet().Keys() {
			out = append(out, k.ID)
		}
		return out
	}
	if ka, kb := ids(a), ids(b); !slices.Equal(ka, kb) {
		t.Fatalf("replicas have different keys: %v and %v", ka, kb)
	}
	m := a.mint(adminToken, crmMint("ops/s1"))
	if in := b.introspect(adminToken, m.Token); in["active"] != true {
		t.Fatalf("replica b does not know a's token: %v", in)
	}

	// A client registered at one authenticates at the other.
	secret := a.register("platform", crmCeiling)
	waitFor(t, "replica b to load the client", func() bool {
		return b.do(http.MethodPost, "/v1/tokens", secret, crmMint("s2")).status == http.StatusCreated
	})

	// Revocations through either replica: one log, the same sequence
	// numbers in both feeds.
	b.revoke(adminToken, map[string]string{"token": m.Token})
	m2 := b.mint(adminToken, crmMint("ops/s3"))
	a.revoke(adminToken, map[string]string{"token": m2.Token})
	waitFor(t, "both feeds to hold both revocations", func() bool {
		return len(a.feed(0).Entries) == 2 && len(b.feed(0).Entries) == 2
	})
	fa, fb := a.feed(0), b.feed(0)
	for i := range fa.Entries {
		if fa.Entries[i] != fb.Entries[i] {
			t.Fatalf("feeds differ at %d: %+v and %+v", i, fa.Entries[i], fb.Entries[i])
		}
	}
	if fa.Entries[0].Seq != 1 || fa.Entries[1].Seq != 2 {
		t.Fatalf("sequence numbers %d, %d", fa.Entries[0].Seq, fa.Entries[1].Seq)
	}

	// A rotation at one replica reaches the other: it signs with the new
	// key and trusts it.
	if r := a.do(http.MethodPost, "/v1/keys/rotate", adminToken, nil); r.status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	active := a.a.Keys()[0].ID
	waitFor(t, "replica b to load the rotated key", func() bool { return b.a.Keys()[0].ID == active })
	m3 := b.mint(adminToken, crmMint("ops/s4"))
	if m3.KeyID != active {
		t.Fatalf("b signed with key %d, the active key is %d", m3.KeyID, active)
	}
}

// Many revocations at once through two replicas: every one acknowledged
// gets its own sequence number, dense, in one chain that both feeds serve.
func TestReplicasRevokeConcurrently(t *testing.T) {
	rs := replicas(t, 2)
	var toks []string
	for i := range 40 {
		toks = append(toks, rs[i%2].mint(adminToken, crmMint("ops/c")).Token)
	}
	var wg sync.WaitGroup
	for i, tok := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rs[(i+1)%2].do(http.MethodPost, "/v1/revocations", adminToken, map[string]string{"token": tok})
			if r.status != http.StatusOK {
				t.Errorf("revoke: %d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	for _, e := range rs {
		waitFor(t, "every feed to hold 40 revocations", func() bool { return len(e.feed(0).Entries) == 40 })
		for i, en := range e.feed(0).Entries {
			if en.Seq != uint64(i+1) {
				t.Fatalf("entry %d has seq %d", i, en.Seq)
			}
		}
	}
}
