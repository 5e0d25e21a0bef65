// Package kvtest is the conformance suite of kv.KV: every engine runs it.
package kvtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority/kv"
)

// Clock is a settable clock the engine under test must use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Run checks the kv.KV contract. open returns an empty namespace using
// clock; reopen, when not nil, returns the same namespace after the engine
// was closed and opened again (for durability).
func Run(t *testing.T, open func(t *testing.T, clock *Clock) kv.KV, reopen func(t *testing.T) kv.KV) {
	ctx := context.Background()
	t.Run("GetMissing", func(t *testing.T) {
		s := open(t, NewClock())
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("Get missing = %v, want ErrNotFound", err)
		}
	})
	t.Run("CreateUpdateDelete", func(t *testing.T) {
		s := open(t, NewClock())
		revs, err := s.Apply(ctx, kv.Create("a", []byte("1"), time.Time{}))
		if err != nil || revs[0] == 0 {
			t.Fatalf("create: %v %v", revs, err)
		}
		if _, err := s.Apply(ctx, kv.Create("a", []byte("2"), time.Time{})); !errors.Is(err, kv.ErrConflict) {
			t.Fatalf("second create = %v, want ErrConflict", err)
		}
		e, err := s.Get(ctx, "a")
		if err != nil || string(e.Value) != "1" || e.Rev != revs[0] {
			t.Fatalf("Get = %+v %v", e, err)
		}
		if _, err := s.Apply(ctx, kv.Update("a", []byte("x"), e.Rev+1, time.Time{})); !errors.Is(err, kv.ErrConflict) {
			t.Fatalf("update at a wrong revision = %v, want ErrConflict", err)
		}
		r2, err := s.Apply(ctx, kv.Update("a", []byte("3"), e.Rev, time.Time{}))
		if err != nil || r2[0] <= e.Rev {
			t.Fatalf("update: %v %v (old rev %d)", r2, err, e.Rev)
		}
		if _, err := s.Apply(ctx, kv.Update("a", []byte("4"), e.Rev, time.Time{})); !errors.Is(err, kv.ErrConflict) {
			t.Fatalf("stale compare-and-set = %v, want ErrConflict", err)
		}
		if _, err := s.Apply(ctx, kv.Delete("a")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "a"); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("Get after delete = %v", err)
		}
		if _, err := s.Apply(ctx, kv.Update("a", []byte("5"), r2[0], time.Time{})); !errors.Is(err, kv.ErrConflict) {
			t.Fatalf("compare-and-set on a deleted key = %v, want ErrConflict", err)
		}
		r3, err := s.Apply(ctx, kv.Create("a", []byte("6"), time.Time{}))
		if err != nil || r3[0] <= r2[0] {
			t.Fatalf("re-create: revision %v after %d (%v): revisions must never repeat", r3, r2[0], err)
		}
	})
	t.Run("BatchAllOrNothing", func(t *testing.T) {
		s := open(t, NewClock())
		if _, err := s.Apply(ctx, kv.Put("x", []byte("1"), time.Time{})); err != nil {
			t.Fatal(err)
		}
		_, err := s.Apply(ctx, kv.Put("y", []byte("1"), time.Time{}), kv.Create("x", []byte("2"), time.Time{}))
		if !errors.Is(err, kv.ErrConflict) {
			t.Fatalf("batch with a failing condition = %v, want ErrConflict", err)
		}
		if _, err := s.Get(ctx, "y"); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("a failed batch wrote y: %v", err)
		}
		if _, err := s.Apply(ctx, kv.Put("z", nil, time.Time{}), kv.Put("z", nil, time.Time{})); !errors.Is(err, kv.ErrInvalid) {
			t.Fatalf("same key twice in a batch = %v, want ErrInvalid", err)
		}
		if _, err := s.Apply(ctx); !errors.Is(err, kv.ErrInvalid) {
			t.Fatalf("empty batch = %v, want ErrInvalid", err)
		}
		if _, err := s.Apply(ctx, kv.Put("bad\x00key", nil, time.Time{})); !errors.Is(err, kv.ErrInvalid) {
			t.Fatalf("control character in a key = %v, want ErrInvalid", err)
		}
	})
	t.Run("Expiry", func(t *testing.T) {
		clock := NewClock()
		s := open(t, clock)
		if _, err := s.Apply(ctx, kv.Put("e", []byte("v"), clock.Now().Add(time.Minute)), kv.Put("f", []byte("v"), time.Time{})); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "e"); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Minute)
		if _, err := s.Get(ctx, "e"); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("Get at expiry = %v, want ErrNotFound", err)
		}
		n := 0
		if err := s.Scan(ctx, kv.ScanOptions{}, func(e kv.Entry) bool { n++; return e.Key == "f" }); err != nil || n != 1 {
			t.Fatalf("scan after expiry saw %d entries (%v), want only f", n, err)
		}
		if _, err := s.Apply(ctx, kv.Create("e", []byte("again"), time.Time{})); err != nil {
			t.Fatalf("create over an expired entry: %v", err)
		}
	})
	t.Run("Scan", func(t *testing.T) {
		s := open(t, NewClock())
		var ops []kv.Op
		for _, k := range []string{"p/a", "p/b", "p/c", "q/a", "o/z"} {
			ops = append(ops, kv.Put(k, []byte(k), time.Time{}))
		}
		if _, err := s.Apply(ctx, ops...); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			o    kv.ScanOptions
			want string
		}{
			{kv.ScanOptions{Prefix: "p/"}, "p/a p/b p/c"},
			{kv.ScanOptions{Prefix: "p/", Reverse: true}, "p/c p/b p/a"},
			{kv.ScanOptions{Prefix: "p/", Start: "p/b"}, "p/b p/c"},
			{kv.ScanOptions{Prefix: "p/", Start: "p/b", Reverse: true}, "p/b p/a"},
			{kv.ScanOptions{Prefix: "p/", Start: "p/bb", Reverse: true}, "p/b p/a"},
			{kv.ScanOptions{Prefix: "p/", Start: "a"}, "p/a p/b p/c"},
			{kv.ScanOptions{Prefix: "p/", Start: "z"}, ""},
			{kv.ScanOptions{Prefix: "p/", Start: "a", Reverse: true}, ""},
			{kv.ScanOptions{Prefix: "p/", Start: "z", Reverse: true}, "p/c p/b p/a"},
			{kv.ScanOptions{}, "o/z p/a p/b p/c q/a"},
			{kv.ScanOptions{Prefix: "r/"}, ""},
		}
		for _, c := range cases {
			got := ""
			err := s.Scan(ctx, c.o, func(e kv.Entry) bool {
				if !c.o.KeysOnly && string(e.Value) != e.Key {
					t.Errorf("value of %s = %q", e.Key, e.Value)
				}
				if got != "" {
					got += " "
				}
				got += e.Key
				return true
			})
			if err != nil || got != c.want {
				t.Errorf("Scan(%+v) = %q, %v; want %q", c.o, got, err, c.want)
			}
		}
		n := 0
		_ = s.Scan(ctx, kv.ScanOptions{Prefix: "p/"}, func(kv.Entry) bool { n++; return n < 2 })
		if n != 2 {
			t.Errorf("scan went on after fn returned false: %d calls", n)
		}
	})
	t.Run("ConcurrentCompareAndSet", func(t *testing.T) {
		s := open(t, NewClock())
		if _, err := s.Apply(ctx, kv.Create("n", []byte("0"), time.Time{})); err != nil {
			t.Fatal(err)
		}
		// 8 goroutines each add 1 ten times with compare-and-set: the
		// counter must reach exactly 80.
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 10; i++ {
					for {
						e, err := s.Get(ctx, "n")
						if err != nil {
							t.Error(err)
							return
						}
						var v int
						fmt.Sscan(string(e.Value), &v)
						_, err = s.Apply(ctx, kv.Update("n", []byte(fmt.Sprint(v+1)), e.Rev, time.Time{}))
						if err == nil {
							break
						}
						if !errors.Is(err, kv.ErrConflict) {
							t.Error(err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		e, _ := s.Get(ctx, "n")
		if string(e.Value) != "80" {
			t.Fatalf("counter = %s after 80 compare-and-set increments", e.Value)
		}
	})
	t.Run("ConcurrentBatches", func(t *testing.T) {
		s := open(t, NewClock())
		if _, err := s.Apply(ctx, kv.Create("a", []byte("0"), time.Time{}), kv.Create("b", []byte("0"), time.Time{})); err != nil {
			t.Fatal(err)
		}
		// Each batch moves both counters by one, conditioned on both
		// revisions: a batch half applied, or applied over a stale read,
		// would leave them apart or short.
		var wg sync.WaitGroup
		for g := 0; g < 6; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 8; i++ {
					for {
						ea, err1 := s.Get(ctx, "a")
						eb, err2 := s.Get(ctx, "b")
						if err1 != nil || err2 != nil {
							t.Error(err1, err2)
							return
						}
						var va, vb int
						fmt.Sscan(string(ea.Value), &va)
						fmt.Sscan(string(eb.Value), &vb)
						_, err := s.Apply(ctx, kv.Update("a", []byte(fmt.Sprint(va+1)), ea.Rev, time.Time{}), kv.Update("b", []byte(fmt.Sprint(vb+1)), eb.Rev, time.Time{}))
						if err == nil {
							break
						}
						if !errors.Is(err, kv.ErrConflict) {
							t.Error(err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		ea, _ := s.Get(ctx, "a")
		eb, _ := s.Get(ctx, "b")
		if string(ea.Value) != "48" || string(eb.Value) != "48" {
			t.Fatalf("counters = %s, %s after 48 two-key batches", ea.Value, eb.Value)
		}
	})
	t.Run("ReturnedValuesAreTheCallers", func(t *testing.T) {
		s := open(t, NewClock())
		v := []byte("abc")
		if _, err := s.Apply(ctx, kv.Put("k", v, time.Time{})); err != nil {
			t.Fatal(err)
		}
		v[0] = 'X'
		e, _ := s.Get(ctx, "k")
		e.Value[1] = 'Y'
		e2, _ := s.Get(ctx, "k")
		if string(e2.Value) != "abc" {
			t.Fatalf("stored value changed through a caller's slice: %q", e2.Value)
		}
	})
	if reopen != nil {
		t.Run("Durable", func(t *testing.T) {
			s := open(t, NewClock())
			revs, err := s.Apply(ctx, kv.Put("d1", []byte("one"), time.Time{}), kv.Put("d2", []byte("two"), time.Now().Add(time.Hour)))
			if err != nil {
				t.Fatal(err)
			}
			s = reopen(t)
			e, err := s.Get(ctx, "d1")
			if err != nil || string(e.Value) != "one" || e.Rev != revs[0] {
				t.Fatalf("after reopen: %+v %v", e, err)
			}
			r, err := s.Apply(ctx, kv.Update("d1", []byte("1"), e.Rev, time.Time{}))
			if err != nil || r[0] <= e.Rev {
				t.Fatalf("update after reopen: %v %v", r, err)
			}
		})
	}
}
