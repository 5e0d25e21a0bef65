package authority

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mandate-dev/mandate/authority/approvals"
	"github.com/mandate-dev/mandate/authority/decisions"
	"github.com/mandate-dev/mandate/authority/people"
	"github.com/mandate-dev/mandate/authority/usage"
	"github.com/mandate-dev/mandate/authority/verifiers"
	"github.com/mandate-dev/mandate/internal/badgerfs"
	"github.com/mandate-dev/mandate/token"
)

// Config configures an Authority. DataDir is required.
type Config struct {
	// DataDir holds the keys (DataDir/keys, mode 0700) and, unless Store
	// is set, the Badger database (DataDir/db). It is created with mode
	// 0700 on first start.
	DataDir string
	// AdminToken, when set, becomes the admin bearer token (the command
	// takes it from MANDATE_ADMIN_TOKEN). It must be at least
	// MinAdminTokenBytes long. When empty, the token set on an earlier
	// start stays valid; on first start one is generated and written once
	// to AdminTokenOutput.
	AdminToken string
	// AdminTokenOutput receives a generated admin token, once (default
	// os.Stderr). It is never logged.
	AdminTokenOutput io.Writer
	// Issuer is the authority's public base URL (such as
	// "https://auth.example.com"), used in discovery metadata and the
	// biscuit web keys. Empty: derived from each request's Host.
	Issuer string
	// MaxWait caps the long-poll wait of the revocation feed (default
	// DefaultMaxWait).
	MaxWait time.Duration
	// Logger receives operational and audit events (default: disabled).
	// Audit events carry "audit": true and an "event" name; none holds a
	// token, secret or key. Refusals are audit events at warn level:
	// "auth_failed" (client_id when the credential names a registered
	// client, and a reason code) and "mint_refused" (client_id, reason).
	// Field names carry their unit: duration_ms, ttl_s, max_ttl_s.
	Logger *zerolog.Logger
	// Now is the authority's clock (default time.Now).
	Now func() time.Time
	// PruneInterval sets how often expired revocations are dropped from
	// memory (default DefaultPruneInterval).
	PruneInterval time.Duration
	// MaxLongPolls caps the feed long-polls held at once (default
	// DefaultMaxLongPolls, which Serve lowers to half its connection cap).
	// A long-poll over the cap is answered at once with what the log holds.
	MaxLongPolls int
	// MaxLongPollsPerClient caps the long-polls one client (remote IP
	// address, IPv6 /64) holds at once (default
	// DefaultMaxLongPollsPerClient).
	MaxLongPollsPerClient int
	// MaxConns caps the connections Serve keeps open at once (default:
	// the RLIMIT_NOFILE soft limit, raised to the hard limit, minus
	// FDReserve). MaxConnsPerClient caps them per client (default
	// DefaultMaxConnsPerClient). At the total cap an idle keep-alive
	// connection is closed to make room; otherwise a connection over a cap
	// is answered 503 and closed. Connections in use are not affected.
	MaxConns, MaxConnsPerClient int
	// DecisionRetention keeps decisions in the decision log this long
	// after they were received (default decisions.DefaultRetention).
	DecisionRetention time.Duration
	// DecisionSignInterval is how often the decision log's head is signed
	// with the active root key when it moved (default
	// decisions.DefaultSignInterval).
	DecisionSignInterval time.Duration
	// Approvals tunes the approvals room (package authority/approvals):
	// request and approval lifetimes, the pending requests per session.
	// Its KV, Keys, Revocations, Sign, Audit and Now are the authority's
	// and need not be set.
	Approvals approvals.Config
	// SyncInterval is how often a replica on a replicated store (several
	// authorities on NATS JetStream) reads the revocations other replicas
	// appended (default DefaultSyncInterval); keys, clients and the admin
	// token hash are reloaded every second. Unused on a store of its own.
	SyncInterval time.Duration
}

// Option configures collaborators of an Authority.
type Option func(*options)

type options struct {
	store Store
}

// WithStore makes the authority keep its state in s instead of Badger in
// DataDir/db. The authority closes s when it is closed.
func WithStore(s Store) Option { return func(o *options) { o.store = s } }

// Authority is the mandate authority: it mints session tokens for admin
// and registered clients within their ceilings, keeps the revocation log
// and its feed, and rotates root keys. It knows nothing of HTTP (see
// NewHandler). It is safe for concurrent use.
type Authority struct {
	cfg   Config
	now   func() time.Time
	log   zerolog.Logger
	store Store
	keys  *keyring
	// replicated is set when the store is shared with other authority
	// replicas (see replicated.go).
	replicated bool
	// people are the named persons (console sign-in, approvers).
	people *people.Directory

	adminHash []byte

	clientsMu sync.RWMutex
	clients   map[string]*ClientRecord

	// The in-memory revocation log, a copy of the store's kept for the
	// feed and for revocation checks. Appended only by the writer, in
	// sequence order.
	logMu   sync.RWMutex
	entries []*LogEntry          // by increasing Seq
	byID    map[string]*LogEntry // revocation ID → entry
	lastSeq uint64
	head    []byte        // chain hash of lastSeq
	changed chan struct{} // closed (and replaced) on every append

	// corrupt is set when the revocation log failed its integrity check
	// after start: the authority then reports not ready and the feed
	// refuses to answer.
	corrupt atomic.Pointer[error]

	// feedSigs caches the signatures of recent feed pages (Ed25519 is
	// deterministic, so a page signed once is signed for every follower
	// that asks for it).
	feedSigMu sync.Mutex
	feedSigs  map[[32]byte][]byte

	// The group-commit writer.
	queue       chan *writeOp
	sendMu      sync.RWMutex // held for reading while sending on queue
	queueClosed bool         // guarded by sendMu
	closing     atomic.Bool
	stopping    chan struct{} // closed when shutdown begins: feed waits end
	stopOnce    sync.Once
	writerWG    sync.WaitGroup
	janitor     chan struct{}
	closeErr    error
	closed      sync.Once

	stats Stats

	usage     *usage.Ledger // usage limits' ledger (authority/usage)
	decisions *decisions.Log
	verifiers *verifiers.Registry
	approvals *approvals.Room
}

// Stats are the authority's counters, exported as Prometheus metrics.
type Stats struct {
	Mints         atomic.Uint64 // tokens minted
	Revocations   atomic.Uint64 // new revocation log entries
	FeedFollowers atomic.Int64  // feed requests currently waiting
	Batches       atomic.Uint64 // storage batches committed
	ConnsRefused  atomic.Uint64 // connections Serve refused over a connection cap
}

const metaAdminHash = "admin_token_sha256"

// adminTokenPrefix starts generated admin tokens, so that they are easy to
// tell from client secrets ("CLIENT_ID.RANDOM").
const adminTokenPrefix = "mda_"

// AdminTokenResetHint says how to replace a lost admin token of the
// authority whose data is in dataDir.
func AdminTokenResetHint(dataDir string) string {
	dir := dataDir
	if strings.ContainsAny(dir, " \t\n'\"$`\\;&|<>()*?[]{}~#!") {
		dir = "'" + strings.ReplaceAll(dir, "'", `'\''`) + "'"
	}
	return fmt.Sprintf("To replace it (if it is lost): stop the authority and run \"mandate authority admin-token --reset --data %s\", or restart it with MANDATE_ADMIN_TOKEN set.", dir)
}

// Open opens (or on first start creates) the authority's state in
// cfg.DataDir: keys, storage, admin token. Call Close when done.
func Open(ctx context.Context, cfg Config, opts ...Option) (*Authority, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("authority: Config.DataDir is required (the command defaults it to ./mandate-data)")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if cfg.PruneInterval <= 0 {
		cfg.PruneInterval = DefaultPruneInterval
	}
	if cfg.AdminTokenOutput == nil {
		cfg.AdminTokenOutput = os.Stderr
	}
	a := &Authority{
		cfg:      cfg,
		now:      cfg.Now,
		log:      zerolog.Nop(),
		clients:  map[string]*ClientRecord{},
		byID:     map[string]*LogEntry{},
		changed:  make(chan struct{}),
		queue:    make(chan *writeOp, WriteQueue),
		stopping: make(chan struct{}),
		janitor:  make(chan struct{}),
		feedSigs: map[[32]byte][]byte{},
	}
	if cfg.Logger != nil {
		a.log = *cfg.Logger
	}
	if cfg.AdminToken != "" && len(cfg.AdminToken) < MinAdminTokenBytes {
		return nil, fmt.Errorf("authority: the admin token (MANDATE_ADMIN_TOKEN) is %d characters; use at least %d random characters, e.g. $(openssl rand -base64 32)", len(cfg.AdminToken), MinAdminTokenBytes)
	}
	// The data folder is created private; an existing one is left as it
	// is (it may be a folder the operator chose, such as "."). The keys
	// and db folders inside are always made private.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("authority: create the data folder: %w", err)
	}
	a.store = o.store
	if a.store == nil {
		s, err := OpenBadgerStore(filepath.Join(cfg.DataDir, "db"), BadgerOptions{Logger: &a.log})
		if err != nil {
			return nil, fmt.Errorf("authority: %w", err)
		}
		a.store = s
	}
	a.replicated = isReplicated(a.store)
	var (
		keys    *keyring
		created bool
		err     error
	)
	if a.replicated {
		// Every replica signs with the same keys: they live in the
		// shared store.
		keys, created, err = openKeyringIn(kvKeys{ns: a.store.Namespace("keys")}, a.now())
	} else {
		keys, created, err = openKeyring(filepath.Join(cfg.DataDir, "keys"), a.now())
	}
	if err != nil {
		_ = a.store.Close()
		return nil, fmt.Errorf("authority: keys: %w", err)
	}
	a.keys = keys
	if created {
		a.log.Info().Str("event", "key_created").Bool("audit", true).Uint32("key_id", keys.current().active.ID).Msg("created the root key")
	}
	a.people = people.NewDirectory(a.store.Namespace("people"), a.now)
	a.usage = usage.New(a.store.Namespace("usage"), a.now)
	if err := a.load(ctx); err != nil {
		_ = a.store.Close()
		return nil, fmt.Errorf("authority: %w", err)
	}
	if err := a.openRooms(ctx); err != nil {
		_ = a.store.Close()
		return nil, fmt.Errorf("authority: %w", err)
	}
	if err := a.openApprovals(); err != nil {
		_ = a.store.Close()
		return nil, fmt.Errorf("authority: %w", err)
	}
	a.writerWG.Add(2)
	go a.writer()
	go a.prune()
	if a.replicated {
		a.writerWG.Add(1)
		go a.syncLoop()
	}
	return a, nil
}

// load reads the admin token hash, clients and revocation log.
func (a *Authority) load(ctx context.Context) error {
	switch h, err := a.store.Meta(ctx, metaAdminHash); {
	case a.cfg.AdminToken != "":
		a.adminHash = hashSecret(a.cfg.AdminToken)
		if err != nil || subtle.ConstantTimeCompare(h, a.adminHash) != 1 {
			if err := a.store.SetMeta(ctx, metaAdminHash, a.adminHash); err != nil {
				return err
			}
			a.log.Info().Str("event", "admin_token_set").Bool("audit", true).Msg("admin token set from the configuration")
		}
	case errors.Is(err, ErrNotFound):
		tok, err := newSecret()
		if err != nil {
			return err
		}
		tok = adminTokenPrefix + tok
		a.adminHash = hashSecret(tok)
		if err := a.store.SetMeta(ctx, metaAdminHash, a.adminHash); err != nil {
			return err
		}
		// Printed once, never logged: the hash alone is stored.
		fmt.Fprintf(a.cfg.AdminTokenOutput, "mandate authority: generated the admin token (shown only this once; keep it in a secret store):\n\n    %s\n\n%s\n", tok, AdminTokenResetHint(a.cfg.DataDir))
		a.log.Info().Str("event", "admin_token_generated").Bool("audit", true).Msg("generated the admin token (printed once to the console)")
	case err != nil:
		return err
	default:
		a.adminHash = h
	}
	clients, err := a.store.Clients(ctx)
	if err != nil {
		return err
	}
	for i := range clients {
		a.clients[clients[i].ID] = &clients[i]
	}
	last, head, err := a.store.ChainHead(ctx)
	if err != nil {
		return err
	}
	now := a.now()
	var prev *LogEntry
	var chainErr error
	err = a.store.Revocations(ctx, 0, func(e LogEntry) bool {
		if chainErr = checkLink(prev, &e, last); chainErr != nil {
			return false
		}
		prev = &e
		if !e.ExpiresAt.IsZero() && now.After(e.ExpiresAt.Add(RetentionGrace)) {
			return true
		}
		ep := &e
		a.entries = append(a.entries, ep)
		a.byID[string(e.ID)] = ep
		return true
	})
	if err == nil {
		err = chainErr
	}
	if err == nil && prev != nil && prev.Seq == last && !bytes.Equal(prev.Hash, head) {
		err = fmt.Errorf("%w: revocation log entry %d does not match the stored chain head", ErrCorrupt, last)
	}
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return fmt.Errorf("%w; the revocation log failed its integrity check, so the authority will not serve it: restore the data folder from a backup", err)
		}
		return err
	}
	a.lastSeq, a.head = last, head
	return nil
}

// checkLink checks a log entry read from the store: its hash covers its
// fields and its previous hash, it follows prev in sequence order, chains to
// it when the two are consecutive, and is within the log (at most last).
// The error wraps ErrCorrupt.
func checkLink(prev, e *LogEntry, last uint64) error {
	switch {
	case e.Seq == 0 || e.Seq > last:
		return fmt.Errorf("%w: revocation log entry %d is beyond the last sequence number %d", ErrCorrupt, e.Seq, last)
	case prev != nil && e.Seq <= prev.Seq:
		return fmt.Errorf("%w: revocation log entry %d follows entry %d", ErrCorrupt, e.Seq, prev.Seq)
	case len(e.PrevHash) != token.ChainHashSize || len(e.Hash) != token.ChainHashSize:
		return fmt.Errorf("%w: revocation log entry %d has no chain hash", ErrCorrupt, e.Seq)
	case !bytes.Equal(e.Hash, token.ChainHash(e.PrevHash, e.Seq, e.ID, e.ExpiresAt)):
		return fmt.Errorf("%w: revocation log entry %d does not match its chain hash (it was altered)", ErrCorrupt, e.Seq)
	case prev != nil && prev.Seq+1 == e.Seq && !bytes.Equal(e.PrevHash, prev.Hash):
		return fmt.Errorf("%w: revocation log entry %d does not chain to entry %d", ErrCorrupt, e.Seq, prev.Seq)
	}
	return nil
}

// markCorrupt records an integrity failure found while serving: the
// authority reports not ready and the feed refuses to answer.
func (a *Authority) markCorrupt(err error) {
	if a.corrupt.CompareAndSwap(nil, &err) {
		a.log.Error().Err(err).Msg("the revocation log failed its integrity check; the feed is refused until the authority is restarted on a good data folder")
	}
}

// Corrupt returns the integrity failure that stopped the authority from
// serving its revocation log, or nil.
func (a *Authority) Corrupt() error {
	if p := a.corrupt.Load(); p != nil {
		return *p
	}
	return nil
}

// Ready reports whether the authority serves: storage open, keys loaded,
// not shutting down.
// A revocation log that failed its integrity check while serving makes it
// not ready (see Corrupt).
func (a *Authority) Ready() bool {
	return !a.closing.Load() && a.keys.current() != nil && a.corrupt.Load() == nil
}

// Stats returns the authority's live counters.
func (a *Authority) Stats() *Stats { return &a.stats }

// Shutdown begins shutting down: feed long-polls return at once and new
// writes are refused. Close calls it; a server calls it first so that
// waiting followers do not hold up a graceful shutdown.
func (a *Authority) Shutdown() {
	a.stopOnce.Do(func() {
		a.closing.Store(true)
		close(a.stopping)
	})
}

// Close shuts down: it refuses new writes, lets queued ones commit, stops
// the writer and closes the store.
func (a *Authority) Close() error {
	a.closed.Do(func() {
		a.Shutdown()
		a.sendMu.Lock() // waits for senders in flight
		a.queueClosed = true
		close(a.queue)
		a.sendMu.Unlock()
		close(a.janitor)
		a.writerWG.Wait()
		_ = a.decisions.Close()
		a.closeErr = a.store.Close()
	})
	return a.closeErr
}

// audit starts an audit event, carrying the request's logger fields (such
// as its request ID) when ctx holds a zerolog logger.
func (a *Authority) audit(ctx context.Context, event string) *zerolog.Event {
	l := zerolog.Ctx(ctx)
	if l == zerolog.DefaultContextLogger || l.GetLevel() == zerolog.Disabled {
		l = &a.log
	}
	return l.Info().Bool("audit", true).Str("event", event)
}

// prune drops expired revocations from memory every PruneInterval.
func (a *Authority) prune() {
	defer a.writerWG.Done()
	t := time.NewTicker(a.cfg.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-a.janitor:
			return
		case <-t.C:
			a.Prune()
			if bs, ok := a.store.(*BadgerStore); ok {
				// Badger creates files world-readable (less the
				// umask); its folder is 0700, and this keeps the
				// files 0600 too.
				badgerfs.RestrictFiles(bs.dir)
			}
		}
	}
}

// Prune drops revocations whose tokens have all expired (plus
// RetentionGrace) from the in-memory log. It runs every PruneInterval;
// tests call it directly. Storage expires them on its own (Badger TTL).
func (a *Authority) Prune() int {
	now := a.now()
	a.logMu.Lock()
	defer a.logMu.Unlock()
	kept := a.entries[:0]
	dropped := 0
	for _, e := range a.entries {
		if !e.ExpiresAt.IsZero() && now.After(e.ExpiresAt.Add(RetentionGrace)) {
			delete(a.byID, string(e.ID))
			dropped++
			continue
		}
		kept = append(kept, e)
	}
	clear(a.entries[len(kept):])
	a.entries = kept
	return dropped
}
