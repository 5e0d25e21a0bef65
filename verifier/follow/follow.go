package follow

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// userAgent identifies followers in the authority's access logs.
const userAgent = "mandate-follow/1"

// Config configures a [Follower]. Authority and Store are required; every
// other field has a default.
type Config struct {
	// Authority is the authority's base URL, such as
	// "http://127.0.0.1:8421" or "https://auth.example.com/mandate". The
	// follower requests {Authority}/v1/keys and
	// {Authority}/v1/revocations.
	Authority string

	// Store is the verifier's replica of the revocation log: a
	// badgerstore.Store in production (durable, so that a restarted
	// verifier resumes from Store.LastSeq instead of from 0), a
	// revocation.Memory in tests. The same Store is the verifier's
	// Config.Revocations. The follower never closes it.
	Store revocation.Store

	// Keys, when set, is refreshed in place with KeySet.Set from
	// /v1/keys: at the start of Run, every KeyRefresh, and by SyncOnce and
	// RefreshKeys. Pass the same KeySet as the verifier's Config.Keys.
	// Only keys reachable from TrustAnchors are installed (see below).
	// When nil, the follower still fetches the keys, to check the feed's
	// signatures, but installs them nowhere (the verifier was given fixed
	// keys).
	Keys *token.KeySet

	// TrustAnchors are the root public keys this follower trusts without
	// asking the network: the authority's key as printed by `mandate
	// authority serve` (or GET /v1/keys on a trusted path), configured
	// out of band. Required unless InsecureNoTrustAnchor is set.
	//
	// A key the authority publishes is installed only if it is an anchor
	// or endorsed by one, directly or through a chain of endorsements
	// (each rotation signs the new key with the old one; /v1/keys
	// publishes them). Every feed answer must be signed by such a key. So
	// a man in the middle of plain HTTP can neither install a key nor
	// alter, drop or add a revocation: the follower refuses the answer
	// and, if that lasts, goes stale and denies (fail closed).
	TrustAnchors []token.PublicKey

	// InsecureNoTrustAnchor makes the follower trust whatever keys
	// /v1/keys answers, as anchors. Anyone who can answer in the
	// authority's place (plain HTTP on a network you do not control, a
	// DNS hijack) can then install their own key and mint tokens your
	// verifier accepts. Use it only for demos and tests on one machine,
	// never in production; it is ignored when TrustAnchors is set.
	InsecureNoTrustAnchor bool

	// MaxStaleness is the freshness bound: once the replica may be
	// missing revocations logged more than MaxStaleness ago (see the
	// package doc for the exact rule), Fresh returns an error and a
	// verifier using it denies every request (fail closed). Default 30s.
	MaxStaleness time.Duration

	// Wait is how long the authority may hold one long poll open when
	// there is nothing new. A quiet, healthy follower's staleness reaches
	// about 2*Wait, so Wait must be shorter than MaxStaleness/2; default
	// min(25s, MaxStaleness*2/5), 12s for the default bound.
	Wait time.Duration

	// Grace is how much longer than Wait the follower gives one request
	// (connecting, and the authority's answer) before it abandons it and
	// reconnects: it is how a follower notices an authority that died, or
	// a network that dropped, in the middle of a long poll without closing
	// the connection. Default min(3s, MaxStaleness/10).
	Grace time.Duration

	// KeyRefresh is the interval between key refreshes. Default 1m.
	KeyRefresh time.Duration

	// MinBackoff and MaxBackoff bound the delay before retrying after a
	// failed request: it starts at MinBackoff, doubles after each
	// consecutive failure up to MaxBackoff, and is jittered to between
	// half and all of that. Defaults 100ms and 10s.
	MinBackoff, MaxBackoff time.Duration

	// HTTPClient makes the requests. When nil the follower uses its own
	// client and transport (and closes their idle connections when Run or
	// SyncOnce returns). A client with a Timeout must allow Wait+Grace.
	// Give it a transport that adds credentials if the authority wants
	// them.
	HTTPClient *http.Client

	// Now is the clock freshness is measured with; nil means time.Now.
	// Pass the verifier's clock. Backoff and request timeouts always use
	// real time.
	Now func() time.Time

	// Logger receives the follower's events: first sync, reconnection,
	// failures with their backoff, log resets (at error level) and key
	// changes. Nil disables logging. Tokens are never seen by the
	// follower, so never logged; revocation IDs are not logged either.
	Logger *zerolog.Logger
}

// Follower follows the authority's revocation log into a local
// [revocation.Store] and keeps a [token.KeySet] in step with the
// authority's published keys. It is safe for concurrent use: Fresh,
// Staleness, Status and WaitSeq may be called from any goroutine, while
// one Run or SyncOnce at a time does the following.
type Follower struct {
	cfg       Config
	revURL    string // {Authority}/v1/revocations
	keysURL   string // {Authority}/v1/keys
	authority string // Authority with any password redacted, for logs
	client    *http.Client
	transport *http.Transport // non-nil when the follower owns it
	now       func() time.Time
	log       zerolog.Logger
	created   time.Time

	pollMu     sync.Mutex // held by the one Run or SyncOnce in progress
	cursorInit bool       // guarded by pollMu
	cursor     atomic.Uint64
	// lastOK is when the last request that succeeded was sent: the
	// replica holds every entry the authority logged before it.
	lastOK atomic.Pointer[time.Time]

	keysMu sync.Mutex // serializes key refreshes

	// cursorHash is the chain hash at the cursor (nil if unknown: a new
	// store, or after a log restart). Guarded by pollMu.
	cursorHash []byte
	// trusted are the keys reachable from the trust anchors at the last
	// key refresh (the anchors before the first), which may sign feed
	// pages.
	trusted atomic.Pointer[map[uint32]ed25519.PublicKey]

	mu        sync.Mutex // guards the fields below
	changed   chan struct{}
	connected bool
	lastErr   error
	lastErrAt time.Time
	failures  int
	resyncs   uint64
	applied   uint64
	keysAt    time.Time
	keys      []token.PublicKey
	keyErr    error
}

// New validates cfg, fills in its defaults and returns a Follower. It does
// no I/O: call Run (or SyncOnce) to start following.
func New(cfg Config) (*Follower, error) {
	if cfg.Authority == "" {
		return nil, errors.New("follow: Config.Authority is required (the authority's base URL, e.g. http://127.0.0.1:8421)")
	}
	u, err := url.Parse(cfg.Authority)
	if err != nil {
		// The URL may hold a password: do not echo it.
		return nil, errors.New("follow: Config.Authority is not an http or https URL (it does not parse)")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("follow: Config.Authority %q is not an http or https URL", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("follow: Config.Authority %q has a query or fragment; give the base URL only", u.Redacted())
	}
	if cfg.Store == nil {
		return nil, errors.New("follow: Config.Store is required (badgerstore.Open in production, revocation.NewMemory() in tests)")
	}

	switch {
	case cfg.MaxStaleness < 0, cfg.Wait < 0, cfg.Grace < 0, cfg.KeyRefresh < 0, cfg.MinBackoff < 0, cfg.MaxBackoff < 0:
		return nil, errors.New("follow: Config durations must not be negative (zero selects the default)")
	}
	if cfg.MaxStaleness == 0 {
		cfg.MaxStaleness = DefaultMaxStaleness
	}
	if cfg.Wait == 0 {
		cfg.Wait = min(DefaultWait, cfg.MaxStaleness*2/5).Truncate(time.Millisecond)
		if cfg.Wait == 0 {
			return nil, fmt.Errorf("follow: Config.MaxStaleness (%v) is too short to long-poll within; use at least 100ms (seconds in production)", cfg.MaxStaleness)
		}
	}
	if 2*cfg.Wait >= cfg.MaxStaleness {
		return nil, fmt.Errorf("follow: Config.Wait (%v) must be shorter than half of Config.MaxStaleness (%v), or a quiet, healthy follower reports stale between long polls; leave Wait zero for min(25s, MaxStaleness*2/5)",
			cfg.Wait, cfg.MaxStaleness)
	}
	if cfg.Grace == 0 {
		cfg.Grace = max(min(DefaultGrace, cfg.MaxStaleness/10), time.Millisecond)
	}
	if cfg.KeyRefresh == 0 {
		cfg.KeyRefresh = DefaultKeyRefresh
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		return nil, fmt.Errorf("follow: Config.MaxBackoff (%v) is below Config.MinBackoff (%v)", cfg.MaxBackoff, cfg.MinBackoff)
	}
	f := &Follower{
		cfg:       cfg,
		revURL:    u.JoinPath("v1", "revocations").String(),
		keysURL:   u.JoinPath("v1", "keys").String(),
		authority: u.Redacted(),
		client:    cfg.HTTPClient,
		now:       cfg.Now,
		changed:   make(chan struct{}),
	}
	if f.client == nil {
		f.transport = http.DefaultTransport.(*http.Transport).Clone()
		f.client = &http.Client{Transport: f.transport}
	} else if t := f.client.Timeout; t != 0 && t < cfg.Wait+cfg.Grace {
		return nil, fmt.Errorf("follow: Config.HTTPClient.Timeout (%v) is shorter than Wait+Grace (%v): every long poll would time out; raise it or set it to 0",
			t, cfg.Wait+cfg.Grace)
	}
	if len(cfg.TrustAnchors) == 0 && !cfg.InsecureNoTrustAnchor {
		return nil, errors.New("follow: Config.TrustAnchors is empty: pin the authority's root public key (`mandate authority serve` prints it; " +
			"the CLI takes it as --trust-key), so that a man in the middle cannot install keys; " +
			"only for a demo on one machine, set Config.InsecureNoTrustAnchor instead")
	}
	cfg.TrustAnchors = slices.Clone(cfg.TrustAnchors)
	for i, k := range cfg.TrustAnchors {
		if len(k.Key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("follow: Config.TrustAnchors[%d] is not an Ed25519 public key (%d bytes, want 32)", i, len(k.Key))
		}
		cfg.TrustAnchors[i].ID = token.KeyID(k.Key)
	}
	f.cfg.TrustAnchors = cfg.TrustAnchors
	if f.now == nil {
		f.now = time.Now
	}
	if cfg.Logger != nil {
		f.log = *cfg.Logger
	} else {
		f.log = zerolog.Nop()
	}
	f.created = f.now()
	anchors := make(map[uint32]ed25519.PublicKey, len(cfg.TrustAnchors))
	for _, k := range cfg.TrustAnchors {
		anchors[k.ID] = k.Key
	}
	f.trusted.Store(&anchors)
	return f, nil
}

// Run follows the authority until ctx is done, then returns nil. It
// resumes after Store.LastSeq (or where an earlier Run or SyncOnce of this
// Follower stopped), long-polls for new revocations, applies each batch to
// the Store, and reconnects with backoff after any failure. It also
// refreshes the keys (which check the feed's signatures, and are installed
// in Config.Keys when set), first at once and then every KeyRefresh. Every goroutine Run starts has ended when it returns.
//
// Run returns ErrRunning at once if another Run or SyncOnce of this
// Follower is in progress. Errors from the authority are not returned:
// they are logged, kept in Status, and make Fresh fail once the replica is
// older than MaxStaleness.
func (f *Follower) Run(ctx context.Context) error {
	if !f.pollMu.TryLock() {
		return ErrRunning
	}
	defer f.pollMu.Unlock()
	defer f.closeIdle()
	f.initCursor()
	var wg sync.WaitGroup
	wg.Go(func() { f.keyLoop(ctx) })
	f.followLoop(ctx)
	wg.Wait()
	return nil
}

// Start fetches the keys, then runs the follower
// in the background and waits, for as long as ctx allows, until it has
// synced the revocation log once, so that a
// server can start serving with a fresh replica. stop ends the follower and
// returns once Run has returned; when Start fails the follower is already
// stopped. ctx bounds only the wait: the follower runs until stop.
func (f *Follower) Start(ctx context.Context) (stop func(), err error) {
	// Run fetches keys on a goroutine of its own, in parallel with the
	// log: fetch them first so that a started follower trusts them.
	if err := f.RefreshKeys(ctx); err != nil {
		return nil, fmt.Errorf("follow: no keys from the authority at %s: %w", f.authority, err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(rctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	if err := f.WaitSeq(ctx, 0); err != nil {
		stop()
		return nil, fmt.Errorf("follow: no first sync with the authority at %s: %w", f.authority, err)
	}
	return stop, nil
}

// SyncOnce catches up once: it refreshes the keys and fetches the
// revocation log, without long-polling, until the
// authority has nothing newer. It is for tools that check a token and
// exit, such as `mandate verify --authority URL`, and for a server that
// wants to be current before it starts serving (call it, then go Run).
// Afterwards Fresh succeeds for MaxStaleness.
//
// SyncOnce makes no retries: it returns the first error. It returns
// ErrRunning if Run or another SyncOnce of this Follower is in progress.
func (f *Follower) SyncOnce(ctx context.Context) error {
	if !f.pollMu.TryLock() {
		return ErrRunning
	}
	defer f.pollMu.Unlock()
	defer f.closeIdle()
	f.initCursor()
	// A failed key refresh keeps the keys trusted so far; the log is
	// still synced with them.
	keyErr := f.RefreshKeys(ctx)
	return errors.Join(keyErr, f.catchUp(ctx))
}

// Fresh returns nil when the follower's replica is fresh: a request sent at
// most MaxStaleness ago (by Config.Now) got a valid answer, which was
// applied to the Store, so every revocation the authority logged more than
// MaxStaleness ago is in the Store. Otherwise it returns an error matching
// ErrStale (or ErrNotSynced before the first successful sync) that says how
// old the replica is and what the last error was. Plug it into the
// verifier's Config.Fresh so that decisions fail closed when the follower
// falls behind. It is cheap (one clock read) and safe for concurrent use.
func (f *Follower) Fresh() error {
	last := f.lastOK.Load()
	if last == nil {
		return f.notSyncedError()
	}
	age := f.now().Sub(*last)
	if age <= f.cfg.MaxStaleness {
		return nil
	}
	return f.staleError(age)
}

func (f *Follower) notSyncedError() error {
	f.mu.Lock()
	lastErr := f.lastErr
	f.mu.Unlock()
	if lastErr != nil {
		return fmt.Errorf("%w %s (last error: %v); decisions are denied until the follower reaches it", ErrNotSynced, f.authority, lastErr)
	}
	return fmt.Errorf("%w %s; decisions are denied until the first sync (start Run, or call SyncOnce)", ErrNotSynced, f.authority)
}

func (f *Follower) staleError(age time.Duration) error {
	f.mu.Lock()
	lastErr := f.lastErr
	f.mu.Unlock()
	msg := fmt.Sprintf("the last successful sync with %s started %v ago, over the %v bound", f.authority, age.Round(time.Millisecond), f.cfg.MaxStaleness)
	if lastErr != nil {
		return fmt.Errorf("%w: %s (last error: %v); decisions are denied until the follower reaches the authority again", ErrStale, msg, lastErr)
	}
	return fmt.Errorf("%w: %s; decisions are denied until the follower syncs again (is Run running?)", ErrStale, msg)
}

// Staleness returns the age of the replica: the time since the follower
// sent the last request that succeeded (a valid answer, applied to the
// Store; an empty long poll counts). The replica holds every revocation
// logged before then. A quiet, healthy follower's staleness climbs to
// about 2*Wait and drops back to about Wait as each long poll returns.
// Before the first sync it is the time since New. It never is negative.
func (f *Follower) Staleness() time.Duration {
	since := f.created
	if last := f.lastOK.Load(); last != nil {
		since = *last
	}
	return max(f.now().Sub(since), 0)
}

// WaitSeq blocks until the follower has synced at least once and its
// position in the log is at or past seq, or ctx is done. WaitSeq(ctx, 0)
// waits for the first successful sync, which a server can use to become
// ready. A position drops back to 0 when the authority's log restarts.
func (f *Follower) WaitSeq(ctx context.Context, seq uint64) error {
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		if f.lastOK.Load() != nil && f.cursor.Load() >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("follow: waiting for seq %d (at %d): %w", seq, f.cursor.Load(), ctx.Err())
		case <-ch:
		}
	}
}

// Status is a snapshot of a Follower, for health checks and metrics.
type Status struct {
	// Authority is Config.Authority, with any password redacted.
	Authority string
	// Seq is the follower's position in the log: the `after` of its next
	// request. It can be below Store.LastSeq after the authority's log
	// restarted (the Store's LastSeq never decreases).
	Seq uint64
	// Entries is Store.Len(): the revocation IDs held.
	Entries int
	// Synced reports that a sync has succeeded at least once.
	Synced bool
	// Fresh reports Fresh() == nil.
	Fresh bool
	// LastSync is when the last request that succeeded was sent (zero
	// before the first), and Staleness the time since (see Staleness).
	LastSync  time.Time
	Staleness time.Duration
	// Connected reports that the last request succeeded: the follower is
	// most likely waiting in a long poll.
	Connected bool
	// LastError is the last failure and LastErrorAt when it happened; it
	// is kept after the follower recovers. Failures counts consecutive
	// failures, 0 when connected.
	LastError   error
	LastErrorAt time.Time
	Failures    int
	// Resyncs counts the restarts of the authority's log that made the
	// follower start over from seq 0.
	Resyncs uint64
	// Applied counts the entries applied to the Store by this Follower.
	Applied uint64
	// KeysRefreshed is when the keys were last fetched and installed,
	// Keys the trusted keys installed then, and KeyError the last key
	// refresh failure (nil once a refresh succeeds).
	KeysRefreshed time.Time
	Keys          []token.PublicKey
	KeyError      error
}

// Status returns a snapshot of the follower's state.
func (f *Follower) Status() Status {
	s := Status{
		Authority: f.authority,
		Seq:       f.cursor.Load(),
		Entries:   f.cfg.Store.Len(),
		Staleness: f.Staleness(),
		Fresh:     f.Fresh() == nil,
	}
	if last := f.lastOK.Load(); last != nil {
		s.Synced, s.LastSync = true, *last
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s.Connected = f.connected
	s.LastError, s.LastErrorAt, s.Failures = f.lastErr, f.lastErrAt, f.failures
	s.Resyncs, s.Applied = f.resyncs, f.applied
	s.KeysRefreshed, s.Keys, s.KeyError = f.keysAt, slices.Clone(f.keys), f.keyErr
	return s
}

// RefreshKeys fetches /v1/keys and, if the whole response is valid and
// at least one published key is a trust anchor or endorsed through one,
// installs those keys with Config.Keys.Set (when set) and trusts them to
// sign the feed; otherwise the installed keys are kept and the error is
// returned (and kept in Status; ErrTampered when no published key is
// reachable from the anchors). Run, Start and SyncOnce call it, and so does
// a feed page signed by a key not yet trusted; call it yourself to pick up
// a rotation at once, but not once per failed token: it is not
// rate-limited.
func (f *Follower) RefreshKeys(ctx context.Context) error {
	f.keysMu.Lock()
	defer f.keysMu.Unlock()
	ks, err := f.fetchKeys(ctx)
	var reachable map[uint32]ed25519.PublicKey
	if err == nil {
		reachable, err = f.endorsed(&ks)
	}
	now := f.now()
	f.mu.Lock()
	if err != nil {
		f.keyErr = err
		f.mu.Unlock()
		if ctx.Err() == nil {
			f.log.Warn().Err(err).Str("authority", f.authority).Msg("follow: key refresh failed; keeping the installed keys")
		}
		return err
	}
	changed := !slices.EqualFunc(f.keys, ks.keys, samePublicKey)
	f.keys, f.keysAt, f.keyErr = ks.keys, now, nil
	f.trusted.Store(&reachable)
	if f.cfg.Keys != nil {
		f.cfg.Keys.Set(ks.keys...)
	}
	f.mu.Unlock()
	if changed {
		ids := make([]uint32, len(ks.keys))
		for i, k := range ks.keys {
			ids[i] = k.ID
		}
		ev := f.log.Info().Str("authority", f.authority).Uints32("key_ids", ids)
		if len(ks.skipped) > 0 {
			ev = ev.Strs("skipped", ks.skipped)
		}
		ev.Msg("follow: trusted keys changed")
	}
	return nil
}

// endorsed keeps, of the keys in ks, those reachable from the trust
// anchors through the endorsements in ks (see Config.TrustAnchors), and
// returns every reachable key. With no anchors (InsecureNoTrustAnchor),
// every published key is an anchor.
func (f *Follower) endorsed(ks *keySet) (map[uint32]ed25519.PublicKey, error) {
	anchors := f.cfg.TrustAnchors
	if len(anchors) == 0 {
		anchors = ks.keys
	}
	reachable := token.EndorsedKeys(anchors, ks.endorsements)
	kept := ks.keys[:0]
	for _, k := range ks.keys {
		if pub, ok := reachable[k.ID]; ok && pub.Equal(k.Key) {
			kept = append(kept, k)
			continue
		}
		ks.skipped = append(ks.skipped, fmt.Sprintf("key %d: neither a trust anchor nor endorsed through one", k.ID))
	}
	ks.keys = kept
	if len(kept) == 0 {
		return nil, fmt.Errorf("%w: none of the keys the authority publishes is a trust anchor or endorsed through one (%s); keeping the previous key set — "+
			"check Config.TrustAnchors (--trust-key) against the key `mandate authority serve` printed", ErrTampered, strings.Join(ks.skipped, "; "))
	}
	return reachable, nil
}

// trustedKey returns a key that may sign feed pages.
func (f *Follower) trustedKey(id uint32) (ed25519.PublicKey, bool) {
	m := f.trusted.Load()
	if m == nil {
		return nil, false
	}
	k, ok := (*m)[id]
	return k, ok
}

func samePublicKey(a, b token.PublicKey) bool {
	return a.ID == b.ID && a.Key.Equal(b.Key) && a.NotAfter.Equal(b.NotAfter)
}

func (f *Follower) fetchKeys(ctx context.Context) (keySet, error) {
	ctx, cancel := context.WithTimeout(ctx, KeysTimeout)
	defer cancel()
	resp, err := f.get(ctx, f.keysURL)
	if err != nil {
		return keySet{}, fmt.Errorf("follow: GET /v1/keys: %w", err)
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return keySet{}, authorityError("/v1/keys", resp)
	}
	return decodeKeys(resp.Body)
}

func (f *Follower) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	return f.client.Do(req)
}

// drainClose reads a little of what is left of a body, so that the
// connection can be reused, and closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 4<<10))
	_ = body.Close()
}

// initCursor sets the position from the Store the first time. Called with
// pollMu held.
func (f *Follower) initCursor() {
	if !f.cursorInit {
		f.cursor.Store(f.cfg.Store.LastSeq())
		f.cursorHash = slices.Clone(f.cfg.Store.LastHash())
		f.cursorInit = true
	}
}

func (f *Follower) closeIdle() {
	if f.transport != nil {
		f.transport.CloseIdleConnections()
	}
}

// roundResult is what one request brought.
type roundResult struct {
	entries int
	reset   bool
}

// round makes one /v1/revocations request for the entries after the
// cursor, validates the response and applies it. Called with pollMu held.
// Nothing is applied and the cursor does not move unless the whole
// response is valid and the Store accepted it.
func (f *Follower) round(ctx context.Context, wait time.Duration) (roundResult, error) {
	after := f.cursor.Load()
	sent := f.now() // taken before the request: the answer is at least this fresh
	// Two deadlines: the answer must start within Wait+Grace (that is how
	// a dead authority or a dropped network is noticed mid-poll), and its
	// body must then arrive within BodyTimeout.
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	noAnswer := fmt.Errorf("no answer within Wait+Grace (%v): %w", wait+f.cfg.Grace, context.DeadlineExceeded)
	timer := time.AfterFunc(wait+f.cfg.Grace, func() { cancel(noAnswer) })
	// A fresh nonce per request: the signed answer must cover it, so a
	// replayed answer cannot pass for a new one (freshness).
	var nonce [16]byte
	_, _ = crand.Read(nonce[:])
	u := f.revURL + "?after=" + strconv.FormatUint(after, 10) + "&wait=" + wait.String() + "&nonce=" + hex.EncodeToString(nonce[:])
	resp, err := f.get(rctx, u)
	timer.Stop()
	if err != nil {
		return roundResult{}, fmt.Errorf("follow: GET /v1/revocations: %w", causeOf(rctx, ctx, err))
	}
	defer drainClose(resp.Body)
	slowBody := fmt.Errorf("response body not read within %v: %w", BodyTimeout, context.DeadlineExceeded)
	timer = time.AfterFunc(BodyTimeout, func() { cancel(slowBody) })
	defer timer.Stop()
	if resp.StatusCode != http.StatusOK {
		ae := authorityError("/v1/revocations", resp)
		if ae.StatusCode == http.StatusConflict && ae.Code == codeSequenceAhead {
			f.restart(after, ae.Description)
			return roundResult{reset: true}, nil
		}
		return roundResult{}, ae
	}
	b, err := decodeRevocations(resp.Body, after)
	if err != nil {
		return roundResult{}, causeOf(rctx, ctx, err)
	}
	if b.reset {
		f.restart(after, fmt.Sprintf("it answered next=%d", b.next))
		return roundResult{reset: true}, nil
	}
	err = verifyPage(after, nonce[:], &b, f.cursorHash, f.trustedKey)
	if errors.Is(err, errUnknownKey) {
		// The authority may have rotated since our last key refresh.
		if kerr := f.RefreshKeys(ctx); kerr == nil {
			err = verifyPage(after, nonce[:], &b, f.cursorHash, f.trustedKey)
		}
	}
	if err != nil {
		return roundResult{}, fmt.Errorf("follow: GET /v1/revocations refused, nothing applied: %w", err)
	}
	if len(b.entries) > 0 {
		if err := f.cfg.Store.Add(ctx, b.entries...); err != nil {
			return roundResult{}, fmt.Errorf("follow: storing %d revocations (seq %d to %d): %w",
				len(b.entries), b.entries[0].Seq, b.entries[len(b.entries)-1].Seq, err)
		}
	}
	if n := len(b.entries); n > 0 {
		f.cursorHash = b.entries[n-1].Hash
	}
	f.synced(sent, b.next, len(b.entries))
	return roundResult{entries: len(b.entries)}, nil
}

// codeSequenceAhead is the error code with which the authority answers
// (409) a request for the entries after a sequence number it never issued.
const codeSequenceAhead = "sequence_ahead"

// restart moves the cursor back to 0 after the authority said its log does
// not reach after: its log was reset, or it is another authority. This is
// not a sync: the entries of the new log are still to be fetched, so
// freshness waits for the next round.
func (f *Follower) restart(after uint64, detail string) {
	f.mu.Lock()
	f.resyncs++
	f.mu.Unlock()
	f.cursor.Store(0)
	f.cursorHash = nil
	f.log.Error().Str("authority", f.authority).Uint64("after", after).Str("detail", detail).
		Msg("follow: the authority's revocation log does not reach our position (it was reset, or this is another authority); resyncing from seq 0 — IDs already held stay revoked")
}

// causeOf adds the reason a request's context was canceled by one of our
// own timers to err (the HTTP client only reports "context canceled").
func causeOf(rctx, parent context.Context, err error) error {
	if parent.Err() == nil && rctx.Err() != nil {
		if cause := context.Cause(rctx); cause != nil && !errors.Is(err, cause) {
			return fmt.Errorf("%w (%w)", cause, err)
		}
	}
	return err
}

// synced records a successful round whose request was sent at sent.
func (f *Follower) synced(sent time.Time, next uint64, n int) {
	f.cursor.Store(next)
	first := f.lastOK.Load() == nil
	f.lastOK.Store(&sent)
	f.mu.Lock()
	failures := f.failures
	f.connected, f.failures = true, 0
	f.applied += uint64(n)
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	switch {
	case first:
		f.log.Info().Str("authority", f.authority).Uint64("seq", next).Int("entries", n).Msg("follow: synced with the authority")
	case failures > 0:
		f.log.Info().Str("authority", f.authority).Uint64("seq", next).Int("entries", n).Int("failures", failures).Msg("follow: reconnected to the authority")
	case n > 0:
		f.log.Debug().Uint64("seq", next).Int("entries", n).Msg("follow: applied revocations")
	}
}

// fail records a failed round; retryIn is the backoff before the next
// attempt (0: no retry).
func (f *Follower) fail(err error, retryIn time.Duration) {
	now := f.now()
	f.mu.Lock()
	f.connected = false
	f.lastErr, f.lastErrAt = err, now
	f.failures++
	n := f.failures
	f.mu.Unlock()
	stale := f.Fresh() != nil
	ev := f.log.Warn()
	if stale {
		ev = f.log.Error()
	}
	ev = ev.Err(err).Str("authority", f.authority).Int("failures", n).Bool("stale", stale).Float64("staleness_ms", float64(f.Staleness())/float64(time.Millisecond))
	if retryIn > 0 {
		ev.Float64("retry_in_ms", float64(retryIn)/float64(time.Millisecond)).Msg("follow: revocation sync failed; retrying")
	} else {
		ev.Msg("follow: revocation sync failed")
	}
}

// followLoop is Run's revocation loop. Called with pollMu held.
func (f *Follower) followLoop(ctx context.Context) {
	bo := backoff{min: f.cfg.MinBackoff, max: f.cfg.MaxBackoff}
	// live: the last round succeeded, so the next may long-poll. After a
	// start, a failure or a log restart the next round asks with wait=0,
	// so that freshness is established at once even when the log is quiet.
	live := false
	for ctx.Err() == nil {
		var wait time.Duration
		if live {
			wait = f.cfg.Wait
		}
		start := time.Now()
		res, err := f.round(ctx, wait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			live = false
			d := bo.next()
			f.fail(err, d)
			if !sleep(ctx, d) {
				return
			}
			continue
		}
		bo.reset()
		live = !res.reset
		if wait > 0 && res.entries == 0 && !res.reset && time.Since(start) < f.cfg.MinBackoff {
			// An empty long poll that came back at once: this authority
			// does not hold long polls. Pace the loop rather than spin.
			if !sleep(ctx, f.cfg.MinBackoff) {
				return
			}
		}
	}
}

// catchUp is SyncOnce's loop. Called with pollMu held.
func (f *Follower) catchUp(ctx context.Context) error {
	for range MaxCatchUpRounds {
		res, err := f.round(ctx, 0)
		if err != nil {
			if ctx.Err() == nil {
				f.fail(err, 0)
			}
			return err
		}
		if res.entries == 0 && !res.reset {
			return nil
		}
	}
	return fmt.Errorf("follow: still behind the authority after %d requests (at seq %d); call SyncOnce again",
		MaxCatchUpRounds, f.cursor.Load())
}

// keyLoop is Run's key refresher.
func (f *Follower) keyLoop(ctx context.Context) {
	bo := backoff{min: f.cfg.MinBackoff, max: f.cfg.MaxBackoff}
	for {
		d := f.cfg.KeyRefresh
		if err := f.RefreshKeys(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			d = min(bo.next(), d)
		} else {
			bo.reset()
		}
		if !sleep(ctx, d) {
			return
		}
	}
}

// backoff computes reconnection delays: exponential from min to max, with
// "equal jitter" (a delay between half and all of the current step), so
// that followers that lost the authority together do not come back
// together.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	half := b.cur / 2
	if half == 0 {
		return b.cur
	}
	return half + rand.N(b.cur-half)
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits for d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
