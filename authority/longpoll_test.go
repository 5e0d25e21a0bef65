package authority_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mandate-dev/mandate/authority"
	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier/follow"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// served is an authority run by authority.Serve on a real listener on
// 127.0.0.1, as `mandate authority serve` runs it (timeouts, descriptor
// limit, connection caps).
type served struct {
	t    testing.TB
	addr string
	base string
	hc   *http.Client
	// root is the authority's first root key, for followers to pin.
	root token.PublicKey
}

func serve(t testing.TB, cfg authority.Config) *served {
	t.Helper()
	cfg.DataDir = t.TempDir()
	cfg.AdminToken = adminToken
	cfg.AdminTokenOutput = io.Discard
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	var root token.PublicKey
	started := func(a *authority.Authority) {
		k := a.Keys()[0]
		root = token.PublicKey{ID: k.ID, Key: k.PublicKey}
	}
	go func() {
		done <- authority.Serve(ctx, authority.ServeConfig{Config: cfg, Addr: "127.0.0.1:0", Started: started, Ready: func(a net.Addr) { addr <- a.String() }})
	}()
	var s *served
	select {
	case a := <-addr:
		s = &served{t: t, addr: a, base: "http://" + a, hc: &http.Client{Transport: &http.Transport{}}, root: root}
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

func (s *served) do(method, path, bearer string, body any) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	r, err := s.hc.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, b
}

// metric reads one unlabelled value from /metrics.
func (s *served) metric(name string) int64 {
	s.t.Helper()
	_, b := s.do(http.MethodGet, "/metrics", "", nil)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				s.t.Fatalf("metric %s: %q", name, line)
			}
			return n
		}
	}
	s.t.Fatalf("no metric %s", name)
	return 0
}

// polls are raw long-polls of the feed, each on its own connection from a
// chosen loopback address (Linux routes all of 127.0.0.0/8 to lo), so that
// a test can be many clients.
type polls struct {
	follow  bool // ask again after each answer, like a follower
	mu      sync.Mutex
	conns   []net.Conn
	started atomic.Int64 // requests sent
	early   atomic.Int64 // answered with no entry
	entries atomic.Int64 // answered with at least one entry
	failed  atomic.Int64 // refused connections and errors
	status  sync.Map     // status code → *atomic.Int64
}

func (p *polls) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *polls) count(status int) int64 {
	n, _ := p.status.LoadOrStore(status, new(atomic.Int64))
	return n.(*atomic.Int64).Load()
}

// start opens n long-polls (wait=600s, after=after) from localIP.
func (p *polls) start(t testing.TB, addr, localIP string, n int, after uint64) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
	req := fmt.Sprintf("GET /v1/revocations?after=%d&wait=600s HTTP/1.1\r\nHost: mandate\r\n\r\n", after)
	for range n {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial from %s: %v", localIP, err)
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		if _, err := io.WriteString(c, req); err != nil {
			p.failed.Add(1)
			continue
		}
		p.started.Add(1)
		go func() {
			br := bufio.NewReader(c)
			for {
				r, err := http.ReadResponse(br, nil)
				if err != nil {
					p.failed.Add(1)
					return
				}
				n, _ := p.status.LoadOrStore(r.StatusCode, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
				var f feed
				err = json.NewDecoder(r.Body).Decode(&f)
				r.Body.Close()
				if err != nil {
					p.failed.Add(1)
					return
				}
				if len(f.Entries) > 0 {
					p.entries.Add(1)
				} else {
					p.early.Add(1)
				}
				if !p.follow {
					return
				}
				// Ask again from where the answer ends, pacing an empty
				// answer as verifier/follow does.
				if len(f.Entries) == 0 {
					time.Sleep(follow.DefaultMinBackoff)
				}
				if _, err := fmt.Fprintf(c, "GET /v1/revocations?after=%d&wait=600s HTTP/1.1\r\nHost: mandate\r\n\r\n", f.Next); err != nil {
					return
				}
			}
		}()
	}
}

// eventually polls cond until it holds. The deadline is generous: it only
// turns a hang into a failure on a loaded machine, it measures nothing.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// loadSize returns how many long-polls this process can open: each costs
// two descriptors here (client and server side of the connection).
func loadSize(t testing.TB, want int) int {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("RLIMIT_NOFILE: %v", err)
	}
	n := min(want, (int(min(lim.Cur, 1<<20))-1024)/2)
	if n < 500 {
		t.Skipf("RLIMIT_NOFILE %d is too low for a load test", lim.Cur)
	}
	return n
}

// TestLongPollCaps holds thousands of long-polls against a real server:
// one client holds at most MaxLongPollsPerClient, all together at most
// MaxLongPolls, and the rest are answered at once; meanwhile health, keys,
// mint and revocation answer, and a follower still learns a new revocation,
// as do all the held long-polls.
func TestLongPollCaps(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	total := loadSize(t, 3000)
	s := serve(t, authority.Config{MaxWait: 10 * time.Minute})
	const perClient, totalCap = authority.DefaultMaxLongPollsPerClient, authority.DefaultMaxLongPolls
	p := &polls{}
	defer p.close()

	// One greedy client: it gets its share, no more.
	greedy := perClient + 36
	p.start(t, s.addr, "127.0.2.1", greedy, 0)
	eventually(t, "one client to hold its share and have the rest answered", func() bool {
		return p.early.Load() == int64(greedy-perClient) && s.metric("mandate_feed_followers") == perClient
	})

	// Many clients, each under its share: together they reach the total cap.
	rest := total - greedy
	per := perClient - 4
	for i := 0; rest > 0; i++ {
		n := min(per, rest)
		p.start(t, s.addr, fmt.Sprintf("127.0.%d.%d", 3+i/250, 1+i%250), n, 0)
		rest -= n
	}
	wantEarly := int64(total - totalCap)
	eventually(t, "the total cap to be held and every long-poll over the caps answered", func() bool {
		return p.early.Load() == wantEarly && s.metric("mandate_feed_followers") == totalCap
	})
	// Nothing more is held than the caps allow, however long we look.
	if got := s.metric("mandate_feed_followers"); got != totalCap || p.early.Load() != wantEarly {
		t.Fatalf("held long-polls = %d, answered %d; want %d and %d", got, p.early.Load(), totalCap, wantEarly)
	}
	if got := s.metric("mandate_feed_long_polls_capped_total"); got != wantEarly {
		t.Errorf("capped long-polls = %d, want %d", got, wantEarly)
	}
	if got := s.metric("mandate_connections_refused_total"); got != 0 {
		t.Errorf("%d connections refused; every client stayed within its share", got)
	}
	if p.failed.Load() != 0 || p.count(http.StatusOK) != wantEarly {
		t.Fatalf("%d failed, %d answered 200; want 0 and %d", p.failed.Load(), p.count(http.StatusOK), wantEarly)
	}
	t.Logf("%d long-polls: %d held, %d answered at once", total, totalCap, wantEarly)

	// Every route still answers, from yet another client.
	if st, b := s.do(http.MethodGet, "/healthz", "", nil); st != http.StatusOK {
		t.Fatalf("healthz: %d %s", st, b)
	}
	if st, b := s.do(http.MethodGet, "/v1/keys", "", nil); st != http.StatusOK {
		t.Fatalf("keys: %d %s", st, b)
	}
	st, b := s.do(http.MethodPost, "/v1/tokens", adminToken, crmMint(""))
	if st != http.StatusCreated {
		t.Fatalf("mint: %d %s", st, b)
	}
	var m minted
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}

	// A follower that starts now, while the caps are full, still follows.
	store := revocation.NewMemory()
	f, err := follow.New(follow.Config{Authority: s.base, Store: store, TrustAnchors: []token.PublicKey{s.root}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop, err := f.Start(ctx)
	if err != nil {
		t.Fatalf("follower start: %v", err)
	}
	defer stop()

	if st, b := s.do(http.MethodPost, "/v1/revocations", adminToken, map[string]string{"session": m.Session}); st != http.StatusOK {
		t.Fatalf("revoke: %d %s", st, b)
	}
	id, err := hex.DecodeString(m.RevocationIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the follower to learn the revocation", func() bool { return store.Revoked([][]byte{id}) >= 0 })
	eventually(t, "every held long-poll to return the revocation", func() bool { return p.entries.Load() == totalCap })
	if err := f.Fresh(); err != nil {
		t.Errorf("follower is not fresh: %v", err)
	}
}

// TestConnectionCaps: Serve refuses a client's connections over its share
// with a JSON 503 and keeps serving everyone else, the first client's open
// connections included; at the total cap it closes an idle keep-alive
// connection to make room, and refuses only when every connection is in use.
func TestConnectionCaps(t *testing.T) {
	s := serve(t, authority.Config{MaxConnsPerClient: 8, MaxConns: 20, MaxWait: 10 * time.Minute})
	dial := func(ip string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		c, err := d.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	readers := map[net.Conn]*bufio.Reader{}
	get := func(c net.Conn) int {
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: mandate\r\n\r\n"); err != nil {
			return -1
		}
		br := readers[c]
		if br == nil {
			br = bufio.NewReader(c)
			readers[c] = br
		}
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			return -1
		}
		defer r.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		if r.StatusCode != http.StatusOK && (json.NewDecoder(r.Body).Decode(&e) != nil || e.Error == "") {
			t.Errorf("status %d without a JSON error", r.StatusCode)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		return r.StatusCode
	}
	var open []net.Conn
	for range 8 {
		c := dial("127.0.5.1")
		if st := get(c); st != http.StatusOK {
			t.Fatalf("connection within the share: %d", st)
		}
		open = append(open, c)
	}
	if st := get(dial("127.0.5.1")); st != http.StatusServiceUnavailable {
		t.Errorf("ninth connection of one client: %d, want 503", st)
	}
	for _, c := range open {
		if st := get(c); st != http.StatusOK {
			t.Errorf("an open connection stopped working: %d", st)
		}
	}
	// Other clients fill the total cap (20) with keep-alive connections ...
	for i := range 12 {
		c := dial(fmt.Sprintf("127.0.5.%d", 2+i))
		if st := get(c); st != http.StatusOK {
			t.Fatalf("connection %d within the total cap: %d", 9+i, st)
		}
		open = append(open, c)
	}
	// ... and a newcomer still gets in: one idle connection is closed.
	// (The server marks a connection idle just after its answer is sent, so
	// the newcomer may have to try again, as a client would after a 503.)
	eventually(t, "a newcomer at the total cap to get in (an idle connection closed for it)", func() bool {
		return get(dial("127.0.5.99")) == http.StatusOK
	})
	closed := 0
	for _, c := range open {
		if get(c) != http.StatusOK {
			closed++
		}
	}
	if closed != 1 {
		t.Errorf("%d idle connections closed for one newcomer, want 1", closed)
	}

	// When every connection is in use (held long-polls), a newcomer is
	// refused.
	s2 := serve(t, authority.Config{MaxConns: 4, MaxLongPolls: 4, MaxWait: 10 * time.Minute})
	p := &polls{}
	defer p.close()
	p.start(t, s2.addr, "127.0.6.1", 4, 0)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.6.2")}}
	c, err := d.Dial("tcp", s2.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st := get(c); st != http.StatusServiceUnavailable {
		t.Errorf("newcomer with every connection in use: %d, want 503", st)
	}
	if p.early.Load()+p.entries.Load()+p.failed.Load() != 0 {
		t.Errorf("a held long-poll was answered or closed to make room")
	}
}

// BenchmarkRoutesUnderLongPollLoad measures health, keys, mint, revoke and
// revocation propagation to a follower while 3,000 followers long-poll a
// real server (the caps full: 2,048 held, the rest answered at once and
// asking again every 100ms), and prints p50/p99 latencies:
//
//	go test ./authority/ -run '^$' -bench RoutesUnderLongPollLoad -benchtime 200x
func BenchmarkRoutesUnderLongPollLoad(b *testing.B) {
	total := loadSize(b, 3000)
	s := serve(b, authority.Config{MaxWait: 10 * time.Minute})
	p := &polls{follow: true}
	defer p.close()
	for i := 0; i < total; i += 60 {
		p.start(b, s.addr, fmt.Sprintf("127.0.%d.%d", 3+i/60/250, 1+(i/60)%250), min(60, total-i), 0)
	}
	eventually(b, "the caps to fill", func() bool {
		return p.started.Load() == int64(total) && s.metric("mandate_feed_followers") == authority.DefaultMaxLongPolls
	})
	store := revocation.NewMemory()
	f, err := follow.New(follow.Config{Authority: s.base, Store: store, TrustAnchors: []token.PublicKey{s.root}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop, err := f.Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer stop()

	report := func(b *testing.B, lat []time.Duration) {
		slices.Sort(lat)
		p50, p99 := lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
		b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
		b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
		b.Logf("%s under %d open long-polls: n=%d p50=%v p99=%v", b.Name(), total, len(lat), p50, p99)
	}
	timed := func(name string, fn func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				fn(b)
				lat = append(lat, time.Since(start))
			}
			report(b, lat)
		})
	}
	timed("healthz", func(b *testing.B) {
		if st, _ := s.do(http.MethodGet, "/healthz", "", nil); st != http.StatusOK {
			b.Fatalf("healthz: %d", st)
		}
	})
	timed("keys", func(b *testing.B) {
		if st, _ := s.do(http.MethodGet, "/v1/keys", "", nil); st != http.StatusOK {
			b.Fatalf("keys: %d", st)
		}
	})
	timed("mint", func(b *testing.B) {
		if st, body := s.do(http.MethodPost, "/v1/tokens", adminToken, crmMint("")); st != http.StatusCreated {
			b.Fatalf("mint: %d %s", st, body)
		}
	})
	var n atomic.Uint64
	timed("revoke-to-follower", func(b *testing.B) {
		id := make([]byte, 64)
		copy(id, strconv.FormatUint(n.Add(1), 10))
		if st, body := s.do(http.MethodPost, "/v1/revocations", adminToken, map[string]string{"revocation_id": hex.EncodeToString(id)}); st != http.StatusOK {
			b.Fatalf("revoke: %d %s", st, body)
		}
		for store.Revoked([][]byte{id}) < 0 {
			time.Sleep(200 * time.Microsecond)
		}
	})
}
