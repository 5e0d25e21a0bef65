package follow_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
	"github.com/mandate-dev/mandate/verifier/revocation/revocationtest"
)

// fakeAuthority implements the authority's HTTP contract for followers
// (GET /v1/keys, GET /v1/revocations long poll) on a real 127.0.0.1
// listener, with faults a test can switch on.
type fakeAuthority struct {
	srv *httptest.Server
	mux *http.ServeMux

	// override, when set, serves every request instead of the contract.
	override http.Handler

	// key signs the feed's pages; it is published by /v1/keys unless
	// setKeys says otherwise, and testConfig pins it.
	key token.SigningKey

	mu       sync.Mutex
	log      []wireEntry      // ascending seq
	head     uint64           // highest seq ever appended (0 after reset)
	headHash []byte           // chain hash of head
	ends     []map[string]any // endorsements_v1 of /v1/keys
	wake     chan struct{}
	keys     []wireKey
	pageSize int
	polling  int // long polls currently held
	afters   []uint64
	times    []time.Time // arrival of each /v1/revocations request
	waits    []string

	// Faults, consumed or applied by the next /v1/revocations requests.
	failNext  int    // answer 500 with an authority error body
	dropNext  int    // close the connection without answering
	hang      bool   // hold every request until the test ends or hang is cleared
	noWait    bool   // ignore wait: answer empty at once
	aheadErr  bool   // answer a request past the head with 409 sequence_ahead, as package authority does
	revBody   string // when set, answer 200 with this body
	keysBody  string // when set, /v1/keys answers 200 with this body
	keysFail  bool   // /v1/keys answers 503
	unhang    chan struct{}
	closeOnce sync.Once
	quit      chan struct{}
}

type wireEntry struct {
	Seq          uint64 `json:"seq"`
	RevocationID string `json:"revocation_id"`
	ExpiresAt    string `json:"expires_at"`
	Hash         string `json:"hash_v1"`
	PrevHash     string `json:"prev_hash_v1,omitempty"`
}

type wireKey struct {
	KeyID     uint32 `json:"key_id"`
	Algorithm string `json:"algorithm"`
	PublicKey string `json:"public_key"`
	Status    string `json:"status"`
	NotAfter  string `json:"not_after,omitempty"`
}

func newFakeAuthority(t testing.TB) *fakeAuthority {
	t.Helper()
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	a := &fakeAuthority{
		key:      key,
		headHash: token.GenesisHash(),
		wake:     make(chan struct{}),
		unhang:   make(chan struct{}),
		quit:     make(chan struct{}),
		pageSize: 1000,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/keys", a.handleKeys)
	mux.HandleFunc("GET /v1/revocations", a.handleRevocations)
	a.mux = mux
	a.srv = httptest.NewServer(a)
	t.Cleanup(a.close)
	return a
}

func (a *fakeAuthority) URL() string { return a.srv.URL }

func (a *fakeAuthority) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	h := a.override
	a.mu.Unlock()
	if h == nil {
		h = a.mux
	}
	h.ServeHTTP(w, r)
}

// close ends every held request and stops the server.
func (a *fakeAuthority) close() {
	a.closeOnce.Do(func() {
		close(a.quit)
		a.srv.Close()
	})
}

// add appends revocation IDs to the log and wakes the long polls; it
// returns the seq of the last one.
func (a *fakeAuthority) add(exp time.Time, ids ...[]byte) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		a.head++
		e := wireEntry{Seq: a.head, RevocationID: hex.EncodeToString(id), ExpiresAt: exp.UTC().Format(time.RFC3339), PrevHash: hex.EncodeToString(a.headHash)}
		a.headHash = token.ChainHash(a.headHash, a.head, id, exp.UTC().Truncate(time.Second))
		e.Hash = hex.EncodeToString(a.headHash)
		a.log = append(a.log, e)
	}
	a.wakeLocked()
	return a.head
}

// addN appends revocationtest.ID(from) .. ID(from+n-1).
func (a *fakeAuthority) addN(from, n uint64, exp time.Time) uint64 {
	ids := make([][]byte, n)
	for i := range ids {
		ids[i] = revocationtest.ID(from + uint64(i))
	}
	return a.add(exp, ids...)
}

// resetLog forgets the whole log, as an authority whose data was wiped.
func (a *fakeAuthority) resetLog() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.log, a.head, a.headHash = nil, 0, token.GenesisHash()
	a.wakeLocked()
}

func (a *fakeAuthority) wakeLocked() {
	close(a.wake)
	a.wake = make(chan struct{})
}

func (a *fakeAuthority) set(f func(a *fakeAuthority)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(a)
	a.wakeLocked()
}

func (a *fakeAuthority) setHang(on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.hang && !on {
		close(a.unhang)
		a.unhang = make(chan struct{})
	}
	a.hang = on
}

func (a *fakeAuthority) setKeys(keys ...wireKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys = keys
}

func (a *fakeAuthority) requestedAfters() []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]uint64(nil), a.afters...)
}

func (a *fakeAuthority) requestTimes() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.times...)
}

func (a *fakeAuthority) requestedWaits() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.waits...)
}

func (a *fakeAuthority) requestCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.afters)
}

func (a *fakeAuthority) held() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.polling
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (a *fakeAuthority) handleKeys(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	body, fail, keys, ends, key := a.keysBody, a.keysFail, a.keys, a.ends, a.key
	a.mu.Unlock()
	switch {
	case fail:
		writeError(w, http.StatusServiceUnavailable, "unavailable", "keys are not loaded yet")
	case body != "":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	default:
		if keys == nil {
			keys = []wireKey{keyOf(key, "active")}
		}
		if ends == nil {
			ends = []map[string]any{}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys, "endorsements_v1": ends})
	}
}

func (a *fakeAuthority) handleRevocations(w http.ResponseWriter, r *http.Request) {
	after, err := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "after must be a sequence number")
		return
	}
	wait, err := time.ParseDuration(r.URL.Query().Get("wait"))
	if err != nil || wait < 0 {
		writeError(w, http.StatusBadRequest, "invalid_request", "wait must be a Go duration")
		return
	}
	a.mu.Lock()
	a.afters = append(a.afters, after)
	a.times = append(a.times, time.Now())
	a.waits = append(a.waits, r.URL.Query().Get("wait"))
	switch {
	case a.hang:
		unhang := a.unhang
		a.mu.Unlock()
		select {
		case <-unhang:
		case <-a.quit:
		case <-r.Context().Done():
		}
		return
	case a.failNext > 0:
		a.failNext--
		a.mu.Unlock()
		writeError(w, http.StatusInternalServerError, "server_error", "storage unavailable")
		return
	case a.dropNext > 0:
		a.dropNext--
		a.mu.Unlock()
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = c.Close()
		}
		return
	case a.revBody != "":
		body := a.revBody
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
		return
	}
	if a.noWait {
		wait = 0
	}
	if a.aheadErr && after > a.head {
		head := a.head
		a.mu.Unlock()
		writeError(w, http.StatusConflict, "sequence_ahead", "sequence number ahead of the revocation log: after="+strconv.FormatUint(after, 10)+" but the last sequence number is "+strconv.FormatUint(head, 10))
		return
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		var page []wireEntry
		for _, e := range a.log {
			if e.Seq > after {
				page = append(page, e)
				if len(page) == a.pageSize {
					break
				}
			}
		}
		// Nothing new, no wait, or a follower ahead of our head (our log
		// restarted): answer now.
		if len(page) > 0 || wait == 0 || after > a.head {
			next := min(a.head, after) // nothing new: our head (below after if the log restarted)
			if len(page) > 0 {
				next = page[len(page)-1].Seq
			}
			nonce, _ := hex.DecodeString(r.URL.Query().Get("nonce"))
			body := a.signedPageLocked(after, next, page, nonce)
			a.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(body)
			return
		}
		wake := a.wake
		a.polling++
		a.mu.Unlock()
		var expired bool
		select {
		case <-wake:
		case <-deadline.C:
			expired = true
		case <-a.quit:
			a.mu.Lock()
			a.polling--
			a.mu.Unlock()
			return
		case <-r.Context().Done():
			a.mu.Lock()
			a.polling--
			a.mu.Unlock()
			return
		}
		a.mu.Lock()
		a.polling--
		if expired {
			wait = 0 // answer with what there is, even nothing
		}
	}
}

// signedPageLocked is the answer for a page, as package authority writes
// it: prev_hash_v1 on the first entry and after gaps, and chain_v1 signed
// with a.key over the page and the request's nonce.
func (a *fakeAuthority) signedPageLocked(after, next uint64, page []wireEntry, nonce []byte) map[string]any {
	out := make([]wireEntry, len(page))
	p := token.FeedPage{After: after, Next: next, HeadSeq: a.head, HeadHash: a.headHash, Nonce: nonce}
	prev := after
	for i, e := range page {
		if i > 0 && e.Seq == prev+1 {
			e.PrevHash = ""
		}
		prev = e.Seq
		out[i] = e
		h, _ := hex.DecodeString(e.Hash)
		p.Entries = append(p.Entries, token.FeedPageEntry{Seq: e.Seq, Hash: h})
	}
	return map[string]any{"entries": out, "next": next, "chain_v1": map[string]any{
		"head_seq": a.head, "head_hash": hex.EncodeToString(a.headHash), "key_id": a.key.ID, "signature": hex.EncodeToString(p.Sign(a.key))}}
}

// rotate makes a new signing key, endorsed by the current one, and
// publishes both (the old one retiring), as package authority does.
func (a *fakeAuthority) rotate(t testing.TB) token.SigningKey {
	t.Helper()
	k, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e := token.Endorse(a.key, k.Public())
	a.ends = append(a.ends, map[string]any{"key_id": k.ID, "public_key": token.FormatPublicKey(k.Public().Key), "signer_key_id": e.SignerID, "signature": hex.EncodeToString(e.Signature)})
	a.keys = []wireKey{keyOf(k, "active"), keyOf(a.key, "retiring")}
	a.key = k
	return k
}

// keyOf is the published form of a signing key.
func keyOf(k token.SigningKey, status string) wireKey {
	return wireKey{KeyID: k.ID, Algorithm: "ed25519", PublicKey: token.FormatPublicKey(k.Public().Key), Status: status}
}

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testConfig is a Config for tests: a fresh Memory store, quick backoff, a
// long poll that really waits (so that delivery by a held poll is tested)
// and a staleness bound far above it.
func testConfig(a *fakeAuthority) follow.Config {
	return follow.Config{
		Authority:    a.URL(),
		TrustAnchors: []token.PublicKey{a.key.Public()},
		Store:        revocation.NewMemory(),
		MaxStaleness: time.Minute,
		Wait:         20 * time.Second,
		MinBackoff:   time.Millisecond,
		MaxBackoff:   20 * time.Millisecond,
	}
}

func newFollower(t testing.TB, cfg follow.Config) *follow.Follower {
	t.Helper()
	f, err := follow.New(cfg)
	if err != nil {
		t.Fatalf("follow.New: %v", err)
	}
	return f
}

// run starts f.Run and stops it when the test ends (or when the returned
// stop is called), failing the test if Run does not return.
func run(t testing.TB, f *follow.Follower) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil after cancel", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return within 10s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds or a 10 s deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitSeq(t testing.TB, f *follow.Follower, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.WaitSeq(ctx, seq); err != nil {
		t.Fatalf("WaitSeq(%d): %v (status %+v)", seq, err, f.Status())
	}
}

func mustSync(t testing.TB, f *follow.Follower) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.SyncOnce(ctx); err != nil {
		t.Fatalf("SyncOnce: %v", err)
	}
}

func ids(ns ...uint64) [][]byte {
	out := make([][]byte, len(ns))
	for i, n := range ns {
		out[i] = revocationtest.ID(n)
	}
	return out
}
