package usage_test

import (
	"context"
	"io"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/natsstore"
	"github.com/mandate-dev/mandate/internal/natstest"
	"github.com/mandate-dev/mandate/verifier"
)

// TestReplicasNeverOverspend: two authority replicas on a 3-node NATS
// JetStream cluster (replication 3) keep one ledger. Verifiers lease from
// both while a NATS node is stopped mid-burst: calls are allowed or
// denied (limit reached, or the authority briefly unavailable during the
// stream's leader election), and in all never more than the limit, then or
// after the node is back.
func TestReplicasNeverOverspend(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node NATS cluster")
	}
	c := natstest.Start(t, 3)
	var reps []*env
	for range 2 {
		s, err := natsstore.OpenStore(context.Background(), c.URLs(), natsstore.StoreOptions{Replicas: 3})
		if err != nil {
			t.Fatal(err)
		}
		a, err := authority.Open(context.Background(), authority.Config{DataDir: t.TempDir(), AdminTokenOutput: io.Discard}, authority.WithStore(s))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(authority.NewHandler(a))
		t.Cleanup(func() { srv.Close(); a.Shutdown(); _ = a.Close() })
		reps = append(reps, &env{a: a, url: srv.URL, srv: srv})
	}
	const max = 200
	tok := attenuated(t, reps[0].mint(t), time.Now, "send_email:calls=200/1h")
	var allowed, calls atomic.Int64
	var wg sync.WaitGroup
	for i := range 4 {
		v, _ := reps[i%2].verifier(t)
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 100 {
					d := v.Authorize(context.Background(), tok, call("send_email", nil))
					calls.Add(1)
					switch {
					case d.Allowed:
						allowed.Add(1)
					case d.Kind() == verifier.KindLimitExceeded, d.Kind() == verifier.KindUnavailable:
					default:
						t.Errorf("denied as %s: %s", d.Kind(), d.Reason)
						return
					}
				}
			}()
		}
	}
	for calls.Load() < 150 {
		time.Sleep(5 * time.Millisecond)
	}
	c.StopNode(0)
	wg.Wait()
	got := allowed.Load()
	if got > max {
		t.Fatalf("%d calls allowed across two replicas under a limit of %d", got, max)
	}
	c.StartNode(0)
	c.WaitReady(30 * time.Second)
	// A new verifier at the other replica may spend only what is left.
	v, _ := reps[1].verifier(t)
	rest := int64(0)
	for range max {
		if d := v.Authorize(context.Background(), tok, call("send_email", nil)); d.Allowed {
			rest++
		}
	}
	if got+rest > max {
		t.Fatalf("%d allowed during the fault, then %d more: %d under a limit of %d", got, rest, got+rest, max)
	}
	t.Logf("%d allowed during the fault, %d after; %d of %d still held in the first verifiers' leases", got, rest, max-got-rest, max)
}
