package authority

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A held long-poll costs a connection (a file descriptor) and a goroutine
// for up to MaxWait. Without a bound, ~20,000 of them exhaust the process's
// file descriptors and every route stops answering, the feed included, so
// verifiers go stale and deny everything. The authority therefore shares
// long-polls out: at most Config.MaxLongPollsPerClient per client and
// Config.MaxLongPolls in total are held. A long-poll over either cap is not
// refused: it is answered at once with what the log holds, like wait=0.
// That keeps every follower fresh (an answer proves the follower is up to
// date, which a 429 would not), and the follower paces such quick empty
// answers itself (verifier/follow waits MinBackoff, 100ms by default,
// before asking again), so a capped follower still learns a revocation
// within a fraction of a second.
//
// The feed is public (revocation IDs are not secrets), so a client is its
// remote address: an IPv4 address, or the /64 prefix of an IPv6 address
// (one host holds a whole /64). X-Forwarded-For is not trusted.

// pollGate counts held long-polls, per client and in total.
type pollGate struct {
	perClient, total int

	mu     sync.Mutex
	held   int
	byPeer map[netip.Prefix]int

	refused atomic.Uint64 // long-polls answered at once because of a cap
}

func newPollGate(total, perClient int) *pollGate {
	if total <= 0 {
		total = DefaultMaxLongPolls
	}
	if perClient <= 0 {
		perClient = DefaultMaxLongPollsPerClient
	}
	return &pollGate{perClient: min(perClient, total), total: total, byPeer: make(map[netip.Prefix]int)}
}

// acquire admits a long-poll of the client at remoteAddr. When ok is false
// the caller must not wait; otherwise it must call release when done.
func (g *pollGate) acquire(remoteAddr string) (release func(), ok bool) {
	peer := peerOf(remoteAddr)
	g.mu.Lock()
	if g.held >= g.total || g.byPeer[peer] >= g.perClient {
		g.mu.Unlock()
		g.refused.Add(1)
		return nil, false
	}
	g.held++
	g.byPeer[peer]++
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.held--
			if g.byPeer[peer]--; g.byPeer[peer] <= 0 {
				delete(g.byPeer, peer)
			}
			g.mu.Unlock()
		})
	}, true
}

// peerOf maps a remote address ("ip:port") to the client it counts as.
// An address that does not parse counts as one shared client, which only
// makes the caps stricter.
func peerOf(remoteAddr string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Prefix{}
	}
	ip := ap.Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// connLimiter is a listener that bounds the connections open at once, per
// client (as peerOf counts them) and in total, so that no one client can
// take the file descriptors every other client needs. At the total cap an
// idle keep-alive connection, chosen at random (so clients holding more lose
// more), is closed to make room: its client reconnects when it needs to.
// Otherwise a connection over a cap is answered 503 (best effort) and
// closed at once; connections in use, such as a held long-poll, are never
// affected.
type connLimiter struct {
	net.Listener
	perClient, total int

	mu     sync.Mutex
	open   int
	byPeer map[netip.Prefix]int
	idle   map[*limitedConn]struct{} // keep-alive connections between requests

	refused *atomic.Uint64
}

func newConnLimiter(ln net.Listener, total, perClient int, refused *atomic.Uint64) *connLimiter {
	return &connLimiter{Listener: ln, total: total, perClient: min(perClient, total),
		byPeer: make(map[netip.Prefix]int), idle: make(map[*limitedConn]struct{}), refused: refused}
}

// connState is the http.Server ConnState hook: it tells the limiter which
// connections are idle.
func (l *connLimiter) connState(c net.Conn, s http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	if s == http.StateIdle {
		l.idle[lc] = struct{}{}
	} else {
		delete(l.idle, lc)
	}
	l.mu.Unlock()
}

// overloaded is written to a connection refused by connLimiter.
var overloaded = func() []byte {
	const body = `{"error":"temporarily_unavailable","error_description":"too many connections from this client or in total; retry soon"}`
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc := l.admit(c); lc != nil {
			return lc, nil
		}
		l.refused.Add(1)
		go refuse(c)
	}
}

// admit takes a slot for c, closing an idle connection at the total cap,
// or returns nil.
func (l *connLimiter) admit(c net.Conn) *limitedConn {
	peer := peerOf(c.RemoteAddr().String())
	l.mu.Lock()
	if l.byPeer[peer] < l.perClient && l.open >= l.total {
		var victim *limitedConn
		for v := range l.idle {
			victim = v
			break
		}
		if victim != nil {
			delete(l.idle, victim)
			l.mu.Unlock()
			_ = victim.Close() // gives its slot back
			l.mu.Lock()
		}
	}
	if l.open >= l.total || l.byPeer[peer] >= l.perClient {
		l.mu.Unlock()
		return nil
	}
	l.open++
	l.byPeer[peer]++
	l.mu.Unlock()
	return &limitedConn{Conn: c, l: l, peer: peer}
}

func (l *connLimiter) release(c *limitedConn) {
	l.mu.Lock()
	l.open--
	if l.byPeer[c.peer]--; l.byPeer[c.peer] <= 0 {
		delete(l.byPeer, c.peer)
	}
	delete(l.idle, c)
	l.mu.Unlock()
}

// refuse answers 503 without reading the request and closes c. Closing a
// socket with unread input resets it, which can destroy the answer before
// the client reads it, so the request is drained briefly first; every step
// is bounded so a refused client cannot hold the descriptor.
func refuse(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(RefuseLinger))
	if _, err := c.Write(overloaded); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.CopyN(io.Discard, c, 64<<10)
}

// limitedConn releases its slot once, when closed.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	peer netip.Prefix
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}
