package follow_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
	"github.com/mandate-dev/mandate/verifier/revocation/revocationtest"
)

var farFuture = time.Now().Add(24 * time.Hour)

func TestCatchUpFromZero(t *testing.T) {
	a := newFakeAuthority(t)
	a.set(func(a *fakeAuthority) { a.pageSize = 100 })
	a.addN(1, 250, farFuture)
	cfg := testConfig(a)
	f := newFollower(t, cfg)

	if err := f.Fresh(); !errors.Is(err, follow.ErrNotSynced) || !errors.Is(err, follow.ErrStale) {
		t.Fatalf("Fresh before any sync = %v, want ErrNotSynced (and ErrStale)", err)
	}
	mustSync(t, f)

	if got, want := a.requestedAfters(), []uint64{0, 100, 200, 250}; !slices.Equal(got, want) {
		t.Errorf("requested after = %v, want %v (pages of 100, then one empty answer)", got, want)
	}
	if got := cfg.Store.Len(); got != 250 {
		t.Errorf("Store.Len = %d, want 250", got)
	}
	if got := cfg.Store.LastSeq(); got != 250 {
		t.Errorf("Store.LastSeq = %d, want 250", got)
	}
	if i := cfg.Store.Revoked(ids(999, 1, 250)); i != 1 {
		t.Errorf("Revoked(999, 1, 250) = %d, want 1", i)
	}
	st := f.Status()
	if st.Seq != 250 || !st.Synced || !st.Fresh || !st.Connected || st.Applied != 250 || st.Entries != 250 {
		t.Errorf("Status = %+v, want seq 250, synced, fresh, connected, 250 applied and held", st)
	}
	if err := f.Fresh(); err != nil {
		t.Errorf("Fresh after sync = %v, want nil", err)
	}
}

func TestResumeFromStoreLastSeq(t *testing.T) {
	a := newFakeAuthority(t)
	a.addN(1, 8, farFuture)
	cfg := testConfig(a)
	// The store already holds seq 1..5, as a badgerstore reopened after a
	// restart would.
	held := make([]revocation.Entry, 5)
	for i := range held {
		held[i] = revocation.Entry{ID: ids(uint64(i + 1))[0], Seq: uint64(i + 1), ExpiresAt: farFuture}
	}
	if err := cfg.Store.Add(context.Background(), held...); err != nil {
		t.Fatal(err)
	}
	f := newFollower(t, cfg)
	if got := f.Status().Seq; got != 0 {
		t.Errorf("Status.Seq before the first sync = %d; New must not touch the store", got)
	}
	mustSync(t, f)
	if got, want := a.requestedAfters(), []uint64{5, 8}; !slices.Equal(got, want) {
		t.Errorf("requested after = %v, want %v (resume after Store.LastSeq)", got, want)
	}
	if cfg.Store.Len() != 8 || cfg.Store.LastSeq() != 8 || f.Status().Applied != 3 {
		t.Errorf("Len, LastSeq, Applied = %d, %d, %d; want 8, 8, 3", cfg.Store.Len(), cfg.Store.LastSeq(), f.Status().Applied)
	}
}

// TestLongPollRevocationDenied is the whole path: a verifier wired to the
// follower allows a token, the authority logs its revocation while the
// follower is held in a long poll, and the verifier denies it.
func TestLongPollRevocationDenied(t *testing.T) {
	a := newFakeAuthority(t)
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	a.setKeys(keyOf(key, "active"))
	a.addN(1, 3, farFuture) // unrelated earlier revocations

	cfg := testConfig(a)
	cfg.TrustAnchors = append(cfg.TrustAnchors, key.Public())
	cfg.Keys = token.NewKeySet(key.Public()) // so that the first denial is for staleness
	f := newFollower(t, cfg)
	v, err := verifier.New(verifier.Config{Keys: cfg.Keys, Revocations: cfg.Store, Fresh: f.Fresh})
	if err != nil {
		t.Fatal(err)
	}
	m, err := token.Mint(key, token.MintRequest{
		Subject: token.Subject{Agent: "support-bot", User: "alice@acme.test", Org: "acme"},
		Rights:  []token.Right{{Service: "crm", Tool: "*", Operation: "*", Resource: "account:acme/"}},
		TTL:     time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	req := verifier.Request{Service: "crm", Tool: "get_account", Operation: "read", Resource: "account:acme/42"}

	if d := v.Authorize(context.Background(), m.Token, req); !errors.Is(d.Err, verifier.ErrStale) {
		t.Fatalf("decision before the follower synced: %v, want ErrStale (fail closed)", d.Err)
	}
	run(t, f)
	waitSeq(t, f, 3)
	waitFor(t, "the keys to be refreshed", func() bool { return !f.Status().KeysRefreshed.IsZero() })
	if d := v.Authorize(context.Background(), m.Token, req); !d.Allowed {
		t.Fatalf("decision before revocation: %v, want allowed", d.Err)
	}
	waitFor(t, "the follower to be held in a long poll", func() bool { return a.held() == 1 })

	seq := a.add(m.ExpiresAt, m.RevocationIDs[0])
	waitFor(t, "the verifier to deny the revoked token", func() bool {
		return errors.Is(v.Authorize(context.Background(), m.Token, req).Err, verifier.ErrRevoked)
	})
	if got := f.Status().Seq; got != seq {
		t.Errorf("Status.Seq = %d, want %d", got, seq)
	}
	if got := cfg.Store.LastSeq(); got != seq {
		t.Errorf("Store.LastSeq = %d, want %d", got, seq)
	}
	if waits := a.requestedWaits(); waits[0] != "0s" || waits[len(waits)-1] != "20s" {
		t.Errorf("waits requested = %v; want 0s first (fresh at once), then the 20s long poll", waits)
	}
}

func TestReconnectsAfterFailures(t *testing.T) {
	tests := []struct {
		name    string
		fault   func(a *fakeAuthority)
		wantErr func(err error) bool
	}{
		{"server errors", func(a *fakeAuthority) { a.failNext = 3 }, func(err error) bool {
			var ae *follow.AuthorityError
			return errors.As(err, &ae) && ae.StatusCode == http.StatusInternalServerError && ae.Code == "server_error"
		}},
		{"dropped connections", func(a *fakeAuthority) { a.dropNext = 10 }, func(err error) bool {
			var ae *follow.AuthorityError
			return err != nil && !errors.As(err, &ae)
		}},
		{"bad bodies", func(a *fakeAuthority) { a.revBody = `{"entries":[{"seq":1,"revocation_id":"zz"}],"next":1}` }, func(err error) bool {
			return errors.Is(err, follow.ErrBadResponse)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeAuthority(t)
			a.addN(1, 2, farFuture)
			a.set(tt.fault)
			cfg := testConfig(a)
			f := newFollower(t, cfg)
			run(t, f)
			waitFor(t, "3 failed attempts", func() bool { return f.Status().Failures >= 3 })
			st := f.Status()
			if !tt.wantErr(st.LastError) {
				t.Errorf("Status.LastError = %v, not the expected kind", st.LastError)
			}
			if st.Connected || st.Synced || cfg.Store.Len() != 0 {
				t.Errorf("after failures only: Status %+v, Store.Len %d; want not connected, not synced, nothing stored", st, cfg.Store.Len())
			}
			if err := f.Fresh(); !errors.Is(err, follow.ErrNotSynced) || !strings.Contains(err.Error(), "last error") {
				t.Errorf("Fresh = %v, want ErrNotSynced naming the last error", err)
			}
			a.set(func(a *fakeAuthority) { a.failNext, a.dropNext, a.revBody = 0, 0, "" })
			waitSeq(t, f, 2)
			st = f.Status()
			if !st.Connected || st.Failures != 0 || st.LastError == nil || cfg.Store.Len() != 2 {
				t.Errorf("after recovery: Status %+v, Store.Len %d; want connected, 0 failures, last error kept, 2 stored", st, cfg.Store.Len())
			}
		})
	}
}

// TestAuthorityDiesMidPoll: a held long poll whose connection is cut, and
// one that the authority never answers, are both noticed and replaced.
func TestAuthorityDiesMidPoll(t *testing.T) {
	t.Run("connection closed", func(t *testing.T) {
		a := newFakeAuthority(t)
		f := newFollower(t, testConfig(a))
		run(t, f)
		waitSeq(t, f, 0)
		waitFor(t, "a held long poll", func() bool { return a.held() == 1 })
		n := a.requestCount()
		a.srv.CloseClientConnections()
		waitFor(t, "a new long poll", func() bool { return a.requestCount() > n && a.held() == 1 })
		seq := a.addN(1, 1, farFuture)
		waitSeq(t, f, seq)
	})
	t.Run("no answer", func(t *testing.T) {
		a := newFakeAuthority(t)
		cfg := testConfig(a)
		cfg.Wait, cfg.Grace = 50*time.Millisecond, 50*time.Millisecond
		f := newFollower(t, cfg)
		run(t, f)
		waitSeq(t, f, 0)
		a.setHang(true)
		waitFor(t, "a request abandoned after Wait+Grace", func() bool { return f.Status().Failures >= 2 })
		if err := f.Status().LastError; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("LastError = %v, want a deadline exceeded", err)
		}
		a.setHang(false)
		seq := a.addN(1, 1, farFuture)
		waitSeq(t, f, seq)
	})
}

func TestFailsClosedWhenStale(t *testing.T) {
	a := newFakeAuthority(t)
	clock := newFakeClock()
	cfg := testConfig(a)
	cfg.Now = clock.Now
	cfg.MaxStaleness = 30 * time.Second
	cfg.Wait = 0 // default: 12s
	f := newFollower(t, cfg)
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{Keys: token.NewKeySet(key.Public()), Revocations: cfg.Store, Fresh: f.Fresh, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	m, err := token.Mint(key, token.MintRequest{
		Subject: token.Subject{Agent: "bot"}, Now: clock.Now(), TTL: time.Hour,
		Rights: []token.Right{{Service: "crm", Tool: "*", Operation: "*", Resource: ""}},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := verifier.Request{Service: "crm", Tool: "t", Operation: "read", Resource: "r"}

	mustSync(t, f)
	steps := []struct {
		advance   time.Duration
		wantStale bool
	}{
		{0, false},
		{30 * time.Second, false}, // exactly MaxStaleness: still fresh
		{time.Nanosecond, true},   // past it: stale
		{time.Hour, true},         // and stays stale
	}
	var age time.Duration
	for _, st := range steps {
		clock.Advance(st.advance)
		age += st.advance
		err := f.Fresh()
		if gotStale := errors.Is(err, follow.ErrStale); gotStale != st.wantStale {
			t.Fatalf("at age %v: Fresh = %v, want stale %v", age, err, st.wantStale)
		}
		if got := f.Staleness(); got != age {
			t.Errorf("at age %v: Staleness = %v", age, got)
		}
		d := v.Authorize(context.Background(), m.Token, req)
		if st.wantStale && (d.Allowed || !errors.Is(d.Err, verifier.ErrStale)) {
			t.Errorf("at age %v: decision %v, want denied with ErrStale", age, d.Err)
		}
		if !st.wantStale && !d.Allowed {
			t.Errorf("at age %v: decision %v, want allowed", age, d.Err)
		}
	}
	if err := f.Fresh(); !strings.Contains(err.Error(), "over the 30s bound") {
		t.Errorf("stale error %q does not say the bound", err)
	}
	mustSync(t, f)
	if err := f.Fresh(); err != nil {
		t.Errorf("Fresh after a new sync = %v, want nil", err)
	}
}

// TestFreshnessCountsFromRequestStart: the replica is as fresh as the
// start of the request whose answer it applied, not as its arrival; and a
// long poll in progress proves nothing.
func TestFreshnessCountsFromRequestStart(t *testing.T) {
	a := newFakeAuthority(t)
	clock := newFakeClock()
	cfg := testConfig(a)
	cfg.Now = clock.Now
	f := newFollower(t, cfg)
	run(t, f)
	waitSeq(t, f, 0)
	waitFor(t, "a held long poll", func() bool { return a.held() == 1 })
	sent := clock.Now()

	clock.Advance(40 * time.Second) // the poll is held while time passes
	seq := a.addN(1, 1, farFuture)
	waitSeq(t, f, seq)
	waitFor(t, "the next held long poll", func() bool { return a.held() == 1 })
	st := f.Status()
	if !st.LastSync.Equal(sent) || st.Staleness != 40*time.Second {
		t.Errorf("LastSync %v, Staleness %v; want the poll's start %v and 40s", st.LastSync, st.Staleness, sent)
	}
	clock.Advance(20 * time.Second) // exactly MaxStaleness since the poll was sent
	if err := f.Fresh(); err != nil {
		t.Errorf("Fresh at the bound = %v", err)
	}
	clock.Advance(time.Millisecond)
	if err := f.Fresh(); !errors.Is(err, follow.ErrStale) {
		t.Errorf("Fresh past the bound with a long poll held = %v, want ErrStale", err)
	}
}

// TestGoesStaleWhileAuthorityIsDown: Run keeps retrying a dead authority
// and Fresh fails once the bound has passed, with the cause in the error.
func TestGoesStaleWhileAuthorityIsDown(t *testing.T) {
	a := newFakeAuthority(t)
	clock := newFakeClock()
	cfg := testConfig(a)
	cfg.Now = clock.Now
	f := newFollower(t, cfg)
	run(t, f)
	waitSeq(t, f, 0)
	a.close()
	waitFor(t, "a failed attempt", func() bool { return f.Status().Failures >= 1 })
	if err := f.Fresh(); err != nil {
		t.Errorf("Fresh right after the authority went down = %v; the bound has not passed", err)
	}
	clock.Advance(cfg.MaxStaleness + time.Second)
	err := f.Fresh()
	if !errors.Is(err, follow.ErrStale) || !strings.Contains(err.Error(), "last error") {
		t.Errorf("Fresh = %v, want ErrStale naming the last error", err)
	}
	if st := f.Status(); st.Fresh || st.Connected {
		t.Errorf("Status = %+v, want neither fresh nor connected", st)
	}
}

func TestBadRevocationResponses(t *testing.T) {
	const id1, id2 = `"01"`, `"02"`
	huge := `{"entries":[],"next":3` + strings.Repeat(" ", follow.MaxResponseBytes) + `}`
	var many strings.Builder
	many.WriteString(`{"entries":[`)
	for i := range follow.MaxBatchEntries + 1 {
		if i > 0 {
			many.WriteByte(',')
		}
		many.WriteString(`{"seq":` + strconv.Itoa(4+i) + `,"revocation_id":"01"}`)
	}
	many.WriteString(`],"next":` + strconv.Itoa(4+follow.MaxBatchEntries) + `}`)

	tests := []struct {
		name    string
		body    string
		wantErr error
		wantMsg string
	}{
		{"truncated JSON", `{"entries":[`, follow.ErrBadResponse, "revocations"},
		{"not an object", `[]`, follow.ErrBadResponse, "want"},
		{"entries not an array", `{"entries":{},"next":4}`, follow.ErrBadResponse, "array"},
		{"bad hex", `{"entries":[{"seq":4,"revocation_id":"zz"}],"next":4}`, follow.ErrBadResponse, "not hex"},
		{"empty ID", `{"entries":[{"seq":4,"revocation_id":""}],"next":4}`, follow.ErrBadResponse, "0 bytes"},
		{"ID too long", `{"entries":[{"seq":4,"revocation_id":"` + strings.Repeat("ab", revocation.MaxIDLen+1) + `"}],"next":4}`, follow.ErrBadResponse, "129 bytes"},
		{"bad expiry", `{"entries":[{"seq":4,"revocation_id":` + id1 + `,"expires_at":"tomorrow"}],"next":4}`, follow.ErrBadResponse, "RFC 3339"},
		{"seq missing", `{"entries":[{"revocation_id":` + id1 + `}],"next":4}`, follow.ErrBadResponse, "seq is missing"},
		{"seq negative", `{"entries":[{"seq":-4,"revocation_id":` + id1 + `}],"next":4}`, follow.ErrBadResponse, "entry 0"},
		{"seq not after the request", `{"entries":[{"seq":3,"revocation_id":` + id1 + `}],"next":3}`, follow.ErrBadResponse, "went backwards"},
		{"seq repeats", `{"entries":[{"seq":4,"revocation_id":` + id1 + `},{"seq":4,"revocation_id":` + id2 + `}],"next":4}`, follow.ErrBadResponse, "strictly increase"},
		{"seq goes back", `{"entries":[{"seq":5,"revocation_id":` + id1 + `},{"seq":4,"revocation_id":` + id2 + `}],"next":5}`, follow.ErrBadResponse, "strictly increase"},
		{"next missing", `{"entries":[{"seq":4,"revocation_id":` + id1 + `}]}`, follow.ErrBadResponse, `"next" is missing`},
		{"next below the entries", `{"entries":[{"seq":4,"revocation_id":` + id1 + `},{"seq":6,"revocation_id":` + id2 + `}],"next":5}`, follow.ErrBadResponse, "below the last entry"},
		{"next not a number", `{"entries":[],"next":"4"}`, follow.ErrBadResponse, "next"},
		{"key twice", `{"entries":[],"next":4,"next":9}`, follow.ErrBadResponse, "twice"},
		{"trailing data", `{"entries":[],"next":4} {}`, follow.ErrBadResponse, "after the JSON value"},
		{"too many entries", many.String(), follow.ErrBadResponse, "more than 65536 entries"},
		{"too large", huge, follow.ErrTooLarge, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newFakeAuthority(t)
			a.set(func(a *fakeAuthority) { a.revBody = tt.body })
			cfg := testConfig(a)
			if err := cfg.Store.Add(context.Background(), revocation.Entry{ID: ids(1)[0], Seq: 3}); err != nil {
				t.Fatal(err)
			}
			f := newFollower(t, cfg)
			err := f.SyncOnce(context.Background())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("SyncOnce = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
			if cfg.Store.LastSeq() != 3 || cfg.Store.Len() != 1 {
				t.Errorf("Store LastSeq, Len = %d, %d; want 3, 1 (nothing of a bad response applied)", cfg.Store.LastSeq(), cfg.Store.Len())
			}
			st := f.Status()
			if st.Seq != 3 || st.Synced || !errors.Is(st.LastError, tt.wantErr) || st.Failures != 1 {
				t.Errorf("Status = %+v; want seq 3, not synced, the error kept, 1 failure", st)
			}
			if f.Fresh() == nil {
				t.Error("Fresh = nil after a refused response")
			}
		})
	}
}

func TestAuthorityErrors(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{"JSON error", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusServiceUnavailable, "unavailable", "shutting down")
		}, 503, "unavailable", "shutting down"},
		{"HTML error", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		}, 502, "", "retries with backoff"},
		{"not found", http.NotFound, 404, "", "base URL"},
		{"unauthorized", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusUnauthorized, "invalid_token", "bearer token required\x1b[31m")
		}, 401, "invalid_token", "credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeAuthority(t)
			a.set(func(a *fakeAuthority) {
				// The keys answer; the feed fails.
				mux := a.mux
				a.override = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/v1/keys" {
						mux.ServeHTTP(w, r)
						return
					}
					tt.handler(w, r)
				})
			})
			f := newFollower(t, testConfig(a))
			err := f.SyncOnce(context.Background())
			var ae *follow.AuthorityError
			if !errors.As(err, &ae) {
				t.Fatalf("SyncOnce = %v, want an *AuthorityError", err)
			}
			if ae.StatusCode != tt.wantStatus || ae.Code != tt.wantCode || ae.Endpoint != "/v1/revocations" {
				t.Errorf("AuthorityError = %+v, want status %d code %q on /v1/revocations", ae, tt.wantStatus, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
			if strings.ContainsRune(err.Error(), 0x1b) {
				t.Errorf("error %q carries a control character from the network", err)
			}
		})
	}
}

// TestLogRestart: an authority whose log was wiped says the follower's
// position is past its log, either with an empty answer whose next is
// below it or with 409 sequence_ahead (as package authority does); the
// follower starts over from 0 and keeps what it held.
func TestLogRestart(t *testing.T) {
	for _, aheadErr := range []bool{false, true} {
		name := "empty answer"
		if aheadErr {
			name = "409 sequence_ahead"
		}
		t.Run(name+"/SyncOnce", func(t *testing.T) {
			a := newFakeAuthority(t)
			a.set(func(a *fakeAuthority) { a.aheadErr = aheadErr })
			a.addN(1000, 3, farFuture) // the new log: seq 1..3
			cfg := testConfig(a)
			old := make([]revocation.Entry, 100)
			for i := range old {
				old[i] = revocation.Entry{ID: ids(uint64(i))[0], Seq: uint64(i + 1), ExpiresAt: farFuture}
			}
			if err := cfg.Store.Add(context.Background(), old...); err != nil {
				t.Fatal(err)
			}
			f := newFollower(t, cfg)
			mustSync(t, f)
			if got, want := a.requestedAfters(), []uint64{100, 0, 3}; !slices.Equal(got, want) {
				t.Errorf("requested after = %v, want %v", got, want)
			}
			st := f.Status()
			if st.Seq != 3 || st.Resyncs != 1 || !st.Fresh || st.LastError != nil {
				t.Errorf("Status = %+v, want seq 3, 1 resync, fresh, no error", st)
			}
			if cfg.Store.Len() != 103 || cfg.Store.Revoked(ids(0)) != 0 || cfg.Store.Revoked(ids(1002)) != 0 {
				t.Errorf("Store.Len = %d; want the 100 old IDs kept and the 3 new ones added", cfg.Store.Len())
			}
		})
		t.Run(name+"/Run", func(t *testing.T) {
			a := newFakeAuthority(t)
			a.set(func(a *fakeAuthority) { a.aheadErr = aheadErr })
			a.addN(1, 5, farFuture)
			cfg := testConfig(a)
			f := newFollower(t, cfg)
			run(t, f)
			waitSeq(t, f, 5)
			waitFor(t, "a held long poll", func() bool { return a.held() == 1 })
			// The authority's log starts again from seq 1 and the held poll
			// is dropped, as when the authority restarts on a new folder.
			a.resetLog()
			a.addN(100, 2, farFuture)
			a.srv.CloseClientConnections()
			waitFor(t, "the resync", func() bool { st := f.Status(); return st.Resyncs == 1 && st.Seq == 2 })
			if cfg.Store.Len() != 7 || cfg.Store.Revoked(ids(101)) != 0 || cfg.Store.Revoked(ids(1)) != 0 {
				t.Errorf("Store.Len = %d, want 7 (old kept, new added)", cfg.Store.Len())
			}
		})
	}
}

// TestLogRestartToEmptyLog: after a restart to an empty log the follower
// asks again at once (wait=0), so it is fresh without waiting out a long
// poll.
func TestLogRestartToEmptyLog(t *testing.T) {
	a := newFakeAuthority(t)
	a.addN(1, 5, farFuture)
	cfg := testConfig(a)
	f := newFollower(t, cfg)
	run(t, f)
	waitSeq(t, f, 5)
	waitFor(t, "a held long poll", func() bool { return a.held() == 1 })
	before := f.Status().LastSync
	a.resetLog()
	waitFor(t, "a sync after the resync", func() bool {
		st := f.Status()
		return st.Resyncs == 1 && st.Seq == 0 && st.LastSync.After(before)
	})
	if cfg.Store.Len() != 5 {
		t.Errorf("Store.Len = %d, want the 5 IDs kept", cfg.Store.Len())
	}
}

func TestKeyRefresh(t *testing.T) {
	a := newFakeAuthority(t)
	ka := a.key // the trust anchor
	cfg := testConfig(a)
	cfg.Keys = token.NewKeySet()
	cfg.KeyRefresh = 5 * time.Millisecond
	f := newFollower(t, cfg)
	v, err := verifier.New(verifier.Config{Keys: cfg.Keys, Revocations: cfg.Store, Fresh: f.Fresh})
	if err != nil {
		t.Fatal(err)
	}
	mint := func(k token.SigningKey) string {
		m, err := token.Mint(k, token.MintRequest{Subject: token.Subject{Agent: "bot"}, TTL: time.Hour,
			Rights: []token.Right{{Service: "crm", Tool: "*", Operation: "*"}}})
		if err != nil {
			t.Fatal(err)
		}
		return m.Token
	}
	other, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tokA, tokB := mint(ka), mint(other)
	req := verifier.Request{Service: "crm", Tool: "t", Operation: "read", Resource: "r"}
	allowed := func(tok string) bool { return v.Authorize(context.Background(), tok, req).Allowed }
	keyIDs := func() []uint32 {
		var out []uint32
		for _, k := range cfg.Keys.Keys() {
			out = append(out, k.ID)
		}
		return out
	}

	run(t, f)
	waitSeq(t, f, 0)
	waitFor(t, "key A", func() bool { return slices.Equal(keyIDs(), []uint32{ka.ID}) })
	if !allowed(tokA) || allowed(tokB) {
		t.Fatal("with key A only: want token A allowed, token B denied")
	}
	// Rotation: B active (endorsed by A), A retiring. Both verify.
	kb := a.rotate(t)
	tokB = mint(kb)
	waitFor(t, "keys B and A", func() bool { return slices.Equal(keyIDs(), []uint32{kb.ID, ka.ID}) })
	if !allowed(tokA) || !allowed(tokB) {
		t.Fatal("during rotation: want both tokens allowed")
	}
	// A is rotated out: its (cached) token stops verifying.
	a.setKeys(keyOf(kb, "active"))
	waitFor(t, "key B only", func() bool { return slices.Equal(keyIDs(), []uint32{kb.ID}) })
	if d := v.Authorize(context.Background(), tokA, req); d.Allowed || !errors.Is(d.Err, token.ErrUnknownKey) {
		t.Errorf("token A after its key was rotated out: %v, want ErrUnknownKey", d.Err)
	}
	if !allowed(tokB) {
		t.Error("token B denied after rotation")
	}
	// A key published with a not_after in the past is not trusted.
	past := keyOf(ka, "retiring")
	past.NotAfter = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	a.setKeys(keyOf(kb, "active"), past)
	waitFor(t, "keys B and expired A", func() bool { return len(cfg.Keys.Keys()) == 2 })
	if allowed(tokA) {
		t.Error("token A allowed under a key past its not_after")
	}
	if st := f.Status(); st.KeyError != nil || len(st.Keys) != 2 || st.KeysRefreshed.IsZero() {
		t.Errorf("Status keys = %v, %v, %v", st.Keys, st.KeyError, st.KeysRefreshed)
	}
}

func TestBadKeyResponses(t *testing.T) {
	good, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	goodJSON := `{"key_id":` + strconv.FormatUint(uint64(good.ID), 10) + `,"algorithm":"ed25519","public_key":"` + token.FormatPublicKey(good.Public().Key) + `","status":"active"}`
	hex64 := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		body    string
		wantErr error
		wantMsg string
	}{
		{"truncated", `{"keys":[`, follow.ErrBadResponse, "keys"},
		{"keys missing", `{}`, follow.ErrBadResponse, `"keys" is missing`},
		{"no keys", `{"keys":[]}`, follow.ErrBadResponse, "no usable ed25519 key"},
		{"bad hex", `{"keys":[` + goodJSON + `,{"key_id":2,"algorithm":"ed25519","public_key":"` + strings.Repeat("zz", 32) + `","status":"active"}]}`, follow.ErrBadResponse, "64 hex"},
		{"short key", `{"keys":[{"key_id":2,"algorithm":"ed25519","public_key":"` + hex64[:62] + `","status":"active"}]}`, follow.ErrBadResponse, "64 hex"},
		{"long key", `{"keys":[{"key_id":2,"algorithm":"ed25519","public_key":"` + hex64 + `00","status":"active"}]}`, follow.ErrBadResponse, "64 hex"},
		{"key_id missing", `{"keys":[{"algorithm":"ed25519","public_key":"` + hex64 + `","status":"active"}]}`, follow.ErrBadResponse, "key_id is missing"},
		{"key_id too big", `{"keys":[{"key_id":4294967296,"algorithm":"ed25519","public_key":"` + hex64 + `","status":"active"}]}`, follow.ErrBadResponse, "key 0"},
		{"bad not_after", `{"keys":[{"key_id":2,"algorithm":"ed25519","public_key":"` + hex64 + `","status":"active","not_after":"soon"}]}`, follow.ErrBadResponse, "RFC 3339"},
		{"only unusable keys", `{"keys":[{"key_id":2,"algorithm":"p256","public_key":"` + hex64 + `","status":"active"},{"key_id":3,"algorithm":"ed25519","public_key":"` + hex64 + `","status":"revoked"}]}`, follow.ErrBadResponse, `status "revoked"`},
		{"too large", `{"keys":[` + goodJSON + `]` + strings.Repeat(" ", follow.MaxKeysResponseBytes) + `}`, follow.ErrTooLarge, "too large"},
		{"too many", `{"keys":[` + strings.Repeat(goodJSON+",", follow.MaxKeys) + goodJSON + `]}`, follow.ErrBadResponse, "more than 256 keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeAuthority(t)
			a.set(func(a *fakeAuthority) { a.keysBody = tt.body })
			cfg := testConfig(a)
			before := token.PublicKey{ID: 7, Key: good.Public().Key}
			cfg.Keys = token.NewKeySet(before)
			f := newFollower(t, cfg)
			err := f.RefreshKeys(context.Background())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RefreshKeys = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
			if got := cfg.Keys.Keys(); len(got) != 1 || got[0].ID != 7 {
				t.Errorf("key set after a refused response = %v, want the previous set untouched", got)
			}
			if st := f.Status(); !errors.Is(st.KeyError, tt.wantErr) {
				t.Errorf("Status.KeyError = %v", st.KeyError)
			}
		})
	}

	t.Run("unusable keys skipped", func(t *testing.T) {
		a := newFakeAuthority(t)
		a.set(func(a *fakeAuthority) {
			a.keysBody = `{"keys":[{"key_id":2,"algorithm":"p256","public_key":"00","status":"active"},` + goodJSON + `],"issuer":"ignored"}`
		})
		cfg := testConfig(a)
		cfg.TrustAnchors = []token.PublicKey{good.Public()}
		cfg.Keys = token.NewKeySet()
		f := newFollower(t, cfg)
		if err := f.RefreshKeys(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := cfg.Keys.Keys(); len(got) != 1 || got[0].ID != good.ID || !got[0].Key.Equal(good.Public().Key) {
			t.Errorf("keys = %v, want the one ed25519 key", got)
		}
	})
	t.Run("server error keeps keys", func(t *testing.T) {
		a := newFakeAuthority(t)
		a.set(func(a *fakeAuthority) { a.keysFail = true })
		cfg := testConfig(a)
		cfg.Keys = token.NewKeySet(token.PublicKey{ID: 7, Key: good.Public().Key})
		f := newFollower(t, cfg)
		err := f.SyncOnce(context.Background())
		var ae *follow.AuthorityError
		if !errors.As(err, &ae) || ae.Endpoint != "/v1/keys" || ae.StatusCode != 503 {
			t.Fatalf("SyncOnce = %v, want the /v1/keys 503", err)
		}
		if len(cfg.Keys.Keys()) != 1 {
			t.Error("keys lost after a failed refresh")
		}
		if f.Fresh() != nil {
			t.Error("the revocation log synced despite the key error, but Fresh fails")
		}
	})
}

// TestEmptyPollsArePaced: an authority that answers long polls at once
// with nothing does not make the follower spin.
func TestEmptyPollsArePaced(t *testing.T) {
	a := newFakeAuthority(t)
	a.set(func(a *fakeAuthority) { a.noWait = true })
	cfg := testConfig(a)
	cfg.MinBackoff = 20 * time.Millisecond
	f := newFollower(t, cfg)
	run(t, f)
	waitFor(t, "6 requests", func() bool { return a.requestCount() >= 6 })
	times := a.requestTimes()
	// Request 1 (wait=0) is not paced; each of 2..5 is followed by a pause.
	if gap := times[5].Sub(times[1]); gap < 4*cfg.MinBackoff {
		t.Errorf("requests 2 to 6 took %v, want at least %v: empty long polls answered at once must be paced", gap, 4*cfg.MinBackoff)
	}
}

func TestOneRunAtATime(t *testing.T) {
	a := newFakeAuthority(t)
	f := newFollower(t, testConfig(a))
	run(t, f)
	waitSeq(t, f, 0)
	if err := f.Run(context.Background()); !errors.Is(err, follow.ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	if err := f.SyncOnce(context.Background()); !errors.Is(err, follow.ErrRunning) {
		t.Errorf("SyncOnce during Run = %v, want ErrRunning", err)
	}
}

func TestWaitSeqHonoursContext(t *testing.T) {
	a := newFakeAuthority(t)
	f := newFollower(t, testConfig(a))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.WaitSeq(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitSeq on a canceled context before any sync = %v, want context.Canceled", err)
	}
	mustSync(t, f)
	if err := f.WaitSeq(ctx, 0); err != nil {
		t.Errorf("WaitSeq(0) after a sync = %v, want nil even on a canceled context", err)
	}
	if err := f.WaitSeq(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitSeq(1) at seq 0 = %v, want context.Canceled", err)
	}
}

// TestNoGoroutineLeak: after Run returns, every goroutine it started, and
// every connection it opened, is gone.
func TestNoGoroutineLeak(t *testing.T) {
	a := newFakeAuthority(t)
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	a.setKeys(keyOf(key, "active"))
	base := runtime.NumGoroutine()
	for range 3 {
		cfg := testConfig(a)
		cfg.TrustAnchors = append(cfg.TrustAnchors, key.Public())
		cfg.Keys = token.NewKeySet()
		f := newFollower(t, cfg)
		stop := run(t, f)
		waitSeq(t, f, 0)
		waitFor(t, "a held long poll", func() bool { return a.held() == 1 })
		stop()
		mustSync(t, f) // and SyncOnce after Run, on the same Follower
	}
	var n int
	waitFor(t, "goroutines to return to the baseline", func() bool {
		n = runtime.NumGoroutine()
		return n <= base
	})
	if a.held() != 0 {
		t.Errorf("%d long polls still held by the authority", a.held())
	}
}

func TestNewValidates(t *testing.T) {
	store := revocation.NewMemory()
	tests := []struct {
		name    string
		cfg     follow.Config
		wantMsg string
	}{
		{"no authority", follow.Config{Store: store}, "Authority is required"},
		{"not a URL", follow.Config{Authority: "127.0.0.1:8421", Store: store}, "not an http or https URL"},
		{"unparsable", follow.Config{Authority: "http://user:p%zz@auth", Store: store}, "does not parse"},
		{"ftp", follow.Config{Authority: "ftp://auth", Store: store}, "not an http or https URL"},
		{"query", follow.Config{Authority: "http://auth/?x=1", Store: store}, "query"},
		{"no store", follow.Config{Authority: "http://auth"}, "Store is required"},
		{"bound too short", follow.Config{Authority: "http://auth", Store: store, MaxStaleness: time.Millisecond}, "too short"},
		{"negative", follow.Config{Authority: "http://auth", Store: store, MaxStaleness: -1}, "negative"},
		{"wait too long", follow.Config{Authority: "http://auth", Store: store, Wait: 15 * time.Second}, "shorter than half of Config.MaxStaleness"},
		{"backoff upside down", follow.Config{Authority: "http://auth", Store: store, MinBackoff: time.Second, MaxBackoff: time.Millisecond}, "MaxBackoff"},
		{"client timeout", follow.Config{Authority: "http://auth", Store: store, HTTPClient: &http.Client{Timeout: 10 * time.Second}}, "Timeout"},
		{"no trust anchor", follow.Config{Authority: "http://auth", Store: store}, "TrustAnchors is empty"},
		{"bad trust anchor", follow.Config{Authority: "http://auth", Store: store, TrustAnchors: []token.PublicKey{{ID: 1, Key: []byte{1, 2}}}}, "not an Ed25519 public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := follow.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("New = %v, want an error mentioning %q", err, tt.wantMsg)
			}
		})
	}
	if _, err := follow.New(follow.Config{Authority: "https://user:secret@auth.example/mandate/", Store: store, InsecureNoTrustAnchor: true}); err != nil {
		t.Errorf("New with a base path: %v", err)
	}
}

// TestBasePathAndRedaction: the endpoints are resolved under a base path,
// and a password in the URL never shows in status or errors.
func TestBasePathAndRedaction(t *testing.T) {
	a := newFakeAuthority(t)
	mux := http.NewServeMux()
	mux.Handle("/mandate/", http.StripPrefix("/mandate", a.mux))
	a.set(func(a *fakeAuthority) { a.override = mux })
	a.addN(1, 1, farFuture)
	cfg := testConfig(a)
	cfg.Authority = strings.Replace(a.URL(), "http://", "http://user:hunter2@", 1) + "/mandate/"
	f := newFollower(t, cfg)
	mustSync(t, f)
	if cfg.Store.LastSeq() != 1 {
		t.Errorf("LastSeq = %d, want 1 via the base path", cfg.Store.LastSeq())
	}
	a.close()
	err := f.SyncOnce(context.Background())
	if err == nil {
		t.Fatal("SyncOnce against a closed authority succeeded")
	}
	for _, s := range []string{err.Error(), f.Status().Authority} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("%q shows the password", s)
		}
	}
}

// TestStartWaitsForFirstSync: Start returns once the replica is fresh, and
// stop ends Run (a SyncOnce afterwards is no longer refused as running).
func TestStartWaitsForFirstSync(t *testing.T) {
	fa := newFakeAuthority(t)
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	fa.setKeys(keyOf(key, "active"))
	fa.add(time.Now().Add(time.Hour), revocationtest.ID(1))
	store := revocation.NewMemory()
	keys := token.NewKeySet()
	f, err := follow.New(follow.Config{Authority: fa.URL(), Store: store, Keys: keys, TrustAnchors: []token.PublicKey{fa.key.Public(), key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stop, err := f.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Keys()) == 0 {
		t.Fatal("Start returned before the keys were installed")
	}
	if err := f.Fresh(); err != nil {
		t.Fatalf("Fresh after Start: %v", err)
	}
	if store.Len() != 1 {
		t.Fatalf("store holds %d entries after the first sync, want 1", store.Len())
	}
	if err := f.SyncOnce(ctx); !errors.Is(err, follow.ErrRunning) {
		t.Fatalf("SyncOnce while running = %v, want ErrRunning", err)
	}
	stop()
	if err := f.SyncOnce(ctx); errors.Is(err, follow.ErrRunning) {
		t.Fatal("the follower still runs after stop")
	}
}
