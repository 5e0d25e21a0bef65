package badgerstore

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/rs/zerolog"

	"github.com/mandate-dev/mandate/internal/badgerfs"
	"github.com/mandate-dev/mandate/verifier/revocation"
)

// Key layout. Every revoked ID is stored under entryPrefix+ID with an
// encoded value (see encodeValue); the highest log sequence number stored
// so far is under metaLastSeq, written in the same transaction as the
// entries it covers.
var (
	entryPrefix  = []byte("r/")
	metaLastSeq  = []byte("m/lastseq")
	metaLastHash = []byte("m/lasthash")
)

// ErrCorrupt is wrapped by the error of Open when the store failed an
// integrity check (Badger's checksums of its tables and value log): the
// store refuses to load rather than serve an altered revocation list.
var ErrCorrupt = errors.New("badgerstore: the store is corrupt")

// DefaultMaintenanceInterval is how often a Store purges expired entries
// from memory and runs Badger's value-log garbage collection, unless
// [WithMaintenanceInterval] says otherwise.
const DefaultMaintenanceInterval = time.Minute

// loadBatch is how many entries Open hands to the in-memory set at a time.
const loadBatch = 8192

// Option configures [Open].
type Option func(*config)

type config struct {
	log      zerolog.Logger
	now      func() time.Time
	interval time.Duration
}

// WithLogger sends Badger's warnings and errors, and the store's own, to
// log. Badger's info and debug messages are dropped. Without this option
// nothing is logged.
func WithLogger(log zerolog.Logger) Option {
	return func(c *config) { c.log = log }
}

// WithNow sets the clock used to decide which entries have expired (when
// loading, adding and purging). The default is time.Now; give the store the
// clock the verifier decides with. Badger's own TTL always uses the system
// clock.
func WithNow(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithMaintenanceInterval sets how often expired entries are purged from
// memory and value-log garbage collection runs (default
// [DefaultMaintenanceInterval]). A value ≤ 0 keeps the default.
func WithMaintenanceInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.interval = d
		}
	}
}

// Store is a [revocation.Store] on Badger. Revoked is served from an
// in-memory [revocation.Memory] loaded at Open and updated by every Add
// after its entries are durable. Create one with [Open].
type Store struct {
	db    *badger.DB
	mem   *revocation.Memory
	now   func() time.Time
	log   zerolog.Logger
	chunk int // entries per transaction, within Badger's batch limits

	mu       sync.Mutex // serializes Add, and Add with Close
	closed   atomic.Bool
	lastSeq  atomic.Uint64
	lastHash atomic.Pointer[[]byte]
	dir      string

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var _ revocation.Store = (*Store)(nil)

// Open opens or creates the store in dir and loads its unexpired entries
// into memory before returning.
//
// Badger runs with synced writes (an acknowledged Add is durable), no
// compression (revocation IDs are signatures: random bytes), 16 MiB
// memtables and 16 MiB value-log files, which suits a sidecar.
func Open(dir string, opts ...Option) (*Store, error) {
	cfg := config{log: zerolog.Nop(), now: time.Now, interval: DefaultMaintenanceInterval}
	for _, o := range opts {
		o(&cfg)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("badgerstore: create %q: %w", dir, err)
	}
	dropped, err := badgerfs.DropEmptyMemtables(dir)
	if err != nil {
		return nil, fmt.Errorf("badgerstore: open %q: %w", dir, err)
	}
	if len(dropped) > 0 {
		cfg.log.Warn().Strs("files", dropped).Msg("removed empty memtable files left by a crash (they hold nothing)")
	}
	db, err := badger.Open(badgerOptions(dir, cfg.log))
	if err != nil {
		if isCorruption(err) {
			return nil, corruptError(dir, err)
		}
		// Badger's error says what is wrong, e.g. that another process
		// holds the directory.
		return nil, fmt.Errorf("badgerstore: open %q: %w", dir, err)
	}
	badgerfs.RestrictFiles(dir)
	s := &Store{
		dir:  dir,
		db:   db,
		now:  cfg.now,
		log:  cfg.log,
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	// Each chunk must fit one transaction: at most maxEntryCost bytes per
	// entry, with room for the meta key and Badger's own commit marker.
	const maxEntryCost = 2*10 + len("r/") + revocation.MaxIDLen + valueLen
	s.chunk = int(min(db.MaxBatchCount()-16, (db.MaxBatchSize()-4096)/int64(maxEntryCost)))
	if s.chunk < 1 {
		_ = db.Close()
		return nil, fmt.Errorf("badgerstore: open %q: Badger's batch limit is too small for one entry", dir)
	}
	if err := s.load(); err != nil {
		_ = db.Close()
		if isCorruption(err) {
			return nil, corruptError(dir, err)
		}
		return nil, fmt.Errorf("badgerstore: load %q: %w", dir, err)
	}
	go s.maintain(cfg.interval)
	return s, nil
}

// isCorruption reports whether err is a failed integrity check, Badger's or
// the store's own.
func isCorruption(err error) bool {
	return errors.Is(err, ErrCorrupt) || badgerfs.IsCorruption(err)
}

func corruptError(dir string, err error) error {
	if errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("badgerstore: open %q: %w", dir, err)
	}
	return fmt.Errorf("%w: %q failed its integrity check (%v); the verifier will not serve from it: delete the folder and let the follower sync the revocation log again from the authority", ErrCorrupt, dir, err)
}

// badgerOptions are the Badger settings of a Store in dir; see Open. Badger
// verifies the checksum of every table when it opens it and of every block
// and value-log entry it reads.
func badgerOptions(dir string, log zerolog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithChecksumVerificationMode(options.OnTableAndBlockRead).
		WithVerifyValueChecksum(true).
		WithLogger(badgerLogger{log}).
		WithSyncWrites(true).
		WithCompression(options.None).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithValueLogFileSize(16 << 20).
		WithBlockCacheSize(8 << 20).
		WithNumCompactors(2).
		WithMetricsEnabled(false).
		WithDetectConflicts(false) // Add is serialized by Store.mu
}

// load reads LastSeq and every unexpired entry into a fresh in-memory set.
func (s *Store) load() error {
	s.mem = revocation.NewMemory(revocation.WithNow(s.now))
	return s.db.View(func(txn *badger.Txn) error {
		switch item, err := txn.Get(metaLastSeq); {
		case errors.Is(err, badger.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("reading the last sequence number: %w", err)
		default:
			if err := item.Value(func(v []byte) error {
				if len(v) != 8 {
					return fmt.Errorf("last sequence number is %d bytes, want 8: the directory is not a revocation store or is corrupt", len(v))
				}
				s.lastSeq.Store(binary.BigEndian.Uint64(v))
				return nil
			}); err != nil {
				return err
			}
		}
		switch item, err := txn.Get(metaLastHash); {
		case errors.Is(err, badger.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("reading the last chain hash: %w", err)
		default:
			h, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(h) > 0 {
				s.lastHash.Store(&h)
			}
		}

		return s.loadEntries(txn)
	})
}

// loadBuf is one batch of entries on its way from the iterator to memory;
// ids holds the bytes the entries' IDs point into.
type loadBuf struct {
	entries []revocation.Entry
	ids     []byte
}

// loadEntries iterates over the entries in this goroutine and hands full
// batches to a second goroutine that inserts them into memory: on two cores
// reading Badger and filling the map overlap, which halves the load time.
func (s *Store) loadEntries(txn *badger.Txn) error {
	const buffers = 3
	full := make(chan *loadBuf, buffers)
	free := make(chan *loadBuf, buffers)
	for range buffers {
		free <- &loadBuf{
			entries: make([]revocation.Entry, 0, loadBatch),
			ids:     make([]byte, 0, loadBatch*revocation.MaxIDLen),
		}
	}
	inserted := make(chan error, 1)
	go func() {
		var err error
		for b := range full {
			if err == nil {
				// Memory.Add copies the IDs, so the buffer can be reused.
				err = s.mem.Add(context.Background(), b.entries...)
			}
			b.entries, b.ids = b.entries[:0], b.ids[:0]
			free <- b
		}
		inserted <- err
	}()

	it := txn.NewIterator(badger.IteratorOptions{Prefix: entryPrefix})
	now := s.now()
	cur := <-free
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		id := item.Key()[len(entryPrefix):]
		if len(id) == 0 || len(id) > revocation.MaxIDLen {
			s.log.Warn().Hex("key", item.Key()).Msg("badgerstore: skipping a key that is not a revocation ID")
			continue
		}
		var e revocation.Entry
		if err := item.Value(func(v []byte) error {
			var err error
			e.Seq, e.ExpiresAt, err = decodeValue(v)
			return err
		}); err != nil {
			// Fail closed: keep the ID revoked, for ever.
			s.log.Warn().Err(err).Hex("revocation_id", id).Msg("badgerstore: unreadable entry kept as revoked with no expiry")
			e = revocation.Entry{}
		}
		if e.Expired(now) {
			continue
		}
		off := len(cur.ids)
		cur.ids = append(cur.ids, id...)
		e.ID = cur.ids[off:len(cur.ids):len(cur.ids)]
		cur.entries = append(cur.entries, e)
		if len(cur.entries) == cap(cur.entries) {
			full <- cur
			cur = <-free
		}
	}
	it.Close()
	full <- cur
	close(full)
	return <-inserted
}

// LastHash returns the chain hash of the entry at LastSeq, or nil.
func (s *Store) LastHash() []byte {
	if s.closed.Load() {
		return nil
	}
	if h := s.lastHash.Load(); h != nil {
		return *h
	}
	return nil
}

// hashAt returns the Hash of the last entry of sorted with Seq seq, or nil.
func hashAt(sorted []revocation.Entry, seq uint64) []byte {
	for i := len(sorted) - 1; i >= 0; i-- {
		if sorted[i].Seq == seq {
			return sorted[i].Hash
		}
		if sorted[i].Seq < seq {
			break
		}
	}
	return nil
}

// Add stores entries durably, then makes them visible to Revoked; see the
// [revocation.Store] contract.
//
// Entries are written in Seq order, in as many transactions as Badger's
// batch limit requires; each transaction also records the highest Seq such
// that every entry of the batch up to it is stored, so LastSeq after a
// crash never covers an entry that was not written. Entries already expired
// by the store's clock are not written, and neither are entries that would
// not extend the expiry of one already held.
func (s *Store) Add(ctx context.Context, entries ...revocation.Entry) error {
	if err := revocation.ValidateEntries(entries); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("badgerstore: add canceled before storing anything: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return revocation.ErrClosed
	}
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b revocation.Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	now := s.now()
	for start := 0; start < len(sorted); start += s.chunk {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("badgerstore: add canceled after storing %d of %d entries (LastSeq %d); call Add again with the same batch: %w",
				start, len(sorted), s.lastSeq.Load(), err)
		}
		end := min(start+s.chunk, len(sorted))
		seq := max(s.lastSeq.Load(), coveredSeq(sorted, end))
		write := s.toWrite(sorted[start:end], now)
		if len(write) == 0 && seq == s.lastSeq.Load() {
			continue
		}
		hash := hashAt(sorted[:end], seq)
		if err := s.commit(write, seq, hash); err != nil {
			return fmt.Errorf("badgerstore: storing revocations: %w; %d of %d entries stored (LastSeq %d); call Add again with the same batch",
				err, start, len(sorted), s.lastSeq.Load())
		}
		if err := s.mem.Add(context.Background(), write...); err != nil {
			// Unreachable: mem is closed only by Close, which holds s.mu.
			return fmt.Errorf("badgerstore: revocations stored but not loaded in memory: %w", err)
		}
		// Only now: LastSeq never covers an entry Revoked does not see yet.
		if seq > s.lastSeq.Load() || hash != nil {
			h := slices.Clone(hash)
			s.lastHash.Store(&h)
		}
		s.lastSeq.Store(seq)
	}
	return nil
}

// coveredSeq returns the highest Seq such that every entry of sorted (in
// Seq order) with a Seq up to it is among sorted[:end]. When a chunk ends in
// the middle of entries sharing a Seq, that Seq is not covered yet.
func coveredSeq(sorted []revocation.Entry, end int) uint64 {
	if end == 0 {
		return 0
	}
	if end == len(sorted) || sorted[end].Seq != sorted[end-1].Seq {
		return sorted[end-1].Seq
	}
	next := sorted[end].Seq
	for i := end - 1; i >= 0; i-- {
		if sorted[i].Seq != next {
			return sorted[i].Seq
		}
	}
	return 0
}

// toWrite returns the entries of chunk that change what is stored: not
// expired, and not already held with an expiry at least as late. Repeated
// IDs within the chunk are merged to the latest expiry.
func (s *Store) toWrite(chunk []revocation.Entry, now time.Time) []revocation.Entry {
	write := make([]revocation.Entry, 0, len(chunk))
	index := make(map[string]int, len(chunk))
	for _, e := range chunk {
		if e.Expired(now) {
			continue
		}
		if i, ok := index[string(e.ID)]; ok {
			if later(e.ExpiresAt, write[i].ExpiresAt) {
				write[i] = e
			}
			continue
		}
		if held, ok := s.mem.ExpiresAt(e.ID); ok && !later(e.ExpiresAt, held) {
			continue
		}
		index[string(e.ID)] = len(write)
		write = append(write, e)
	}
	return write
}

// later reports whether expiry a is later than b, the zero Time (never)
// being the latest.
func later(a, b time.Time) bool {
	switch {
	case b.IsZero():
		return false
	case a.IsZero():
		return true
	default:
		return a.After(b)
	}
}

// commit writes entries and, if it moves forward, the last sequence number
// in one synced transaction.
func (s *Store) commit(entries []revocation.Entry, seq uint64, hash []byte) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for _, e := range entries {
		be := badger.NewEntry(entryKey(e.ID), encodeValue(e))
		// Badger's TTL is in whole seconds: round up, so that an entry is
		// never forgotten before its ExpiresAt.
		be.ExpiresAt = badgerExpiry(e.ExpiresAt)
		if err := txn.SetEntry(be); err != nil {
			return err
		}
	}
	if seq > s.lastSeq.Load() {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], seq)
		if err := txn.Set(metaLastSeq, v[:]); err != nil {
			return err
		}
	}
	if seq > s.lastSeq.Load() || hash != nil {
		if err := txn.Set(metaLastHash, slices.Clone(hash)); err != nil {
			return err
		}
	}
	return txn.Commit()
}

// Revoked reports the index of the first revoked id in ids, or -1. It reads
// only memory and does not allocate. A closed store reports 0 for any
// non-empty ids.
func (s *Store) Revoked(ids [][]byte) int {
	return s.mem.Revoked(ids)
}

// ExpiresAt returns the expiry held for id (see
// [revocation.Memory.ExpiresAt]).
func (s *Store) ExpiresAt(id []byte) (time.Time, bool) {
	return s.mem.ExpiresAt(id)
}

// LastSeq returns the highest Seq stored, or 0 once closed.
func (s *Store) LastSeq() uint64 {
	if s.closed.Load() {
		return 0
	}
	return s.lastSeq.Load()
}

// Len returns the number of IDs held in memory, or 0 once closed.
func (s *Store) Len() int {
	return s.mem.Len()
}

// Close stops the background maintenance, waits for a running Add and
// closes the database. Only the first call does this and can return an
// error; concurrent calls wait for it to finish, and they and later calls
// return nil.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		<-s.done
		s.mu.Lock()
		defer s.mu.Unlock()
		_ = s.mem.Close()
		if cerr := s.db.Close(); cerr != nil {
			err = fmt.Errorf("badgerstore: close: %w", cerr)
		}
		badgerfs.RestrictFiles(s.dir)
	})
	return err
}

// maintain purges expired entries from memory and runs value-log GC every
// interval, until Close.
func (s *Store) maintain(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if n := s.mem.Purge(s.now()); n > 0 {
			s.log.Debug().Int("purged", n).Msg("badgerstore: purged expired revocations from memory")
		}
		s.runValueLogGC()
		badgerfs.RestrictFiles(s.dir)
	}
}

// runValueLogGC rewrites value-log files while Badger finds one worth it,
// at most a few per round, stopping early on Close.
func (s *Store) runValueLogGC() {
	for range 4 {
		select {
		case <-s.stop:
			return
		default:
		}
		err := s.db.RunValueLogGC(0.5)
		if err == nil {
			continue
		}
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			s.log.Warn().Err(err).Msg("badgerstore: value-log garbage collection failed")
		}
		return
	}
}

func entryKey(id []byte) []byte {
	k := make([]byte, 0, len(entryPrefix)+len(id))
	return append(append(k, entryPrefix...), id...)
}

// Value layout, version 1: version byte, Seq (8 bytes), ExpiresAt as Unix
// seconds (8 bytes, math.MaxInt64 for never) and nanoseconds (4 bytes), all
// big-endian.
const (
	valueVersion = 1
	valueLen     = 1 + 8 + 8 + 4
)

func encodeValue(e revocation.Entry) []byte {
	v := make([]byte, valueLen)
	v[0] = valueVersion
	binary.BigEndian.PutUint64(v[1:], e.Seq)
	sec, nsec := int64(math.MaxInt64), uint32(0)
	if !e.ExpiresAt.IsZero() {
		sec, nsec = e.ExpiresAt.Unix(), uint32(e.ExpiresAt.Nanosecond())
	}
	binary.BigEndian.PutUint64(v[9:], uint64(sec))
	binary.BigEndian.PutUint32(v[17:], nsec)
	return v
}

func decodeValue(v []byte) (seq uint64, expiresAt time.Time, err error) {
	if len(v) != valueLen || v[0] != valueVersion {
		return 0, time.Time{}, fmt.Errorf("value is not %d bytes of format version %d (%d bytes: %x)",
			valueLen, valueVersion, len(v), v[:min(len(v), 4)])
	}
	seq = binary.BigEndian.Uint64(v[1:])
	sec := int64(binary.BigEndian.Uint64(v[9:]))
	nsec := binary.BigEndian.Uint32(v[17:])
	if sec == math.MaxInt64 {
		return seq, time.Time{}, nil
	}
	if nsec >= 1e9 {
		return 0, time.Time{}, fmt.Errorf("value has %d nanoseconds, want < 1e9", nsec)
	}
	return seq, time.Unix(sec, int64(nsec)), nil
}

// badgerExpiry converts an ExpiresAt to Badger's ExpiresAt: 0 for never,
// else Unix seconds rounded up (and at least 1, since 0 means never).
func badgerExpiry(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return uint64(max(sec, 1))
}

// badgerLogger forwards Badger's warnings and errors to zerolog and drops
// its info and debug messages.
type badgerLogger struct{ log zerolog.Logger }

func (l badgerLogger) Errorf(format string, args ...any) {
	l.log.Error().Str("component", "badger").Msg(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l badgerLogger) Warningf(format string, args ...any) {
	l.log.Warn().Str("component", "badger").Msg(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}
