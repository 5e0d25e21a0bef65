// Package storetest is the conformance suite for implementations of
// [authority.Store]: every backend runs the same tests, so they all honour
// the contract written on the interface.
//
//	func TestMemoryStore(t *testing.T) {
//		storetest.RunStoreTests(t, func(t *testing.T) authority.Store {
//			return authority.NewMemoryStore(authority.WithMemoryGrace(0))
//		})
//	}
//
// newStore must return an empty, open store that keeps records no longer
// than their ExpiresAt (retention grace 0): the expiry test waits for a
// record to vanish in real time. A durable backend also runs
// [RunDurableStoreTests], which closes and reopens the store.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/token"
)

// ID returns a deterministic 64-byte revocation ID for n.
func ID(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	sum := sha512.Sum512(b[:])
	return sum[:]
}

func tokenRec(n uint64, session, agent, user, client string, now time.Time) authority.TokenRecord {
	return authority.TokenRecord{
		RevocationID: ID(n), Session: session, Agent: agent, User: user, Org: "acme",
		ClientID: client, KeyID: 7, IssuedAt: now.Truncate(time.Second), ExpiresAt: now.Add(time.Hour).Truncate(time.Second),
		Rights: []token.Right{{Service: "crm", Tool: "*", Operation: "read", Resource: "account:acme/" + fmt.Sprint(n)}},
	}
}

// RunStoreTests runs the conformance suite. Each subtest gets its own
// store from newStore; the suite closes it.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) authority.Store) {
	t.Helper()
	open := func(t *testing.T) authority.Store {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	ctx := context.Background()

	t.Run("Namespaces", func(t *testing.T) {
		s := open(t)
		a, b := s.Namespace("alpha"), s.Namespace("beta")
		if _, err := a.Apply(ctx, kv.Put("k", []byte("a"), time.Time{})); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, "k"); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("namespace beta sees alpha's key: %v", err)
		}
		if e, err := s.Namespace("alpha").Get(ctx, "k"); err != nil || string(e.Value) != "a" {
			t.Fatalf("the same name gave another namespace: %+v %v", e, err)
		}
		n := 0
		_ = b.Scan(ctx, kv.ScanOptions{}, func(kv.Entry) bool { n++; return true })
		if n != 0 {
			t.Fatalf("scan of an empty namespace saw %d entries", n)
		}
		// The namespace lives beside the store's own records without
		// disturbing them.
		if _, err := a.Apply(ctx, kv.Put("m/last_seq", []byte("x"), time.Time{})); err != nil {
			t.Fatal(err)
		}
		if last, err := s.LastSeq(ctx); err != nil || last != 0 {
			t.Fatalf("LastSeq = %d, %v after a namespace write", last, err)
		}
	})

	t.Run("MintRecordsTokenAndIndexes", func(t *testing.T) {
		s := open(t)
		now := time.Now()
		b := &authority.Batch{Now: now, Mints: []authority.MintOp{
			{Token: tokenRec(1, "s1", "bot", "alice", "c1", now)},
			{Token: tokenRec(2, "s1", "bot", "bob", "c1", now)},
			{Token: tokenRec(3, "s2", "other", "alice", "c1", now)},
		}}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		for i, m := range b.Mints {
			if m.Err != nil {
				t.Fatalf("mint %d: %v", i, m.Err)
			}
		}
		got, err := s.Token(ctx, ID(2))
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		want := tokenRec(2, "s1", "bot", "bob", "c1", now)
		if !equalToken(got, want) {
			t.Errorf("Token = %+v, want %+v", got, want)
		}
		if _, err := s.Token(ctx, ID(99)); !errors.Is(err, authority.ErrNotFound) {
			t.Errorf("Token(unknown) error = %v, want ErrNotFound", err)
		}
		for _, tc := range []struct {
			by    authority.TokenIndex
			value string
			want  []uint64
		}{
			{authority.BySession, "s1", []uint64{1, 2}},
			{authority.BySession, "s2", []uint64{3}},
			{authority.ByAgent, "bot", []uint64{1, 2}},
			{authority.ByUser, "alice", []uint64{1, 3}},
			{authority.ByUser, "nobody", nil},
			{authority.BySession, "s", nil}, // a prefix of a session is not that session
		} {
			if got := collect(t, s, tc.by, tc.value); !sameIDs(got, tc.want) {
				t.Errorf("Tokens(%v, %q) = %d tokens, want IDs %v", tc.by, tc.value, len(got), tc.want)
			}
		}
		sess, err := s.Session(ctx, "s1")
		if err != nil {
			t.Fatalf("Session: %v", err)
		}
		if sess.ClientID != "c1" || !sess.ExpiresAt.Equal(want.ExpiresAt) || !sess.RevokedAt.IsZero() {
			t.Errorf("Session = %+v", sess)
		}
		if _, err := s.Session(ctx, "nope"); !errors.Is(err, authority.ErrNotFound) {
			t.Errorf("Session(unknown) error = %v, want ErrNotFound", err)
		}
	})

	t.Run("SessionsNewestFirst", func(t *testing.T) {
		s := open(t)
		base := time.Now().Truncate(time.Second)
		// Sessions created at base+0s, +1s, +2s (two at +2s, ordered by
		// ID), and a second token joining "s0" later that changes neither
		// its place nor its subject.
		for i, sess := range []struct {
			id    string
			at    time.Duration
			agent string
		}{{"s0", 0, "bot0"}, {"s1", time.Second, "bot1"}, {"s2b", 2 * time.Second, "bot2"}, {"s2a", 2 * time.Second, "bot3"}, {"s0", 3 * time.Second, "late"}} {
			now := base.Add(sess.at)
			b := &authority.Batch{Now: now, Mints: []authority.MintOp{{Token: tokenRec(uint64(i+1), sess.id, sess.agent, "u", "c1", now)}}}
			if err := s.Apply(ctx, b); err != nil || b.Mints[0].Err != nil {
				t.Fatalf("mint %d: %v %v", i, err, b.Mints[0].Err)
			}
		}
		page := func(after authority.SessionCursor, n int) []authority.SessionRecord {
			t.Helper()
			var out []authority.SessionRecord
			if err := s.Sessions(ctx, after, func(r authority.SessionRecord) bool {
				out = append(out, r)
				return len(out) < n
			}); err != nil {
				t.Fatalf("Sessions: %v", err)
			}
			return out
		}
		ids := func(rs []authority.SessionRecord) []string {
			var out []string
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return out
		}
		all := page(authority.SessionCursor{}, 100)
		if got, want := ids(all), []string{"s2a", "s2b", "s1", "s0"}; !slices.Equal(got, want) {
			t.Fatalf("Sessions = %v, want %v", got, want)
		}
		if r := all[3]; r.Agent != "bot0" || r.User != "u" || r.Org != "acme" || r.ClientID != "c1" || !r.CreatedAt.Equal(base) {
			t.Errorf("session s0 = %+v: want the first token's subject and creation time", r)
		}
		// Paging: two, then the rest after the second's cursor.
		first := page(authority.SessionCursor{}, 2)
		rest := page(first[1].Cursor(), 100)
		if got, want := append(ids(first), ids(rest)...), ids(all); !slices.Equal(got, want) {
			t.Errorf("paged = %v, want %v", got, want)
		}
		if got := page(all[3].Cursor(), 100); len(got) != 0 {
			t.Errorf("after the last: %v", ids(got))
		}
	})

	t.Run("SessionOwnership", func(t *testing.T) {
		s := open(t)
		now := time.Now()
		b := &authority.Batch{Now: now, Mints: []authority.MintOp{
			{Token: tokenRec(1, "s1", "bot", "", "c1", now)},
			{Token: tokenRec(2, "s1", "bot", "", "c2", now)}, // another client: refused, same batch
			{Token: tokenRec(3, "s1", "bot", "", "", now)},   // the admin may join
			{Token: tokenRec(4, "s1", "bot", "", "c1", now)}, // the owner again
			{Token: tokenRec(5, "sa", "bot", "", "", now)},   // an admin session
			{Token: tokenRec(6, "sa", "bot", "", "c1", now)}, // no client may join it
		}}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		wantErr := []error{nil, authority.ErrSessionOwned, nil, nil, nil, authority.ErrSessionOwned}
		for i, m := range b.Mints {
			if !errors.Is(m.Err, wantErr[i]) || (wantErr[i] == nil) != (m.Err == nil) {
				t.Errorf("mint %d: Err = %v, want %v", i, m.Err, wantErr[i])
			}
		}
		if !errors.Is(wantErr[1], authority.ErrForbidden) {
			t.Error("ErrSessionOwned does not wrap ErrForbidden")
		}
		if _, err := s.Token(ctx, ID(2)); !errors.Is(err, authority.ErrNotFound) {
			t.Errorf("a refused mint was recorded (err %v)", err)
		}
		if got := collect(t, s, authority.BySession, "s1"); !sameIDs(got, []uint64{1, 3, 4}) {
			t.Errorf("session s1 has %d tokens, want 1, 3, 4", len(got))
		}
	})

	t.Run("ConcurrentSessionClaims", func(t *testing.T) {
		s := open(t)
		now := time.Now()
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := &authority.Batch{Now: now, Mints: []authority.MintOp{{Token: tokenRec(uint64(i+1), "contested", "bot", "", fmt.Sprintf("c%d", i), now)}}}
				if err := s.Apply(ctx, b); err != nil {
					t.Errorf("Apply: %v", err)
				}
				errs[i] = b.Mints[0].Err
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, authority.ErrSessionOwned):
				t.Errorf("unexpected error %v", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d clients claimed the same session, want exactly 1", ok)
		}
	})

	t.Run("SessionRevocation", func(t *testing.T) {
		s := open(t)
		now := time.Now()
		if err := s.Apply(ctx, &authority.Batch{Now: now, Mints: []authority.MintOp{{Token: tokenRec(1, "s1", "bot", "", "c1", now)}}}); err != nil {
			t.Fatal(err)
		}
		b := &authority.Batch{Now: now.Add(time.Minute), SessionRevocations: []authority.SessionRevokeOp{{Session: "s1"}, {Session: "ghost"}}}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		if b.SessionRevocations[0].Err != nil {
			t.Errorf("revoke s1: %v", b.SessionRevocations[0].Err)
		}
		if !errors.Is(b.SessionRevocations[1].Err, authority.ErrNotFound) {
			t.Errorf("revoke unknown session: Err = %v, want ErrNotFound", b.SessionRevocations[1].Err)
		}
		sess, err := s.Session(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		first := sess.RevokedAt
		if !first.Equal(now.Add(time.Minute)) {
			t.Errorf("RevokedAt = %v, want %v", first, now.Add(time.Minute))
		}
		// Idempotent: the first RevokedAt stays.
		if err := s.Apply(ctx, &authority.Batch{Now: now.Add(2 * time.Minute), SessionRevocations: []authority.SessionRevokeOp{{Session: "s1"}}}); err != nil {
			t.Fatal(err)
		}
		if sess, _ := s.Session(ctx, "s1"); !sess.RevokedAt.Equal(first) {
			t.Errorf("second revocation moved RevokedAt to %v", sess.RevokedAt)
		}
		// No token may join a revoked session, not even the admin's.
		b = &authority.Batch{Now: now, Mints: []authority.MintOp{{Token: tokenRec(2, "s1", "bot", "", "c1", now)}, {Token: tokenRec(3, "s1", "bot", "", "", now)}}}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		for i, m := range b.Mints {
			if !errors.Is(m.Err, authority.ErrSessionRevoked) {
				t.Errorf("mint %d into a revoked session: Err = %v, want ErrSessionRevoked", i, m.Err)
			}
		}
	})

	t.Run("RevocationLog", func(t *testing.T) {
		s := open(t)
		now := time.Now()
		exp := now.Add(time.Hour).Truncate(time.Second)
		if last, err := s.LastSeq(ctx); err != nil || last != 0 {
			t.Fatalf("LastSeq of an empty store = %d, %v", last, err)
		}
		if seq, head, err := s.ChainHead(ctx); err != nil || seq != 0 || !bytes.Equal(head, token.GenesisHash()) {
			t.Fatalf("ChainHead of an empty store = %d, %x, %v; want 0 and GenesisHash", seq, head, err)
		}
		b := &authority.Batch{Now: now, Revocations: []authority.RevokeOp{
			{ID: ID(1), ExpiresAt: exp, Session: "s1"},
			{ID: ID(2), ExpiresAt: exp},
			{ID: ID(1), ExpiresAt: exp.Add(time.Hour)}, // duplicate within the batch
		}}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		r := b.Revocations
		if !r[0].Created || r[0].Entry.Seq != 1 || !r[1].Created || r[1].Entry.Seq != 2 {
			t.Errorf("new entries: %+v, %+v; want seq 1 and 2, created", r[0], r[1])
		}
		if r[2].Created || r[2].Entry.Seq != 1 || !r[2].Entry.ExpiresAt.Equal(exp) {
			t.Errorf("duplicate in batch: created=%v seq=%d exp=%v; want the existing entry 1", r[2].Created, r[2].Entry.Seq, r[2].Entry.ExpiresAt)
		}
		if r[0].Entry.Session != "s1" || !r[0].Entry.RevokedAt.Equal(now) || string(r[0].Entry.ID) != string(ID(1)) {
			t.Errorf("entry = %+v", r[0].Entry)
		}
		// Idempotent across batches.
		b = &authority.Batch{Now: now, Revocations: []authority.RevokeOp{{ID: ID(2), ExpiresAt: exp}, {ID: ID(3), ExpiresAt: exp}}}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		if b.Revocations[0].Created || b.Revocations[0].Entry.Seq != 2 || !b.Revocations[1].Created || b.Revocations[1].Entry.Seq != 3 {
			t.Errorf("second batch: %+v", b.Revocations)
		}
		if last, _ := s.LastSeq(ctx); last != 3 {
			t.Errorf("LastSeq = %d, want 3", last)
		}
		if got := seqs(t, s, 0); !slices.Equal(got, []uint64{1, 2, 3}) {
			t.Errorf("Revocations(0) = %v", got)
		}
		if got := seqs(t, s, 2); !slices.Equal(got, []uint64{3}) {
			t.Errorf("Revocations(2) = %v", got)
		}
		if got := seqs(t, s, 3); len(got) != 0 {
			t.Errorf("Revocations(3) = %v", got)
		}
		var first []uint64
		_ = s.Revocations(ctx, 0, func(e authority.LogEntry) bool { first = append(first, e.Seq); return false })
		if !slices.Equal(first, []uint64{1}) {
			t.Errorf("Revocations stopping after one: %v", first)
		}
		checkChain(t, s, 3)
	})

	t.Run("ConcurrentRevocations", func(t *testing.T) {
		s := open(t)
		now := time.Now()
		exp := now.Add(time.Hour)
		const workers, per = 8, 25
		var wg sync.WaitGroup
		var mu sync.Mutex
		created := map[uint64][]byte{}
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					// Half the IDs are shared between two workers.
					n := uint64(w/2*per + i)
					b := &authority.Batch{Now: now, Revocations: []authority.RevokeOp{{ID: ID(n), ExpiresAt: exp}}}
					if err := s.Apply(ctx, b); err != nil {
						t.Errorf("Apply: %v", err)
						return
					}
					if r := b.Revocations[0]; r.Created {
						mu.Lock()
						if _, dup := created[r.Entry.Seq]; dup {
							t.Errorf("seq %d assigned twice", r.Entry.Seq)
						}
						created[r.Entry.Seq] = r.Entry.ID
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		want := workers / 2 * per
		if len(created) != want {
			t.Errorf("%d entries created, want %d (one per distinct ID)", len(created), want)
		}
		if got := seqs(t, s, 0); len(got) != want || got[0] != 1 || got[len(got)-1] != uint64(want) {
			t.Errorf("log holds seqs %v, want 1..%d", got, want)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		s := open(t)
		now := time.Now()
		soon := now.Add(1500 * time.Millisecond)
		later := now.Add(time.Hour)
		b := &authority.Batch{Now: now,
			Mints: []authority.MintOp{{Token: authority.TokenRecord{RevocationID: ID(1), Session: "short", Agent: "bot", ExpiresAt: soon}}},
			Revocations: []authority.RevokeOp{
				{ID: ID(1), ExpiresAt: soon},
				{ID: ID(2), ExpiresAt: later},
			}}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, terr := s.Token(ctx, ID(1))
			_, serr := s.Session(ctx, "short")
			got := seqs(t, s, 0)
			if errors.Is(terr, authority.ErrNotFound) && errors.Is(serr, authority.ErrNotFound) && slices.Equal(got, []uint64{2}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("expired records still returned after 15 s: token err %v, session err %v, log %v", terr, serr, got)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if last, _ := s.LastSeq(ctx); last != 2 {
			t.Errorf("LastSeq = %d after expiry, want 2 (never reused)", last)
		}
		b = &authority.Batch{Now: time.Now(), Revocations: []authority.RevokeOp{{ID: ID(3), ExpiresAt: later}}}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		if b.Revocations[0].Entry.Seq != 3 {
			t.Errorf("seq after expiry = %d, want 3", b.Revocations[0].Entry.Seq)
		}
		if got := collect(t, s, authority.ByAgent, "bot"); len(got) != 0 {
			t.Errorf("expired token still indexed: %d", len(got))
		}
	})

	t.Run("Clients", func(t *testing.T) {
		s := open(t)
		c := authority.ClientRecord{ID: "b-client", SecretHash: []byte("hash"), CreatedAt: time.Now().UTC().Truncate(time.Second),
			Ceiling: authority.Ceiling{Services: []string{"crm"}, Tools: []string{"*"}, Operations: []string{"read"},
				ResourcePrefixes: []string{"acct:"}, Orgs: []string{"acme"}, MaxTTL: time.Hour,
				RequireApproval: []token.ApprovalRequirement{{Tool: "refund", Arg: "amount", Above: 100, Approvers: []string{"alice@acme.test"}, OrgApprovers: true}},
				Limits:          []token.Limit{{Tool: "send_email", Measure: token.LimitCalls, Max: 20, Window: time.Hour}, {Tool: "refund", Measure: token.LimitSum, Arg: "amount", Max: 1000}}}}
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateClient(ctx, c); !errors.Is(err, authority.ErrExists) {
			t.Errorf("CreateClient twice: %v, want ErrExists", err)
		}
		a := c
		a.ID = "a-client"
		if err := s.CreateClient(ctx, a); err != nil {
			t.Fatal(err)
		}
		got, err := s.Clients(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != "a-client" || got[1].ID != "b-client" {
			t.Fatalf("Clients = %+v", got)
		}
		g := got[1]
		if string(g.SecretHash) != "hash" || !g.CreatedAt.Equal(c.CreatedAt) || g.Ceiling.MaxTTL != time.Hour ||
			!slices.Equal(g.Ceiling.Services, c.Ceiling.Services) || !slices.Equal(g.Ceiling.Tools, c.Ceiling.Tools) ||
			!slices.Equal(g.Ceiling.Operations, c.Ceiling.Operations) || !slices.Equal(g.Ceiling.ResourcePrefixes, c.Ceiling.ResourcePrefixes) ||
			!slices.Equal(g.Ceiling.Orgs, c.Ceiling.Orgs) || !reflect.DeepEqual(g.Ceiling.RequireApproval, c.Ceiling.RequireApproval) ||
			!slices.Equal(g.Ceiling.Limits, c.Ceiling.Limits) {
			t.Errorf("client = %+v, want %+v", g, c)
		}
		if err := s.DeleteClient(ctx, "b-client"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteClient(ctx, "b-client"); !errors.Is(err, authority.ErrNotFound) {
			t.Errorf("DeleteClient twice: %v, want ErrNotFound", err)
		}
		if got, _ := s.Clients(ctx); len(got) != 1 {
			t.Errorf("%d clients after delete, want 1", len(got))
		}
	})

	t.Run("Meta", func(t *testing.T) {
		s := open(t)
		if _, err := s.Meta(ctx, "k"); !errors.Is(err, authority.ErrNotFound) {
			t.Errorf("Meta(unset) = %v, want ErrNotFound", err)
		}
		if err := s.SetMeta(ctx, "k", []byte("v1")); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMeta(ctx, "k", []byte("v2")); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Meta(ctx, "k"); err != nil || string(v) != "v2" {
			t.Errorf("Meta = %q, %v", v, err)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		s := newStore(t)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := s.Apply(ctx, &authority.Batch{Now: time.Now()}); !errors.Is(err, authority.ErrClosed) {
			t.Errorf("Apply after Close: %v, want ErrClosed", err)
		}
		if _, err := s.Token(ctx, ID(1)); !errors.Is(err, authority.ErrClosed) {
			t.Errorf("Token after Close: %v, want ErrClosed", err)
		}
		if _, err := s.LastSeq(ctx); !errors.Is(err, authority.ErrClosed) {
			t.Errorf("LastSeq after Close: %v, want ErrClosed", err)
		}
		if err := s.Revocations(ctx, 0, func(authority.LogEntry) bool { return true }); !errors.Is(err, authority.ErrClosed) {
			t.Errorf("Revocations after Close: %v, want ErrClosed", err)
		}
	})
}

// RunDurableStoreTests checks that what Apply acknowledged is there after
// the store is closed and reopened on the same folder. reopen is called
// with the same t for both opens; it must use the same folder each time.
func RunDurableStoreTests(t *testing.T, reopen func(t *testing.T) authority.Store) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	s := reopen(t)
	b := &authority.Batch{Now: now,
		Mints:       []authority.MintOp{{Token: tokenRec(1, "s1", "bot", "alice", "c1", now)}},
		Revocations: []authority.RevokeOp{{ID: ID(1), ExpiresAt: now.Add(time.Hour)}, {ID: ID(2), ExpiresAt: now.Add(time.Hour)}},
	}
	if err := s.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMeta(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Namespace("durable").Apply(ctx, kv.Put("k", []byte("v"), time.Time{})); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen(t)
	defer s.Close()
	if got := seqs(t, s, 0); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("log after reopen = %v, want [1 2]", got)
	}
	if last, _ := s.LastSeq(ctx); last != 2 {
		t.Errorf("LastSeq after reopen = %d", last)
	}
	checkChain(t, s, 2)
	if _, err := s.Token(ctx, ID(1)); err != nil {
		t.Errorf("token after reopen: %v", err)
	}
	if _, err := s.Session(ctx, "s1"); err != nil {
		t.Errorf("session after reopen: %v", err)
	}
	if v, err := s.Meta(ctx, "k"); err != nil || string(v) != "v" {
		t.Errorf("meta after reopen = %q, %v", v, err)
	}
	if e, err := s.Namespace("durable").Get(ctx, "k"); err != nil || string(e.Value) != "v" {
		t.Errorf("namespace entry after reopen = %+v, %v", e, err)
	}
}

func collect(t *testing.T, s authority.Store, by authority.TokenIndex, v string) []authority.TokenRecord {
	t.Helper()
	var out []authority.TokenRecord
	if err := s.Tokens(context.Background(), by, v, func(r authority.TokenRecord) bool {
		out = append(out, r)
		return true
	}); err != nil {
		t.Fatalf("Tokens: %v", err)
	}
	return out
}

func seqs(t *testing.T, s authority.Store, after uint64) []uint64 {
	t.Helper()
	var out []uint64
	if err := s.Revocations(context.Background(), after, func(e authority.LogEntry) bool {
		out = append(out, e.Seq)
		return true
	}); err != nil {
		t.Fatalf("Revocations: %v", err)
	}
	return out
}

func sameIDs(got []authority.TokenRecord, want []uint64) bool {
	if len(got) != len(want) {
		return false
	}
	for _, n := range want {
		if !slices.ContainsFunc(got, func(r authority.TokenRecord) bool { return string(r.RevocationID) == string(ID(n)) }) {
			return false
		}
	}
	return true
}

func equalToken(a, b authority.TokenRecord) bool {
	return string(a.RevocationID) == string(b.RevocationID) && a.Session == b.Session && a.Agent == b.Agent &&
		a.User == b.User && a.Org == b.Org && a.ClientID == b.ClientID && a.KeyID == b.KeyID &&
		a.IssuedAt.Equal(b.IssuedAt) && a.ExpiresAt.Equal(b.ExpiresAt) && slices.Equal(a.Rights, b.Rights)
}

// checkChain checks the hash chain of a log holding every entry 1..last:
// each entry's PrevHash is the hash before it (GenesisHash for the first),
// its Hash covers it, and ChainHead is (last, the last entry's Hash).
func checkChain(t *testing.T, s authority.Store, last uint64) {
	t.Helper()
	ctx := context.Background()
	prev := token.GenesisHash()
	var n uint64
	err := s.Revocations(ctx, 0, func(e authority.LogEntry) bool {
		n++
		if !bytes.Equal(e.PrevHash, prev) {
			t.Errorf("entry %d: PrevHash %x, want %x", e.Seq, e.PrevHash, prev)
		}
		if want := token.ChainHash(prev, e.Seq, e.ID, e.ExpiresAt); !bytes.Equal(e.Hash, want) {
			t.Errorf("entry %d: Hash %x, want token.ChainHash(...) = %x", e.Seq, e.Hash, want)
		}
		prev = e.Hash
		return true
	})
	if err != nil || n != last {
		t.Fatalf("Revocations: %d entries, %v; want %d", n, err, last)
	}
	seq, head, err := s.ChainHead(ctx)
	if err != nil || seq != last || !bytes.Equal(head, prev) {
		t.Errorf("ChainHead = %d, %x, %v; want %d, %x", seq, head, err, last, prev)
	}
}
