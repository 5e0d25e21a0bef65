package usage_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/authority/usage"
	"github.com/mandate-dev/mandate/token"
)

// engines are the kv engines the ledger is tested on.
var engines = map[string]func(t *testing.T, c *clock) kv.KV{
	"memory": func(t *testing.T, c *clock) kv.KV { return kv.NewMemory(c.Now) },
	"badger": func(t *testing.T, c *clock) kv.KV {
		s, err := authority.OpenBadgerStore(filepath.Join(t.TempDir(), "db"), authority.BadgerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s.Namespace("usage")
	},
}

// clock is a settable clock near the real time: the Badger store expires
// entries by the real clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Hour)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func decl(spec string) token.DeclaredLimit {
	l, err := token.ParseLimit(spec)
	if err != nil {
		panic(err)
	}
	return token.DeclaredLimit{Limit: l, Block: 1, ID: "ab12/0"}
}

func TestLedger(t *testing.T) {
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			t.Run("Grants", func(t *testing.T) { testGrants(t, open) })
			t.Run("ConcurrentNeverOver", func(t *testing.T) { testConcurrent(t, open) })
			t.Run("Windows", func(t *testing.T) { testWindows(t, open) })
			t.Run("Return", func(t *testing.T) { testReturn(t, open) })
			t.Run("BadRequests", func(t *testing.T) { testBad(t, open) })
		})
	}
}

// testGrants: a lease is what was asked, at most half of what remains when
// more than needed remains, and nothing when less than needed remains.
func testGrants(t *testing.T, open func(*testing.T, *clock) kv.KV) {
	c := newClock()
	l := usage.New(open(t, c), c.Now)
	ctx := context.Background()
	r := usage.Request{Limit: decl("refund:amount=100"), Session: "s_1", Expires: c.Now().Add(time.Hour), Need: 10, Want: 30}
	steps := []struct{ need, want, amount, used int64 }{
		{10, 30, 30, 30}, // asked for 30 of 100
		{10, 60, 35, 65}, // 70 remain: half is 35
		{10, 60, 18, 83}, // 35 remain: half (rounded up) is 18
		{10, 60, 10, 93}, // 17 remain: half is 9, less than needed: 10
		{10, 60, 0, 93},  // 7 remain: less than needed
		{7, 7, 7, 100},
	}
	for i, s := range steps {
		r.Need, r.Want = s.need, s.want
		got, err := l.Lease(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if got.Amount != s.amount || got.Used != s.used || (got.Amount > 0) != (got.ID != "") || got.ResetsIn != 0 || !got.ResetsAt.IsZero() {
			t.Fatalf("step %d: %+v; want amount %d, used %d, no window", i, got, s.amount, s.used)
		}
	}
	us, err := l.Session(ctx, "s_1")
	if err != nil || len(us) != 1 || us[0].Used != 100 || us[0].Held != 100 || us[0].Leases != 5 || !us[0].Current {
		t.Fatalf("Session: %+v, %v", us, err)
	}
}

// testConcurrent: many concurrent leases never hand out more than the
// maximum, and hand out all of it.
func testConcurrent(t *testing.T, open func(*testing.T, *clock) kv.KV) {
	c := newClock()
	store := open(t, c)
	// Two ledgers on one store: two authority processes on one engine.
	ls := []*usage.Ledger{usage.New(store, c.Now), usage.New(store, c.Now)}
	var total atomic.Int64
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := ls[i%2].Lease(context.Background(), usage.Request{Limit: decl("send_email:calls=500/1h"), Session: "s_1", Need: 1, Want: 7})
				if err != nil {
					t.Error(err)
					return
				}
				if got.Amount == 0 {
					return
				}
				total.Add(got.Amount)
			}
		}()
	}
	wg.Wait()
	if n := total.Load(); n != 500 {
		t.Fatalf("%d handed out in leases under a limit of 500; want exactly 500", n)
	}
}

// testWindows: each fixed window has its own budget, reset at its end.
func testWindows(t *testing.T, open func(*testing.T, *clock) kv.KV) {
	c := newClock() // the start of an hour
	l := usage.New(open(t, c), c.Now)
	ctx := context.Background()
	r := usage.Request{Limit: decl("send_email:calls=5/1h"), Session: "s_1", Need: 5, Want: 5}
	c.Add(20 * time.Minute)
	got, err := l.Lease(ctx, r)
	if err != nil || got.Amount != 5 || got.ResetsIn != 40*time.Minute || !got.ResetsAt.Equal(c.Now().Add(40*time.Minute)) {
		t.Fatalf("%+v, %v; want 5, resetting in 40m", got, err)
	}
	if got, _ := l.Lease(ctx, r); got.Amount != 0 {
		t.Fatalf("second lease in the window: %+v", got)
	}
	c.Add(40 * time.Minute)
	if got, _ := l.Lease(ctx, r); got.Amount != 5 || got.Used != 5 {
		t.Fatalf("in the next window: %+v; want a fresh 5", got)
	}
	us, _ := l.Session(ctx, "s_1")
	if len(us) != 2 || us[0].Current || !us[1].Current {
		t.Fatalf("Session: %+v; want the old window and the current one", us)
	}
}

// testReturn: a return gives the unused budget back once, records the rest
// as spent, and renewing returns and grants in one call.
func testReturn(t *testing.T, open func(*testing.T, *clock) kv.KV) {
	c := newClock()
	l := usage.New(open(t, c), c.Now)
	ctx := context.Background()
	r := usage.Request{Limit: decl("send_email:calls=20"), Session: "s_1", Need: 1, Want: 10}
	got, _ := l.Lease(ctx, r) // 10
	for range 3 {             // a retried return counts once
		if err := l.Return(ctx, got.ID, 6); err != nil {
			t.Fatal(err)
		}
	}
	us, _ := l.Session(ctx, "s_1")
	if us[0].Used != 4 || us[0].Spent != 4 || us[0].Held != 0 || us[0].Leases != 0 {
		t.Fatalf("after a return: %+v; want 4 used and spent", us[0])
	}
	a, _ := l.Lease(ctx, r)           // 16 remain: half is 8
	r.Renew, r.RenewUnused = a.ID, 99 // clamped to the lease's 8
	b, err := l.Lease(ctx, r)
	if err != nil || a.Amount != 8 || b.Amount != 8 || b.Used != 12 {
		t.Fatalf("renewal: %+v then %+v, %v; want 8 each, 12 used (4 spent + the new 8)", a, b, err)
	}
}

func testBad(t *testing.T, open func(*testing.T, *clock) kv.KV) {
	c := newClock()
	l := usage.New(open(t, c), c.Now)
	ctx := context.Background()
	for name, err := range map[string]error{
		"need 0": func() error {
			_, err := l.Lease(ctx, usage.Request{Limit: decl("x:calls=5"), Session: "s", Need: 0})
			return err
		}(),
		"bad limit": func() error {
			_, err := l.Lease(ctx, usage.Request{Limit: token.DeclaredLimit{}, Session: "s", Need: 1})
			return err
		}(),
		"bad lease ID":  l.Return(ctx, "a/b", 1),
		"empty ID":      l.Return(ctx, "", 1),
		"negative back": l.Return(ctx, "le_x", -1),
	} {
		if !errors.Is(err, usage.ErrBadRequest) {
			t.Errorf("%s: %v; want ErrBadRequest", name, err)
		}
	}
	got, err := l.Lease(ctx, usage.Request{Limit: decl("x:calls=5"), Session: "s", Need: 6, Want: 6})
	if err != nil || got.Amount != 0 {
		t.Errorf("a need over the maximum: %+v, %v; want nothing granted", got, err)
	}
	if err := l.Return(ctx, "le_unknown", 1); err != nil {
		t.Errorf("returning an unknown lease: %v; want nil (already returned)", err)
	}
}
