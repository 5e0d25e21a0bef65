package usage_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/usage"
)

// TestManyVerifiers: four verifiers of one authority, four goroutines
// each, never allow more than the limit in total; once they return their
// leases the ledger holds exactly what they allowed, and a new verifier
// can spend exactly the rest.
func TestManyVerifiers(t *testing.T) {
	e := newEnv(t, nil)
	const max = 300
	tok := attenuated(t, e.mint(t), time.Now, "send_email:calls=300/1h")
	var allowed atomic.Int64
	var wg sync.WaitGroup
	var enfs []*usage.Enforcer
	for range 4 {
		v, enf := e.verifier(t)
		enfs = append(enfs, enf)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 100 {
					d := v.Authorize(context.Background(), tok, call("send_email", nil))
					if d.Allowed {
						allowed.Add(1)
					} else if d.Kind() != verifier.KindLimitExceeded {
						t.Errorf("denied as %s: %s", d.Kind(), d.Reason)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	got := allowed.Load()
	if got > max {
		t.Fatalf("%d calls allowed in total under a limit of %d", got, max)
	}
	for _, enf := range enfs {
		_ = enf.Close()
	}
	u := e.usage(t, tok)["send_email:calls=300/1h@1"]
	if u.Used != got || u.Spent != got || u.Held != 0 {
		t.Fatalf("ledger after every lease came back: %+v; want used = spent = %d allowed, held 0", u, got)
	}
	v, _ := e.verifier(t)
	rest := int64(0)
	for range max {
		if d := v.Authorize(context.Background(), tok, call("send_email", nil)); d.Allowed {
			rest++
		}
	}
	if got+rest != max {
		t.Fatalf("%d allowed, then %d by a new verifier: %d in all; want exactly %d", got, rest, got+rest, max)
	}
}

// TestModelCrashes: verifiers that call at random and crash at random
// (dropped without returning their leases). The total allowed never
// exceeds the cap, and what is never allowed is exactly what the crashed
// verifiers held.
func TestModelCrashes(t *testing.T) {
	e := newEnv(t, nil)
	const max = 400
	tok := attenuated(t, e.mint(t), time.Now, "send_email:calls=400/24h")
	id := token.LimitID(mustParse(t, tok).RevocationIDs()[1], 0)
	rng := rand.New(rand.NewPCG(1, 2))
	type node struct {
		v   *verifier.Verifier
		enf *usage.Enforcer
	}
	fresh := func() node {
		r, _ := usage.NewRemote(e.url, nil)
		enf, _ := usage.New(usage.Config{Leaser: r, IdleReturn: -1, MinLease: 1 + rng.Int64N(8), MaxLease: 64})
		v, _ := verifier.New(verifier.Config{Keys: e.a.KeySet(), InsecureNoRevocation: true, Limits: enf})
		return node{v, enf}
	}
	nodes := []node{fresh(), fresh(), fresh(), fresh()}
	var allowed, lost int64
	for step := 0; step < 2000; step++ {
		i := rng.IntN(len(nodes))
		switch r := rng.IntN(100); {
		case r < 3: // kill -9: its unspent lease is never returned
			lost += nodes[i].enf.Holding(id)
			nodes[i] = fresh()
		case r < 5: // an orderly stop
			_ = nodes[i].enf.Close()
			nodes[i] = fresh()
		default:
			d := nodes[i].v.Authorize(context.Background(), tok, call("send_email", nil))
			if d.Allowed {
				allowed++
			} else if d.Kind() != verifier.KindLimitExceeded {
				t.Fatalf("denied as %s: %s", d.Kind(), d.Reason)
			}
		}
		if allowed > max {
			t.Fatalf("step %d: %d allowed under a cap of %d", step, allowed, max)
		}
	}
	for _, n := range nodes {
		_ = n.enf.Close()
	}
	// Drain what is left with one more verifier.
	n := fresh()
	for range max {
		if d := n.v.Authorize(context.Background(), tok, call("send_email", nil)); d.Allowed {
			allowed++
		}
	}
	_ = n.enf.Close()
	if allowed > max {
		t.Fatalf("%d allowed under a cap of %d", allowed, max)
	}
	if allowed+lost != max {
		t.Fatalf("allowed %d + lost in crashes %d = %d; want exactly the cap %d (a crash wastes its lease, nothing else)", allowed, lost, allowed+lost, max)
	}
	t.Logf("allowed %d, wasted by crashes %d", allowed, lost)
}

// TestIdleLeaseReturned: budget another verifier holds idle is named in
// the denial, and comes back when that verifier returns its idle lease.
func TestIdleLeaseReturned(t *testing.T) {
	e := newEnv(t, nil)
	tok := attenuated(t, e.mint(t), time.Now, "send_email:calls=10/1h")
	idle := &clock{t: time.Now()}
	a, enfA := e.verifier(t, func(c *usage.Config) { c.IdleReturn, c.Now, c.MinLease = time.Minute, idle.Now, 8 })
	b, _ := e.verifier(t)
	if d := a.Authorize(context.Background(), tok, call("send_email", nil)); !d.Allowed {
		t.Fatal(d.Reason)
	}
	id := token.LimitID(mustParse(t, tok).RevocationIDs()[1], 0)
	held := enfA.Holding(id)
	if held < 1 {
		t.Fatalf("verifier a holds %d after its first call; want a lease", held)
	}
	n := 0
	var last verifier.Decision
	for range 20 {
		if last = b.Authorize(context.Background(), tok, call("send_email", nil)); last.Allowed {
			n++
		}
	}
	if int64(n) != 10-1-held || !strings.Contains(last.Reason, "held unspent in other verifiers' leases") {
		t.Fatalf("verifier b: %d allowed, last %q; want %d and a reason naming what a holds", n, last.Reason, 10-1-held)
	}
	// a is idle: its janitor returns the lease (two ticks: marked idle, then returned).
	idle.Add(2 * time.Minute)
	for enfA.Holding(id) != 0 {
		time.Sleep(10 * time.Millisecond)
		idle.Add(time.Minute)
	}
	for range int(held) {
		if d := b.Authorize(context.Background(), tok, call("send_email", nil)); !d.Allowed {
			t.Fatalf("after a returned its idle lease: %s", d.Reason)
		}
	}
	if d := b.Authorize(context.Background(), tok, call("send_email", nil)); d.Allowed {
		t.Fatal("more than the limit allowed")
	}
}
