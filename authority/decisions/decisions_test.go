package decisions_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mandate-dev/mandate/authority/decisions"
	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/token"
)

// clock is a settable clock for retention tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// engine opens a kv namespace on a clock, and reopens the same data (the
// "restart" of an authority).
type engine struct {
	name   string
	open   func(t *testing.T, c *clock) kv.KV
	reopen func(t *testing.T, c *clock) kv.KV
}

func engines() []engine {
	mem := engine{name: "memory"}
	var m *kv.Memory
	mem.open = func(t *testing.T, c *clock) kv.KV { m = kv.NewMemory(c.Now); return m }
	mem.reopen = func(t *testing.T, c *clock) kv.KV { return m }

	bad := engine{name: "badger"}
	var dir string
	var db *badger.DB
	openDB := func(t *testing.T) {
		d, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(true).WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		db = d
		t.Cleanup(func() { d.Close() })
	}
	bad.open = func(t *testing.T, c *clock) kv.KV {
		dir = t.TempDir()
		openDB(t)
		return kv.NewBadger(db, "k/decisions/", c.Now)
	}
	bad.reopen = func(t *testing.T, c *clock) kv.KV {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		openDB(t)
		return kv.NewBadger(db, "k/decisions/", c.Now)
	}
	return []engine{mem, bad}
}

type fixture struct {
	t     *testing.T
	clock *clock
	store kv.KV
	log   *decisions.Log
	pub   ed25519.PublicKey
	priv  ed25519.PrivateKey
	cfg   decisions.Config
}

func newFixture(t *testing.T, e engine, cfg decisions.Config) *fixture {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	f := &fixture{t: t, clock: &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}, pub: pub, priv: priv}
	cfg.Sign = func(msg []byte) (uint32, []byte) { return 7, ed25519.Sign(priv, msg) }
	cfg.Now = f.clock.Now
	if cfg.SignInterval == 0 {
		cfg.SignInterval = -1
	}
	f.cfg = cfg
	f.store = e.open(t, f.clock)
	f.log = f.openLog(f.store)
	return f
}

func (f *fixture) openLog(s kv.KV) *decisions.Log {
	f.t.Helper()
	l, err := decisions.Open(context.Background(), s, f.cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { l.Close() })
	return l
}

func (f *fixture) keys() map[uint32]ed25519.PublicKey { return map[uint32]ed25519.PublicKey{7: f.pub} }

// rec is a valid record: session s, agent a, org o, decided at minute m.
func rec(i int, s, a, o string, allowed bool, m int) token.DecisionRecord {
	r := token.DecisionRecord{
		ID: fmt.Sprintf("d_test_%d", i), Time: time.Date(2026, 11, 22, 9, m, 0, i, time.UTC), Allowed: allowed,
		Reason: "allowed", Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42",
		ArgNames: []string{"limit"}, Session: s, Agent: a, User: "alice@acme.test", Org: o,
		DelegatedTo: []string{"sub-agent"}, RevocationIDs: []string{"ab01", "cd02"}, DurationNS: 12000,
	}
	if !allowed {
		b, c := 1, 0
		r.Kind, r.Reason, r.FailedBlock, r.FailedCheck, r.CheckText = "caveat_denied", "an attenuation forbids this call", &b, &c, `check if tool($t), ["x"].contains($t)`
	}
	return r
}

func (f *fixture) append(verifier string, recs ...token.DecisionRecord) decisions.AppendResult {
	f.t.Helper()
	res, err := f.log.Append(context.Background(), verifier, recs)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

func (f *fixture) query(q decisions.Query, sc decisions.Scope) decisions.Page {
	f.t.Helper()
	p, err := f.log.Query(context.Background(), q, sc)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func ids(ds []decisions.Decision) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

var all = decisions.Scope{All: true}

func each(t *testing.T, fn func(t *testing.T, e engine)) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) { fn(t, e) })
	}
}

func TestAppendAndQueryByIndex(t *testing.T) {
	each(t, func(t *testing.T, e engine) {
		f := newFixture(t, e, decisions.Config{})
		// Session s1 (agent a1, org acme) and s2 (agent a2, org other),
		// times interleaved, every third denied.
		var batch []token.DecisionRecord
		for i := range 30 {
			s, a, o := "s1", "a1", "acme"
			if i%2 == 1 {
				s, a, o = "s2", "a2", "other"
			}
			batch = append(batch, rec(i, s, a, o, i%3 != 0, i))
		}
		res := f.append("v1", batch...)
		if res.Accepted != 30 || res.FirstSeq != 1 || res.LastSeq != 30 {
			t.Fatalf("append = %+v", res)
		}
		yes, no := true, false
		for _, tc := range []struct {
			name string
			q    decisions.Query
			want int
		}{
			{"session", decisions.Query{Filter: decisions.Filter{Session: "s1"}}, 15},
			{"agent", decisions.Query{Filter: decisions.Filter{Agent: "a2"}}, 15},
			{"org", decisions.Query{Filter: decisions.Filter{Org: "acme"}}, 15},
			{"all", decisions.Query{}, 30},
			{"denied", decisions.Query{Filter: decisions.Filter{Allowed: &no}}, 10},
			{"allowed in s1", decisions.Query{Filter: decisions.Filter{Session: "s1", Allowed: &yes}}, 10},
			{"time window", decisions.Query{Filter: decisions.Filter{After: time.Date(2026, 11, 22, 9, 9, 59, 0, time.UTC), Before: time.Date(2026, 11, 22, 9, 20, 0, 0, time.UTC)}}, 10},
			{"session and org mismatch", decisions.Query{Filter: decisions.Filter{Session: "s1", Org: "other"}}, 0},
		} {
			p := f.query(tc.q, all)
			if len(p.Decisions) != tc.want {
				t.Errorf("%s: %d decisions, want %d", tc.name, len(p.Decisions), tc.want)
			}
			for i := 1; i < len(p.Decisions); i++ {
				if p.Decisions[i].Time.After(p.Decisions[i-1].Time) {
					t.Errorf("%s: not newest first", tc.name)
				}
			}
		}
		d := f.query(decisions.Query{Filter: decisions.Filter{Session: "s2"}, Limit: 1}, all).Decisions[0]
		if d.Verifier != "v1" || d.Seq != 30 || d.ID != "d_test_29" || d.Agent != "a2" || d.DelegatedTo[0] != "sub-agent" || d.ReceivedAt.IsZero() {
			t.Errorf("stored decision = %+v", d)
		}
	})
}

func TestQueryPagesWithCursor(t *testing.T) {
	each(t, func(t *testing.T, e engine) {
		f := newFixture(t, e, decisions.Config{})
		for b := range 5 {
			var batch []token.DecisionRecord
			for i := range 20 {
				n := b*20 + i
				batch = append(batch, rec(n, "s", "a", "o", n%2 == 0, n%60))
			}
			f.append("v", batch...)
		}
		no := false
		for _, filter := range []decisions.Filter{{Session: "s"}, {}, {Allowed: &no}} {
			seen := map[string]bool{}
			q := decisions.Query{Filter: filter, Limit: 7}
			pages := 0
			for {
				p := f.query(q, all)
				for _, d := range p.Decisions {
					if seen[d.ID] {
						t.Fatalf("%+v: %s returned twice", filter, d.ID)
					}
					seen[d.ID] = true
				}
				pages++
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
			}
			want := 100
			if filter.Allowed != nil {
				want = 50
			}
			if len(seen) != want {
				t.Errorf("%+v: paged through %d decisions in %d pages, want %d", filter, len(seen), pages, want)
			}
		}
		// A cursor of another query is refused.
		p := f.query(decisions.Query{Filter: decisions.Filter{Session: "s"}, Limit: 3}, all)
		if _, err := f.log.Query(context.Background(), decisions.Query{Filter: decisions.Filter{Agent: "a"}, Cursor: p.Next}, all); !errors.Is(err, decisions.ErrInvalid) {
			t.Errorf("foreign cursor: %v, want ErrInvalid", err)
		}
	})
}

func TestBadBatchWritesNothing(t *testing.T) {
	each(t, func(t *testing.T, e engine) {
		f := newFixture(t, e, decisions.Config{})
		f.append("v", rec(0, "s", "a", "o", true, 0))
		noTime := rec(2, "s", "a", "o", true, 0)
		noTime.Time = time.Time{}
		badHex := rec(3, "s", "a", "o", true, 0)
		badHex.RevocationIDs = []string{"ZZ"}
		allowedWithKind := rec(4, "s", "a", "o", true, 0)
		allowedWithKind.Kind = "caveat_denied"
		tooLong := rec(5, "s", "a", "o", true, 0)
		tooLong.Reason = strings.Repeat("x", token.MaxDecisionText+1)
		badArgs := rec(6, "s", "a", "o", true, 0)
		badArgs.Args = json.RawMessage(`[1,2]`)
		tooMany := make([]token.DecisionRecord, decisions.MaxBatch+1)
		for i := range tooMany {
			tooMany[i] = rec(i, "s", "a", "o", true, 0)
		}
		for name, batch := range map[string][]token.DecisionRecord{
			"empty":              nil,
			"no time":            {rec(1, "s", "a", "o", true, 0), noTime},
			"bad revocation ID":  {rec(1, "s", "a", "o", true, 0), badHex},
			"allowed with kind":  {allowedWithKind},
			"reason too long":    {tooLong},
			"args not an object": {badArgs},
			"too many":           tooMany,
		} {
			if _, err := f.log.Append(context.Background(), "v", batch); !errors.Is(err, decisions.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
		if seq, _ := f.log.Head(); seq != 1 {
			t.Errorf("head = %d after refused batches, want 1", seq)
		}
		if n := len(f.query(decisions.Query{}, all).Decisions); n != 1 {
			t.Errorf("%d decisions stored, want 1 (nothing of a refused batch)", n)
		}
	})
}

func TestRetentionDropsOldDecisions(t *testing.T) {
	each(t, func(t *testing.T, e engine) {
		f := newFixture(t, e, decisions.Config{Retention: time.Hour})
		f.append("v", rec(0, "s", "a", "o", true, 0), rec(1, "s", "a", "o", false, 1))
		f.clock.Add(30 * time.Minute)
		f.append("v", rec(2, "s", "a", "o", true, 2))
		f.clock.Add(31 * time.Minute) // the first batch is 61 minutes old
		got := ids(f.query(decisions.Query{Filter: decisions.Filter{Session: "s"}}, all).Decisions)
		if len(got) != 1 || got[0] != "d_test_2" {
			t.Fatalf("after retention: %v, want only d_test_2", got)
		}
		if n := len(f.query(decisions.Query{}, all).Decisions); n != 1 {
			t.Errorf("time index: %d decisions, want 1", n)
		}
		// The chain goes on, survives a restart with its start expired,
		// and still exports and verifies.
		f.append("v", rec(3, "s", "a", "o", true, 3))
		f.log.Close()
		f.log = f.openLog(e.reopen(t, f.clock))
		if err := f.log.Corrupt(); err != nil {
			t.Fatalf("reopen after expiry: %v", err)
		}
		var buf bytes.Buffer
		if err := f.log.Export(context.Background(), 0, all, &buf); err != nil {
			t.Fatal(err)
		}
		rep, err := decisions.VerifyExport(&buf, f.keys())
		if err != nil || rep.FirstSeq != 3 || rep.LastSeq != 4 {
			t.Fatalf("verify after expiry: %+v, %v", rep, err)
		}
	})
}

func TestTamperedStoreIsDetected(t *testing.T) {
	ctx := context.Background()
	tamper := map[string]func(t *testing.T, s kv.KV){
		"changed decision": func(t *testing.T, s kv.KV) {
			e, err := s.Get(ctx, "e/0000000000000002")
			if err != nil {
				t.Fatal(err)
			}
			v := bytes.Replace(e.Value, []byte(`"allowed":false`), []byte(`"allowed":true`), 1)
			if bytes.Equal(v, e.Value) {
				t.Fatal("nothing to change")
			}
			put(t, s, e.Key, v)
		},
		"removed decision": func(t *testing.T, s kv.KV) {
			if _, err := s.Apply(ctx, kv.Delete("e/0000000000000002")); err != nil {
				t.Fatal(err)
			}
		},
		"removed last decision": func(t *testing.T, s kv.KV) {
			if _, err := s.Apply(ctx, kv.Delete("e/0000000000000003")); err != nil {
				t.Fatal(err)
			}
		},
		"swapped decisions": func(t *testing.T, s kv.KV) {
			a, _ := s.Get(ctx, "e/0000000000000001")
			b, _ := s.Get(ctx, "e/0000000000000002")
			put(t, s, a.Key, b.Value)
			put(t, s, b.Key, a.Value)
		},
		"inserted decision": func(t *testing.T, s kv.KV) {
			a, _ := s.Get(ctx, "e/0000000000000003")
			put(t, s, "e/0000000000000004", a.Value)
		},
	}
	each(t, func(t *testing.T, e engine) {
		for name, fn := range tamper {
			t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
				f := newFixture(t, e, decisions.Config{})
				f.append("v", rec(0, "s", "a", "o", true, 0), rec(1, "s", "a", "o", false, 1), rec(2, "s", "a", "o", true, 2))
				f.log.Close()
				s := e.reopen(t, f.clock)
				fn(t, s)
				l := f.openLog(s)
				if err := l.Corrupt(); !errors.Is(err, decisions.ErrCorrupt) {
					t.Fatalf("Corrupt() = %v, want ErrCorrupt", err)
				}
				if _, err := l.Query(ctx, decisions.Query{}, all); !errors.Is(err, decisions.ErrCorrupt) {
					t.Errorf("Query on a corrupt log: %v", err)
				}
				if _, err := l.Append(ctx, "v", []token.DecisionRecord{rec(9, "s", "a", "o", true, 9)}); !errors.Is(err, decisions.ErrCorrupt) {
					t.Errorf("Append on a corrupt log: %v", err)
				}
				if err := l.Export(ctx, 0, all, &bytes.Buffer{}); !errors.Is(err, decisions.ErrCorrupt) {
					t.Errorf("Export on a corrupt log: %v", err)
				}
			})
		}
	})
}

func put(t *testing.T, s kv.KV, key string, v []byte) {
	t.Helper()
	if _, err := s.Apply(context.Background(), kv.Put(key, v, time.Time{})); err != nil {
		t.Fatal(err)
	}
}

func TestQueryRefusesAlteredEntry(t *testing.T) {
	// A decision altered while the authority runs is refused when read,
	// and the log stops serving.
	f := newFixture(t, engines()[0], decisions.Config{})
	f.append("v", rec(0, "s", "a", "o", false, 0))
	e, _ := f.store.Get(context.Background(), "e/0000000000000001")
	put(t, f.store, e.Key, bytes.Replace(e.Value, []byte(`"allowed":false`), []byte(`"allowed":true `), 1))
	if _, err := f.log.Query(context.Background(), decisions.Query{Filter: decisions.Filter{Session: "s"}}, all); !errors.Is(err, decisions.ErrCorrupt) {
		t.Fatalf("Query = %v, want ErrCorrupt", err)
	}
	if f.log.Corrupt() == nil {
		t.Error("the log still serves after finding an altered decision")
	}
}

func export(t *testing.T, f *fixture) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := f.log.Export(context.Background(), 0, all, &buf); err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

func TestExportVerifies(t *testing.T) {
	each(t, func(t *testing.T, e engine) {
		f := newFixture(t, e, decisions.Config{})
		f.append("v", rec(0, "s", "a", "o", true, 0), rec(1, "s", "a", "o", false, 1))
		if _, err := f.log.SignHead(context.Background()); err != nil { // a periodic head, mid-export
			t.Fatal(err)
		}
		f.append("v", rec(2, "s", "a", "o", true, 2), rec(3, "s", "a", "o", true, 3))
		lines := export(t, f)
		// 4 decisions, the head signed after decision 2, the export's head.
		if len(lines) != 6 || !strings.Contains(lines[2], `"type":"head"`) || !strings.Contains(lines[5], `"type":"head"`) {
			t.Fatalf("export:\n%s", strings.Join(lines, ""))
		}
		rep, err := decisions.VerifyExport(strings.NewReader(strings.Join(lines, "")), f.keys())
		if err != nil || rep.Decisions != 4 || rep.Heads != 2 || rep.FirstSeq != 1 || rep.LastSeq != 4 {
			t.Fatalf("VerifyExport = %+v, %v", rep, err)
		}
		// After a sequence number: starts mid-chain and still verifies.
		var buf bytes.Buffer
		if err := f.log.Export(context.Background(), 2, all, &buf); err != nil {
			t.Fatal(err)
		}
		if rep, err := decisions.VerifyExport(&buf, f.keys()); err != nil || rep.FirstSeq != 3 {
			t.Fatalf("export after 2: %+v, %v", rep, err)
		}
		if err := f.log.Export(context.Background(), 0, decisions.Scope{Orgs: []string{"o"}}, &buf); !errors.Is(err, decisions.ErrForbidden) {
			t.Errorf("org-scoped export: %v, want ErrForbidden", err)
		}
		other, _, _ := ed25519.GenerateKey(rand.Reader)
		for name, mutate := range map[string]func([]string) []string{
			"changed": func(l []string) []string {
				l[1] = strings.Replace(l[1], `"allowed":false`, `"allowed":true`, 1)
				return l
			},
			"removed":       func(l []string) []string { return append(l[:1:1], l[2:]...) },
			"reordered":     func(l []string) []string { l[0], l[1] = l[1], l[0]; return l },
			"inserted":      func(l []string) []string { return append(l[:2:2], append([]string{l[1]}, l[2:]...)...) },
			"appended":      func(l []string) []string { return append(l, l[4]) },
			"no final head": func(l []string) []string { return l[:5] },
			"empty":         func(l []string) []string { return nil },
			"forged head": func(l []string) []string {
				l[5] = strings.Replace(l[5], `"signature":"`, `"signature":"00`, 1)
				return l
			},
			"rehashed": func(l []string) []string {
				// Change decision 4 and fix its hash: the signed head
				// no longer matches.
				var ln decisions.Line
				_ = json.Unmarshal([]byte(l[4]), &ln)
				ln.Record = bytes.Replace(ln.Record, []byte(`"allowed":true`), []byte(`"allowed":false`), 1)
				ln.Hash = decisions.ChainHash(ln.PrevHash, ln.Seq, ln.Record)
				b, _ := json.Marshal(ln)
				l[4] = string(b) + "\n"
				return l
			},
		} {
			l := mutate(append([]string(nil), lines...))
			if _, err := decisions.VerifyExport(strings.NewReader(strings.Join(l, "")), f.keys()); !errors.Is(err, decisions.ErrTampered) {
				t.Errorf("%s: VerifyExport = %v, want ErrTampered", name, err)
			}
		}
		if _, err := decisions.VerifyExport(strings.NewReader(strings.Join(lines, "")), map[uint32]ed25519.PublicKey{7: other}); !errors.Is(err, decisions.ErrTampered) {
			t.Errorf("wrong key: %v", err)
		}
	})
}

func TestSignerSignsPeriodically(t *testing.T) {
	f := newFixture(t, engines()[0], decisions.Config{SignInterval: time.Millisecond})
	f.append("v", rec(0, "s", "a", "o", true, 0))
	// Wait for the signer's head (no timing asserted: only that it comes).
	for {
		e, err := f.store.Get(context.Background(), "h/0000000000000001")
		if err == nil {
			var h decisions.Head
			if err := json.Unmarshal(e.Value, &h); err != nil || !h.Verify(f.pub) {
				t.Fatalf("periodic head %s does not verify (%v)", e.Value, err)
			}
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSubscribe(t *testing.T) {
	f := newFixture(t, engines()[0], decisions.Config{MaxSubscribers: 2})
	s1, err := f.log.Subscribe(decisions.Filter{Session: "s1"}, all)
	if err != nil {
		t.Fatal(err)
	}
	acme, err := f.log.Subscribe(decisions.Filter{}, decisions.Scope{Orgs: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.log.Subscribe(decisions.Filter{}, all); !errors.Is(err, decisions.ErrBusy) {
		t.Fatalf("third stream: %v, want ErrBusy", err)
	}
	if _, err := f.log.Subscribe(decisions.Filter{Org: "other"}, decisions.Scope{Orgs: []string{"acme"}}); !errors.Is(err, decisions.ErrForbidden) {
		t.Fatalf("out of scope: %v, want ErrForbidden", err)
	}
	f.append("v", rec(0, "s1", "a", "other", true, 0), rec(1, "s2", "a", "acme", true, 1), rec(2, "s1", "a", "acme", true, 2))
	got := func(s *decisions.Subscription, n int) []string {
		var out []string
		for range n {
			out = append(out, (<-s.C).ID)
		}
		return out
	}
	if g := got(s1, 2); g[0] != "d_test_0" || g[1] != "d_test_2" {
		t.Errorf("session stream: %v", g)
	}
	if g := got(acme, 2); g[0] != "d_test_1" || g[1] != "d_test_2" {
		t.Errorf("org-scoped stream: %v", g)
	}
	// A reader that never reads is ended, not waited for.
	var many []token.DecisionRecord
	for i := range decisions.MaxBatch {
		many = append(many, rec(i, "s1", "a", "acme", true, 0))
	}
	f.append("v", many...)
	f.append("v", many...)
	for range s1.C {
	}
	if !s1.Lagged() {
		t.Error("a stream that fell behind was not marked lagged")
	}
	acme.Close()
	acme.Close()
	if _, err := f.log.Subscribe(decisions.Filter{}, all); err != nil {
		t.Errorf("after closing streams: %v", err)
	}
}

func TestScope(t *testing.T) {
	f := newFixture(t, engines()[0], decisions.Config{})
	f.append("v", rec(0, "s", "a", "acme", true, 0), rec(1, "s", "a", "other", true, 1))
	if got := ids(f.query(decisions.Query{}, decisions.Scope{Orgs: []string{"acme"}}).Decisions); len(got) != 1 || got[0] != "d_test_0" {
		t.Errorf("acme reader sees %v", got)
	}
	if got := ids(f.query(decisions.Query{Filter: decisions.Filter{Session: "s"}}, decisions.Scope{Orgs: []string{"acme", "x"}}).Decisions); len(got) != 1 {
		t.Errorf("two-org reader sees %v", got)
	}
	if _, err := f.log.Query(context.Background(), decisions.Query{Filter: decisions.Filter{Org: "other"}}, decisions.Scope{Orgs: []string{"acme"}}); !errors.Is(err, decisions.ErrForbidden) {
		t.Errorf("other org: %v", err)
	}
	if _, err := f.log.Query(context.Background(), decisions.Query{}, decisions.Scope{}); !errors.Is(err, decisions.ErrForbidden) {
		t.Errorf("zero scope: %v", err)
	}
}

func TestConcurrentAppendsChain(t *testing.T) {
	each(t, func(t *testing.T, e engine) {
		f := newFixture(t, e, decisions.Config{})
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range 10 {
					var batch []token.DecisionRecord
					for i := range 10 {
						batch = append(batch, rec(g*1000+b*10+i, fmt.Sprint("s", g), "a", "o", true, i))
					}
					if _, err := f.log.Append(context.Background(), "v", batch); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		if seq, _ := f.log.Head(); seq != 800 {
			t.Fatalf("head = %d, want 800", seq)
		}
		f.log.Close()
		f.log = f.openLog(e.reopen(t, f.clock))
		if err := f.log.Corrupt(); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := f.log.Export(context.Background(), 0, all, &buf); err != nil {
			t.Fatal(err)
		}
		if rep, err := decisions.VerifyExport(&buf, f.keys()); err != nil || rep.Decisions != 800 {
			t.Fatalf("%+v %v", rep, err)
		}
	})
}

func TestIndexValuesWithSeparators(t *testing.T) {
	f := newFixture(t, engines()[0], decisions.Config{})
	long := strings.Repeat("é/", 150) // over the length an index key holds
	f.append("v", rec(0, "client/s%2F", "a", "o", true, 0), rec(1, "client", "a", "o", true, 1), rec(2, long, "a", "o", true, 2))
	for s, want := range map[string]string{"client/s%2F": "d_test_0", "client": "d_test_1", long: "d_test_2"} {
		got := ids(f.query(decisions.Query{Filter: decisions.Filter{Session: s}}, all).Decisions)
		if len(got) != 1 || got[0] != want {
			t.Errorf("session %.20q: %v, want [%s]", s, got, want)
		}
	}
}

// Two authority replicas on one store (a replicated engine) append at
// once: the head's compare-and-set keeps one chain.
func TestReplicasShareOneChain(t *testing.T) {
	each(t, func(t *testing.T, e engine) {
		f := newFixture(t, e, decisions.Config{})
		other := f.openLog(f.store)
		var wg sync.WaitGroup
		for r, l := range []*decisions.Log{f.log, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range 20 {
					if _, err := l.Append(context.Background(), "v", []token.DecisionRecord{rec(r*100+b, "s", "a", "o", true, b)}); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		var buf bytes.Buffer
		if err := other.Export(context.Background(), 0, all, &buf); err != nil {
			t.Fatal(err)
		}
		if rep, err := decisions.VerifyExport(&buf, f.keys()); err != nil || rep.Decisions != 40 {
			t.Fatalf("%+v %v", rep, err)
		}
		if err := f.openLog(f.store).Corrupt(); err != nil {
			t.Fatal(err)
		}
	})
}
