package natsstore_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/natsstore"
	"github.com/mandate-dev/mandate/internal/natstest"
	"github.com/mandate-dev/mandate/token"
)

const admin = "admin-token-for-the-nats-tests-0123456789"

func openReplica(t *testing.T, urls string) *authority.Authority {
	t.Helper()
	ctx := context.Background()
	s, err := natsstore.OpenStore(ctx, urls, natsstore.StoreOptions{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	a, err := authority.Open(ctx, authority.Config{DataDir: t.TempDir(), AdminToken: admin, AdminTokenOutput: io.Discard}, authority.WithStore(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown(); _ = a.Close() })
	return a
}

func mint(ctx context.Context, a *authority.Authority, session string) (*authority.MintResult, error) {
	return a.Mint(ctx, authority.Principal{Admin: true}, authority.MintRequest{
		Agent: "bot", Org: "acme", Session: session, TTL: time.Hour,
		Rights: []token.Right{{Service: "crm", Tool: "get", Operation: "read", Resource: "account:acme/"}},
	})
}

// On a 3-node cluster with replication 3: two replicas agree, a node can
// go away without losing anything acknowledged, and a node cut off from
// the majority refuses writes instead of diverging.
func TestClusterReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node NATS cluster")
	}
	c := natstest.Start(t, 3)
	ctx := context.Background()
	a, b := openReplica(t, c.URLs()), openReplica(t, c.URLs())

	m, err := mint(ctx, a, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.RevokeToken(ctx, m.Token); err != nil {
		t.Fatal(err)
	}
	// Lose one node: writes go on (a quorum of 2 of 3 remains) once the
	// stream has a leader again; until then they are refused, never
	// half-done.
	c.StopNode(0)
	retry := func(what string, fn func() error) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			err := fn()
			if err == nil {
				return
			}
			if !errors.Is(err, authority.ErrUnavailable) || time.Now().After(deadline) {
				t.Fatalf("%s with one node down: %v", what, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for i := range 20 {
		r := []*authority.Authority{a, b}[i%2]
		var m *authority.MintResult
		retry("mint", func() (err error) { m, err = mint(ctx, r, "s2"); return err })
		retry("revoke", func() error { _, err := r.RevokeToken(ctx, m.Token); return err })
	}
	c.StartNode(0)
	for _, r := range []*authority.Authority{a, b} {
		deadline := time.Now().Add(60 * time.Second)
		for r.LastSeq() != 21 {
			if time.Now().After(deadline) {
				t.Fatalf("a replica's log stops at %d, want 21", r.LastSeq())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// A replica that reaches only node 3, once nodes 1 and 2 are gone,
	// is on a minority: it refuses to write.
	lone := openReplica(t, c.URL(2))
	c.StopNode(0)
	c.StopNode(1)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, err = mint(wctx, lone, "s3")
	cancel()
	if !errors.Is(err, authority.ErrUnavailable) {
		t.Fatalf("mint on a minority node = %v, want ErrUnavailable", err)
	}
	c.StartNode(0)
	c.StartNode(1)
	c.WaitReady(30 * time.Second)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err = mint(ctx, lone, "s3"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes did not resume once the majority was back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Nothing diverged: one log, the same on every replica.
	if a.LastSeq() != 21 || lone.LastSeq() != 21 {
		t.Fatalf("logs end at %d and %d, want 21 on both", a.LastSeq(), lone.LastSeq())
	}
}
