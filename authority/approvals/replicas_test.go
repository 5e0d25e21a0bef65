package approvals_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/approvals"
	"github.com/mandate-dev/mandate/authority/natsstore"
	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/internal/natstest"
)

// replicaR is one authority on a shared NATS JetStream store (a stream
// with the given replication), served on 127.0.0.1.
func replicaR(t *testing.T, urls string, c *clock, replicas int) *env {
	t.Helper()
	ctx := context.Background()
	s, err := natsstore.OpenStore(ctx, urls, natsstore.StoreOptions{Replicas: replicas})
	if err != nil {
		t.Fatal(err)
	}
	a, err := authority.Open(ctx, authority.Config{DataDir: t.TempDir(), AdminToken: adminToken, AdminTokenOutput: io.Discard, Now: c.Now}, authority.WithStore(s))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, a: a, url: serve(t, a), clock: c, log: &syncBuffer{}}
}

// replicaPair opens two replicas on urls with the given stream
// replication, and a person alice (approver for acme) both know.
func replicaPair(t *testing.T, urls string, replicas int) (a, b *env, cred string) {
	t.Helper()
	c := &clock{t: time.Now().UTC().Truncate(time.Second)}
	a, b = replicaR(t, urls, c, replicas), replicaR(t, urls, c, replicas)
	cred, err := a.a.People().Create(context.Background(), people.Person{Name: "alice@acme.test", Role: people.RoleApprover, Orgs: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	a.alice, b.alice = cred, cred
	return a, b, cred
}

// approveAt approves request id at replica e, which learns of the person
// and the request from the shared store, and returns the approval.
func approveAt(t *testing.T, e *env, id, cred string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got approvals.Request
		st, m := e.do("POST", "/v1/approvals/"+id+"/approve", cred, map[string]any{}, &got)
		if st == http.StatusOK {
			return got.Approval
		}
		if time.Now().After(deadline) {
			t.Fatalf("approve at the other replica: %d %v", st, m)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReplicasRedeemOnce: two authority replicas on one JetStream store
// share the requests and the use counts. An agent asks at one, a person
// approves at the other, and verifiers redeeming at both replicas race on
// one approval with max_uses 3: exactly three calls are allowed.
func TestReplicasRedeemOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	n := natstest.Start(t, 1)
	a, b, cred := replicaPair(t, n.URLs(), 1)
	tok := a.refunder(a.mint("s_replicas"))
	call := refund("9", 400)
	q := a.ask(tok, call, 3)
	ap := approveAt(t, b, q.ID, cred)
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		v := []*env{a, b}[i%2].verifier(&http.Client{Transport: &http.Transport{}})
		for range 3 {
			wg.Go(func() {
				r := vreq(call)
				r.Approval = ap
				if d := v.Authorize(context.Background(), tok, r); d.Allowed {
					allowed.Add(1)
				}
			})
		}
	}
	wg.Wait()
	if allowed.Load() != 3 {
		t.Fatalf("%d calls allowed across two replicas, want exactly 3", allowed.Load())
	}
}

// TestReplicasWaitSeesOtherReplicasDecision: an agent long-polls its
// request at one replica while a person approves it at another; the wait
// returns the approval, not a pending request at the end of its wait.
func TestReplicasWaitSeesOtherReplicasDecision(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	n := natstest.Start(t, 1)
	a, b, cred := replicaPair(t, n.URLs(), 1)
	tok := a.refunder(a.mint("s_wait"))
	q := a.ask(tok, refund("7", 400), 1)
	waited := make(chan approvals.Request, 1)
	go func() {
		var got approvals.Request
		st, m := a.do("GET", "/v1/approvals/"+q.ID+"?wait=60s", tok, nil, &got)
		if st != http.StatusOK {
			t.Errorf("wait: %d %v", st, m)
		}
		waited <- got
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := b.do("POST", "/v1/approvals/"+q.ID+"/approve", cred, map[string]any{}, nil)
		if st == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("approve at the other replica: %d", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := <-waited; got.Status != approvals.StatusApproved || got.Approval == "" {
		t.Fatalf("the wait at replica a returned status %q (approval %d bytes), want the approval b granted", got.Status, len(got.Approval))
	}
}

// TestReplicasRedeemOnceThroughANodeFailure: the same race on a 3-node
// cluster with replication 3, with a NATS node stopped while verifiers
// redeem at both replicas: a redemption the authority could not make
// durable is refused (the call denied), and in all, then and once the node
// is back, at most max_uses calls are allowed.
func TestReplicasRedeemOnceThroughANodeFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node NATS cluster")
	}
	n := natstest.Start(t, 3)
	a, b, cred := replicaPair(t, n.URLs(), 3)
	tok := a.refunder(a.mint("s_fault"))
	call := refund("11", 400)
	q := a.ask(tok, call, 3)
	ap := approveAt(t, b, q.ID, cred)
	var allowed, tries atomic.Int32
	race := func(rounds int) {
		var wg sync.WaitGroup
		for i := range 8 {
			v := []*env{a, b}[i%2].verifier(&http.Client{Transport: &http.Transport{}})
			for range rounds {
				wg.Go(func() {
					r := vreq(call)
					r.Approval = ap
					tries.Add(1)
					if d := v.Authorize(context.Background(), tok, r); d.Allowed {
						allowed.Add(1)
					}
				})
			}
		}
		wg.Wait()
	}
	done := make(chan struct{})
	go func() { race(3); close(done) }()
	for tries.Load() < 4 {
		time.Sleep(time.Millisecond)
	}
	n.StopNode(0)
	<-done
	if got := allowed.Load(); got > 3 {
		t.Fatalf("%d calls allowed during the node failure, max_uses 3", got)
	}
	n.StartNode(0)
	n.WaitReady(60 * time.Second)
	race(3)
	if got := allowed.Load(); got > 3 || got == 0 {
		t.Fatalf("%d calls allowed in all, want 1 to 3 (max_uses 3; a use spent when a node failed may be wasted, never doubled)", got)
	}
}
