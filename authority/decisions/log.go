package decisions

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mandate-dev/mandate/authority/kv"
	"github.com/mandate-dev/mandate/token"
)

// Errors, matched with errors.Is. The authority maps them to statuses.
var (
	// ErrInvalid: a batch or query the log refuses (400).
	ErrInvalid = errors.New("invalid request")
	// ErrForbidden: the reader's scope does not cover the query (403).
	ErrForbidden = errors.New("forbidden")
	// ErrCorrupt: the stored chain failed its integrity check; nothing is
	// served or accepted until the data is restored (503).
	ErrCorrupt = errors.New("the decision log failed its integrity check")
	// ErrBusy: too many live streams (503).
	ErrBusy = errors.New("too many live decision streams")
	// ErrClosed: the log is shutting down (503).
	ErrClosed = errors.New("the decision log is closed")
	// ErrEmpty: there is no decision to sign a head for (404).
	ErrEmpty = errors.New("the decision log is empty")
)

// Config configures a Log. Sign is required.
type Config struct {
	// Retention keeps a decision this long after it was received
	// (default DefaultRetention); storage drops it then (kv expiry).
	Retention time.Duration
	// SignInterval is how often the chain's head is signed when it moved
	// (default DefaultSignInterval; negative: only on demand).
	SignInterval time.Duration
	// Sign signs msg with the authority's active root key and returns
	// the key's ID and the Ed25519 signature.
	Sign func(msg []byte) (keyID uint32, sig []byte)
	// MaxSubscribers bounds the live streams (default
	// DefaultMaxSubscribers).
	MaxSubscribers int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives operational events (default: none).
	Logger *zerolog.Logger
}

// Decision is one stored decision: the verifier's record, where it stands
// in the chain, when the authority received it and from which verifier.
type Decision struct {
	Seq        uint64    `json:"seq"`
	ReceivedAt time.Time `json:"received_at"`
	// Verifier is the name of the verifier credential that shipped it.
	Verifier string `json:"verifier"`
	token.DecisionRecord
}

// stored is the record whose exact bytes the chain hashes.
type stored struct {
	ReceivedAt time.Time            `json:"received_at"`
	Verifier   string               `json:"verifier"`
	Decision   token.DecisionRecord `json:"decision"`
}

// Stats are the log's counters.
type Stats struct {
	Ingested    atomic.Uint64 // decisions stored
	Batches     atomic.Uint64 // storage transactions committed
	Subscribers atomic.Int64  // live streams now
	Lagged      atomic.Uint64 // live streams ended for falling behind
}

// Log is the decision log on one kv namespace. It is safe for concurrent
// use.
//
// Storage layout (keys of the namespace):
//
//	e/SEQ                  prev hash (32) ‖ hash (32) ‖ record (JSON)
//	h/SEQ                  a signed Head (JSON)
//	m/head                 seq (8) ‖ hash (32) of the last decision
//	t/TIME/SEQ             time index: one byte, '1' allowed, '0' denied
//	s/SESSION/TIME/SEQ     session index (same value)
//	a/AGENT/TIME/SEQ       agent index
//	o/ORG/TIME/SEQ         org index
//
// SEQ and TIME (the verifier's decision time, Unix nanoseconds) are 16
// hex digits, so keys sort by them; SESSION, AGENT and ORG are escaped
// (indexValue). Every key of a decision expires with it.
type Log struct {
	kv  kv.KV
	cfg Config
	now func() time.Time
	log zerolog.Logger

	reqs       chan *appendReq
	stop       chan struct{}
	writerDone chan struct{}
	wg         sync.WaitGroup
	closeOnce  sync.Once

	mu           sync.RWMutex // guards the head and lastReceived
	headSeq      uint64
	headHash     []byte
	headRev      uint64 // kv revision of m/head (0: absent)
	lastReceived time.Time
	lastSigned   atomic.Uint64

	corrupt atomic.Pointer[error]

	subs subscribers

	stats Stats
}

const (
	pEntry   = "e/"
	pHead    = "h/"
	kHead    = "m/head"
	pTime    = "t/"
	pSession = "s/"
	pAgent   = "a/"
	pOrg     = "o/"
)

func seqKey(prefix string, seq uint64) string { return prefix + fmt.Sprintf("%016x", seq) }

// Open opens the log on store and checks its chain: every stored decision
// must match its hash and link to the one before it, and the last one must
// be the stored head. A log that fails is still returned, refusing to serve
// (Corrupt says why); an error is returned only when storage fails.
func Open(ctx context.Context, store kv.KV, cfg Config) (*Log, error) {
	if cfg.Sign == nil {
		return nil, errors.New("decisions: Config.Sign is required")
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.SignInterval == 0 {
		cfg.SignInterval = DefaultSignInterval
	}
	if cfg.MaxSubscribers <= 0 {
		cfg.MaxSubscribers = DefaultMaxSubscribers
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Log{
		kv: store, cfg: cfg, now: cfg.Now, log: zerolog.Nop(),
		reqs: make(chan *appendReq, 256), stop: make(chan struct{}), writerDone: make(chan struct{}),
		headHash: make([]byte, HashSize),
	}
	l.subs.max = cfg.MaxSubscribers
	l.subs.stats = &l.stats
	if cfg.Logger != nil {
		l.log = *cfg.Logger
	}
	if err := l.load(ctx); err != nil {
		if !errors.Is(err, ErrCorrupt) {
			return nil, fmt.Errorf("decisions: %w", err)
		}
		l.markCorrupt(err)
	}
	l.wg.Add(1)
	go l.writer()
	if cfg.SignInterval > 0 {
		l.wg.Add(1)
		go l.signer()
	}
	return l, nil
}

// load reads the head and checks the whole chain. Another authority
// replica on the same store may append while it runs: decisions beyond the
// head read first are checked against the head read after the scan.
func (l *Log) load(ctx context.Context) error {
	h1, err := l.readHead(ctx)
	if err != nil {
		return err
	}
	var prevSeq uint64
	var prevHash []byte
	var bad error
	err = l.kv.Scan(ctx, kv.ScanOptions{Prefix: pEntry}, func(e kv.Entry) bool {
		seq, prev, hash, _, err := decodeEntry(e)
		switch {
		case err != nil:
			bad = err
		case prevHash != nil && seq != prevSeq+1:
			bad = fmt.Errorf("%w: decision %d follows decision %d (a decision was removed or reordered)", ErrCorrupt, seq, prevSeq)
		case prevHash != nil && !bytes.Equal(prev, prevHash):
			bad = fmt.Errorf("%w: decision %d does not chain to decision %d", ErrCorrupt, seq, prevSeq)
		case prevHash == nil && seq == 1 && !bytes.Equal(prev, make([]byte, HashSize)):
			bad = fmt.Errorf("%w: decision 1 does not start the chain", ErrCorrupt)
		}
		if bad != nil {
			return false
		}
		prevSeq, prevHash = seq, hash
		return true
	})
	if err == nil {
		err = bad
	}
	head := h1
	if err == nil && prevSeq > h1.seq {
		head, err = l.readHead(ctx) // appended meanwhile
	}
	switch {
	case err != nil:
	case prevHash == nil:
		// Empty, or every decision expired.
	case prevSeq > head.seq:
		err = fmt.Errorf("%w: decision %d is beyond the head %d (inserted)", ErrCorrupt, prevSeq, head.seq)
	case prevSeq < h1.seq:
		err = fmt.Errorf("%w: the last decision is %d, the head %d: decisions were removed from the end", ErrCorrupt, prevSeq, h1.seq)
	case prevSeq == head.seq && !bytes.Equal(prevHash, head.hash):
		err = fmt.Errorf("%w: the last decision (%d) does not match the stored head: it was altered", ErrCorrupt, prevSeq)
	}
	if err != nil {
		if errors.Is(err, kv.ErrCorrupt) {
			err = fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return err
	}
	l.setHead(head)
	var last uint64
	_ = l.kv.Scan(ctx, kv.ScanOptions{Prefix: pHead, Reverse: true, KeysOnly: true}, func(e kv.Entry) bool {
		last, _ = strconv.ParseUint(e.Key[len(pHead):], 16, 64)
		return false
	})
	l.lastSigned.Store(last)
	return nil
}

// storedHead is m/head as read from the store.
type storedHead struct {
	seq      uint64
	hash     []byte
	rev      uint64
	received time.Time // when the head decision was received
}

// readHead reads m/head and when its decision was received.
func (l *Log) readHead(ctx context.Context) (storedHead, error) {
	h := storedHead{hash: make([]byte, HashSize)}
	e, err := l.kv.Get(ctx, kHead)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return h, nil
	case err != nil:
		return h, err
	case len(e.Value) != 8+HashSize:
		return h, fmt.Errorf("%w: the stored head is %d bytes", ErrCorrupt, len(e.Value))
	}
	h.seq, h.hash, h.rev = binary.BigEndian.Uint64(e.Value), bytes.Clone(e.Value[8:]), e.Rev
	if d, err := l.get(ctx, h.seq); err == nil {
		h.received = d.ReceivedAt
	}
	return h, nil
}

func (l *Log) setHead(h storedHead) {
	l.mu.Lock()
	l.headSeq, l.headHash, l.headRev, l.lastReceived = h.seq, h.hash, h.rev, h.received
	l.mu.Unlock()
}

// decodeEntry reads an e/ entry and checks its record against its hash.
func decodeEntry(e kv.Entry) (seq uint64, prev, hash, rec []byte, err error) {
	seq, perr := strconv.ParseUint(e.Key[len(pEntry):], 16, 64)
	switch {
	case perr != nil || len(e.Key) != len(pEntry)+16:
		return 0, nil, nil, nil, fmt.Errorf("%w: stray key %q", ErrCorrupt, e.Key)
	case len(e.Value) < 2*HashSize:
		return 0, nil, nil, nil, fmt.Errorf("%w: decision %d is truncated", ErrCorrupt, seq)
	}
	prev, hash, rec = e.Value[:HashSize], e.Value[HashSize:2*HashSize], e.Value[2*HashSize:]
	if !bytes.Equal(hash, ChainHash(prev, seq, rec)) {
		return 0, nil, nil, nil, fmt.Errorf("%w: decision %d does not match its hash (it was altered)", ErrCorrupt, seq)
	}
	return seq, prev, hash, rec, nil
}

func (l *Log) markCorrupt(err error) {
	if l.corrupt.CompareAndSwap(nil, &err) {
		l.log.Error().Err(err).Msg("the decision log failed its integrity check; it refuses to serve or ingest until the data folder is restored")
	}
}

// Corrupt returns the integrity failure that stopped the log, or nil.
func (l *Log) Corrupt() error {
	if p := l.corrupt.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *Log) usable() error {
	if err := l.Corrupt(); err != nil {
		return fmt.Errorf("%w; restore the authority's data folder from a backup (export the log first with GET /v1/decisions/export to keep the evidence)", err)
	}
	return nil
}

// Stats returns the log's live counters.
func (l *Log) Stats() *Stats { return &l.stats }

// Head returns the sequence number and chain hash of the last decision.
func (l *Log) Head() (uint64, []byte) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.headSeq, bytes.Clone(l.headHash)
}

// Close stops the writer and the signer and ends the live streams. Batches
// already acknowledged are stored; later ones are refused with ErrClosed.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		l.wg.Wait()
		l.subs.closeAll()
	})
	return nil
}

// AppendResult says where a batch landed.
type AppendResult struct {
	Accepted int    `json:"accepted"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
}

type appendReq struct {
	verifier string
	recs     []token.DecisionRecord
	done     chan error
	first    uint64
}

// Append validates a batch from the named verifier and stores it: every
// decision or none (ErrInvalid names the first bad one). It returns once
// the batch is durable. Concurrent batches are committed together.
func (l *Log) Append(ctx context.Context, verifier string, recs []token.DecisionRecord) (AppendResult, error) {
	if err := l.usable(); err != nil {
		return AppendResult{}, err
	}
	switch {
	case len(recs) == 0:
		return AppendResult{}, fmt.Errorf("%w: the batch holds no decisions; send {\"decisions\": [...]}", ErrInvalid)
	case len(recs) > MaxBatch:
		return AppendResult{}, fmt.Errorf("%w: %d decisions in one batch (at most %d); split it", ErrInvalid, len(recs), MaxBatch)
	case verifier == "":
		return AppendResult{}, fmt.Errorf("%w: no verifier name", ErrInvalid)
	}
	for i := range recs {
		if err := token.ValidateDecision(&recs[i]); err != nil {
			return AppendResult{}, fmt.Errorf("%w: decision %d: %w", ErrInvalid, i, err)
		}
	}
	r := &appendReq{verifier: verifier, recs: recs, done: make(chan error, 1)}
	select {
	case l.reqs <- r:
	case <-l.stop:
		return AppendResult{}, ErrClosed
	case <-ctx.Done():
		return AppendResult{}, ctx.Err()
	}
	var err error
	select {
	case err = <-r.done:
	case <-l.writerDone:
		select {
		case err = <-r.done:
		default:
			return AppendResult{}, ErrClosed
		}
	}
	if err != nil {
		return AppendResult{}, err
	}
	return AppendResult{Accepted: len(recs), FirstSeq: r.first, LastSeq: r.first + uint64(len(recs)) - 1}, nil
}

// writer commits the waiting batches in groups, in order.
func (l *Log) writer() {
	defer l.wg.Done()
	defer close(l.writerDone)
	var carried *appendReq
	for {
		first := carried
		carried = nil
		if first == nil {
			select {
			case first = <-l.reqs:
			case <-l.stop:
				return
			}
		}
		group := []*appendReq{first}
		n := len(first.recs)
	more:
		for n < maxGroup {
			select {
			case r := <-l.reqs:
				if n+len(r.recs) > maxGroup {
					carried = r
					break more
				}
				group = append(group, r)
				n += len(r.recs)
			default:
				break more
			}
		}
		err := l.commit(group, n)
		for _, r := range group {
			r.done <- err
		}
	}
}

// commit chains and stores a group of batches in one transaction. The
// head is updated by compare-and-set: when another authority replica on
// the same store appended first, the group is chained again after the new
// head.
func (l *Log) commit(group []*appendReq, n int) error {
	if err := l.usable(); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		l.mu.RLock()
		h := storedHead{seq: l.headSeq, hash: l.headHash, rev: l.headRev, received: l.lastReceived}
		l.mu.RUnlock()
		ops, pub, head, err := l.chain(group, n, h)
		if err != nil {
			return err
		}
		revs, err := l.kv.Apply(context.Background(), ops...)
		if errors.Is(err, kv.ErrConflict) && attempt < 64 {
			// Another replica appended first: back off a little, at
			// random, so that two replicas do not keep colliding.
			time.Sleep(time.Duration(rand.Int64N(int64(min(attempt+1, 10)) * int64(time.Millisecond))))
			h, err := l.readHead(context.Background())
			if err != nil {
				return fmt.Errorf("store decisions: %w", err)
			}
			l.setHead(h)
			continue
		}
		if err != nil {
			l.log.Error().Err(err).Msg("storing decisions failed")
			return fmt.Errorf("store decisions: %w", err)
		}
		head.rev = revs[len(revs)-1] // m/head is the last operation
		l.setHead(head)
		l.stats.Ingested.Add(uint64(n))
		l.stats.Batches.Add(1)
		l.subs.publish(pub)
		return nil
	}
}

// chain builds the operations that store group after head h (the head's
// compare-and-set last), and the head they lead to.
func (l *Log) chain(group []*appendReq, n int, h storedHead) ([]kv.Op, []*Decision, storedHead, error) {
	seq, prev := h.seq, h.hash
	now := l.now().UTC()
	if now.Before(h.received) {
		now = h.received // expiry follows the chain's order even if the clock steps back
	}
	exp := now.Add(l.cfg.Retention)
	ops := make([]kv.Op, 0, n*opsPerDecision+1)
	pub := make([]*Decision, 0, n)
	for _, r := range group {
		r.first = seq + 1
		for i := range r.recs {
			seq++
			rec := &r.recs[i]
			body, err := json.Marshal(stored{ReceivedAt: now, Verifier: r.verifier, Decision: *rec})
			if err != nil {
				return nil, nil, h, fmt.Errorf("%w: decision %d: %w", ErrInvalid, i, err)
			}
			hash := ChainHash(prev, seq, body)
			val := make([]byte, 0, 2*HashSize+len(body))
			val = append(append(append(val, prev...), hash...), body...)
			ops = append(ops, kv.Put(seqKey(pEntry, seq), val, exp))
			flag := []byte{'0'}
			if rec.Allowed {
				flag[0] = '1'
			}
			tk := timeKey(rec.Time, seq)
			ops = append(ops, kv.Put(pTime+tk, flag, exp))
			if rec.Session != "" {
				ops = append(ops, kv.Put(pSession+indexValue(rec.Session)+"/"+tk, flag, exp))
			}
			if rec.Agent != "" {
				ops = append(ops, kv.Put(pAgent+indexValue(rec.Agent)+"/"+tk, flag, exp))
			}
			if rec.Org != "" {
				ops = append(ops, kv.Put(pOrg+indexValue(rec.Org)+"/"+tk, flag, exp))
			}
			prev = hash
			pub = append(pub, &Decision{Seq: seq, ReceivedAt: now, Verifier: r.verifier, DecisionRecord: *rec})
		}
	}
	val := binary.BigEndian.AppendUint64(make([]byte, 0, 8+HashSize), seq)
	val = append(val, prev...)
	if h.rev == 0 {
		ops = append(ops, kv.Create(kHead, val, time.Time{}))
	} else {
		ops = append(ops, kv.Update(kHead, val, h.rev, time.Time{}))
	}
	return ops, pub, storedHead{seq: seq, hash: prev, received: now}, nil
}

// timeKey is "TIME/SEQ" in 16 hex digits each; times before 1970 sort
// first.
func timeKey(t time.Time, seq uint64) string {
	ns := max(t.UnixNano(), 0)
	return fmt.Sprintf("%016x/%016x", uint64(ns), seq)
}

// indexValue escapes a session, agent or org for an index key: '%', '/'
// and control characters are percent-encoded. A value that would make a
// key too long is replaced by "#" and its SHA-256 (rows are always checked
// against the decision itself, so this loses nothing).
func indexValue(v string) string {
	var b []byte
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '%' || c == '/' || c == '#' || c < 0x20 || c == 0x7f {
			if b == nil {
				b = append(make([]byte, 0, len(v)+8), v[:i]...)
			}
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
			continue
		}
		if b != nil {
			b = append(b, c)
		}
	}
	if b != nil {
		v = string(b)
	}
	if len(v) > 256 {
		s := sha256.Sum256([]byte(v))
		return fmt.Sprintf("#%x", s)
	}
	return v
}

// signer signs the head every SignInterval when it moved.
func (l *Log) signer() {
	defer l.wg.Done()
	t := time.NewTicker(l.cfg.SignInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			seq, _ := l.Head()
			if seq == 0 || seq == l.lastSigned.Load() || l.Corrupt() != nil {
				continue
			}
			if _, err := l.SignHead(context.Background()); err != nil {
				l.log.Error().Err(err).Msg("signing the decision log's head failed")
			}
		}
	}
}

// SignHead signs the current head with the authority's active root key,
// stores the signed head and returns it. It is ErrEmpty on an empty log.
func (l *Log) SignHead(ctx context.Context) (Head, error) {
	if err := l.usable(); err != nil {
		return Head{}, err
	}
	// The store's head, not this replica's memory of it: another replica
	// may have appended since.
	sh, err := l.readHead(ctx)
	if err != nil {
		return Head{}, err
	}
	l.mu.Lock()
	if sh.seq >= l.headSeq {
		l.headSeq, l.headHash, l.headRev, l.lastReceived = sh.seq, sh.hash, sh.rev, sh.received
	}
	h := Head{Seq: l.headSeq, Hash: bytes.Clone(l.headHash), SignedAt: l.now().UTC()}
	exp := l.lastReceived.Add(l.cfg.Retention)
	l.mu.Unlock()
	if h.Seq == 0 {
		return Head{}, fmt.Errorf("%w: no decision to sign", ErrEmpty)
	}
	h.KeyID, h.Signature = l.cfg.Sign(h.SigningBytes())
	raw, err := json.Marshal(h)
	if err != nil {
		return Head{}, err
	}
	if _, err := l.kv.Apply(ctx, kv.Put(seqKey(pHead, h.Seq), raw, exp)); err != nil {
		return Head{}, fmt.Errorf("store the signed head: %w", err)
	}
	if h.Seq > l.lastSigned.Load() {
		l.lastSigned.Store(h.Seq)
	}
	return h, nil
}
