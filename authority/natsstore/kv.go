// Package natsstore keeps the authority's state on NATS JetStream, so that
// several authority processes can run at once with no single point of
// failure: one replicated stream (replication 3 in production) holds every
// kv namespace, and authority.NewKVStore turns it into the authority's
// Store. Every write is acknowledged by a quorum of the stream's replicas
// before the API acknowledges it; compare-and-set (redeeming an approval,
// claiming a session, appending to the revocation log) is the stream's
// expected-last-subject-sequence check, and a batch of writes is one
// atomic batch publish, applied whole or not at all.
//
// # Layout
//
// The stream (default name MANDATE) takes the subjects mandate.kv.>. A key
// KEY of namespace NS is the subject mandate.kv.NS.SEG1.SEG2… where the
// segments are KEY split at '/', each escaped: letters, digits, '-' and
// '_' stand for themselves, any other byte is '=' and two hex digits, and
// an empty segment is a lone '='. The stream keeps one message per
// subject (the key's current value); a delete is a message with the header
// KV-Operation: DEL (as NATS key-value buckets write it), kept for a day.
// A key's revision is the stream sequence of its last message, so
// revisions only grow, across deletes too. An entry's expiry is the header
// Mandate-Expires (Unix nanoseconds), enforced on every read, and the
// server drops the message a second later (Nats-TTL).
package natsstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mandate-dev/mandate/authority/kv"
)

// Defaults.
const (
	DefaultStream   = "MANDATE"
	DefaultReplicas = 3
	subjectRoot     = "mandate.kv."
	hdrOp           = "KV-Operation"
	hdrExpires      = "Mandate-Expires"
	tombstoneTTL    = 24 * time.Hour
	// maxAtomicBatch is the server's default limit on an atomic batch
	// (jetstream.limits.max_batch_size raises it).
	maxAtomicBatch = 1000
)

// Options configure Open.
type Options struct {
	// Stream is the stream's name (default DefaultStream).
	Stream string
	// Replicas is the stream's replication factor (default
	// DefaultReplicas; 1 for a single server).
	Replicas int
	// Now is the clock expiry is checked against (default time.Now).
	Now func() time.Time
}

// Engine is a kv.Provider on one JetStream stream.
type Engine struct {
	js     jetstream.JetStream
	nc     *nats.Conn
	stream jetstream.Stream
	name   string
	now    func() time.Time
}

// Open creates (or updates) the stream on the connected JetStream and
// returns the engine.
func Open(ctx context.Context, nc *nats.Conn, o Options) (*Engine, error) {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Replicas == 0 {
		o.Replicas = DefaultReplicas
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	cfg := jetstream.StreamConfig{
		Name:              o.Stream,
		Description:       "mandate authority state (kv namespaces)",
		Subjects:          []string{subjectRoot + ">"},
		Storage:           jetstream.FileStorage,
		Replicas:          o.Replicas,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
		// Reads go to the stream's leader: a direct get may be
		// answered by a follower that lags behind, and a replica that
		// read the log's head from one server and an entry from
		// another would skip an acknowledged revocation.
		AllowDirect:        false,
		AllowMsgTTL:        true,
		AllowAtomicPublish: true,
		DenyDelete:         true,
		DenyPurge:          true,
	}
	st, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("natsstore: create stream %s (replicas %d): %w", o.Stream, o.Replicas, err)
	}
	// A new replicated stream answers reads only once its replicas have
	// a leader: wait for that (bounded), so that the first read is not
	// refused with "no responders".
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := st.GetLastMsgForSubject(ctx, subjectRoot+"=probe")
		if err == nil || errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, fmt.Errorf("natsstore: stream %s does not answer reads: %w (has it a leader? are a majority of its servers up?)", o.Stream, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &Engine{js: js, nc: nc, stream: st, name: o.Stream, now: o.Now}, nil
}

// Namespace implements kv.Provider.
func (e *Engine) Namespace(name string) kv.KV {
	return &space{e: e, base: subjectRoot + escapeSegment(name) + "."}
}

type space struct {
	e    *Engine
	base string
}

// escapeSegment escapes one '/'-separated segment of a key into a subject
// token.
func escapeSegment(s string) string {
	if s == "" {
		return "="
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteString(strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return b.String()
}

func unescapeSegment(t string) (string, error) {
	if t == "=" {
		return "", nil
	}
	var b []byte
	for i := 0; i < len(t); i++ {
		if t[i] != '=' {
			b = append(b, t[i])
			continue
		}
		if i+2 >= len(t) {
			return "", fmt.Errorf("bad escape in %q", t)
		}
		v, err := hex.DecodeString(t[i+1 : i+3])
		if err != nil {
			return "", fmt.Errorf("bad escape in %q", t)
		}
		b = append(b, v[0])
		i += 2
	}
	return string(b), nil
}

func (s *space) subject(key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = escapeSegment(seg)
	}
	return s.base + strings.Join(segs, ".")
}

func (s *space) key(subject string) (string, error) {
	toks := strings.Split(strings.TrimPrefix(subject, s.base), ".")
	for i, t := range toks {
		v, err := unescapeSegment(t)
		if err != nil {
			return "", fmt.Errorf("%w: subject %q: %v", kv.ErrCorrupt, subject, err)
		}
		toks[i] = v
	}
	return strings.Join(toks, "/"), nil
}

// last reads the last message of subject: its sequence (0 if none), and
// the entry if it is live.
func (s *space) last(ctx context.Context, key string) (seq uint64, e kv.Entry, live bool, err error) {
	m, err := s.e.stream.GetLastMsgForSubject(ctx, s.subject(key))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, kv.Entry{}, false, nil
	}
	if err != nil {
		return 0, kv.Entry{}, false, engineErr(err)
	}
	if op := m.Header.Get(hdrOp); op == "DEL" || op == "PURGE" {
		return m.Sequence, kv.Entry{}, false, nil
	}
	e = kv.Entry{Key: key, Value: m.Data, Rev: m.Sequence}
	if x := m.Header.Get(hdrExpires); x != "" {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, kv.Entry{}, false, fmt.Errorf("%w: %q: bad %s header", kv.ErrCorrupt, key, hdrExpires)
		}
		e.ExpiresAt = time.Unix(0, n)
		if !s.e.now().Before(e.ExpiresAt) {
			return m.Sequence, kv.Entry{}, false, nil
		}
	}
	if e.Value == nil {
		e.Value = []byte{}
	}
	return m.Sequence, e, true, nil
}

func engineErr(err error) error {
	var apiErr *jetstream.APIError
	switch {
	case errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant):
		return fmt.Errorf("%w: %w", kv.ErrConflict, err)
	case errors.Is(err, nats.ErrConnectionClosed):
		return fmt.Errorf("%w: %w", kv.ErrClosed, err)
	}
	return fmt.Errorf("natsstore: %w", err)
}

// Get implements kv.KV.
func (s *space) Get(ctx context.Context, key string) (kv.Entry, error) {
	if err := kv.CheckKey(key); err != nil {
		return kv.Entry{}, err
	}
	_, e, live, err := s.last(ctx, key)
	if err != nil {
		return kv.Entry{}, err
	}
	if !live {
		return kv.Entry{}, fmt.Errorf("%w: %q", kv.ErrNotFound, key)
	}
	return e, nil
}

// Apply implements kv.KV.
func (s *space) Apply(ctx context.Context, ops ...kv.Op) ([]uint64, error) {
	if err := kv.CheckOps(ops); err != nil {
		return nil, err
	}
	if len(ops) > maxAtomicBatch {
		return nil, fmt.Errorf("%w: %d operations in one batch (NATS takes at most %d in one atomic batch)", kv.ErrInvalid, len(ops), maxAtomicBatch)
	}
	now := s.e.now()
	msgs := make([]*nats.Msg, len(ops))
	for i := range ops {
		op := &ops[i]
		var (
			seq  uint64
			cur  kv.Entry
			live bool
		)
		if op.Match != kv.Any {
			// Only a condition needs the key's state (the server
			// checks it again at commit).
			var err error
			if seq, cur, live, err = s.last(ctx, op.Key); err != nil {
				return nil, err
			}
		}
		m := nats.NewMsg(s.subject(op.Key))
		switch op.Match {
		case kv.Absent:
			if live {
				return nil, fmt.Errorf("%w: %q exists", kv.ErrConflict, op.Key)
			}
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(seq, 10))
		case kv.AtRev:
			if !live {
				return nil, fmt.Errorf("%w: %q no longer exists", kv.ErrConflict, op.Key)
			}
			if cur.Rev != op.Rev {
				return nil, fmt.Errorf("%w: %q changed (revision %d, expected %d)", kv.ErrConflict, op.Key, cur.Rev, op.Rev)
			}
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(op.Rev, 10))
		}
		if op.Delete {
			m.Header.Set(hdrOp, "DEL")
			m.Header.Set(jetstream.MsgTTLHeader, tombstoneTTL.String())
		} else {
			m.Data = op.Value
			if !op.ExpiresAt.IsZero() {
				m.Header.Set(hdrExpires, strconv.FormatInt(op.ExpiresAt.UnixNano(), 10))
				ttl := max(op.ExpiresAt.Sub(now), 0) + time.Second
				m.Header.Set(jetstream.MsgTTLHeader, strconv.FormatInt(int64((ttl+time.Second-1)/time.Second), 10)+"s")
			}
		}
		msgs[i] = m
	}
	revs := make([]uint64, len(ops))
	if len(msgs) == 1 {
		ack, err := s.e.js.PublishMsg(ctx, msgs[0])
		if err != nil {
			return nil, engineErr(err)
		}
		if !ops[0].Delete {
			revs[0] = ack.Sequence
		}
		return revs, nil
	}
	ack, err := s.publishAtomic(ctx, msgs)
	if err != nil {
		return nil, err
	}
	first := ack.Sequence - uint64(len(msgs)) + 1
	for i := range ops {
		if !ops[i].Delete {
			revs[i] = first + uint64(i)
		}
	}
	return revs, nil
}

// publishAtomic publishes msgs as one atomic batch: every message or none
// is stored, and every expected-sequence header is checked at commit.
func (s *space) publishAtomic(ctx context.Context, msgs []*nats.Msg) (*jetstream.PubAck, error) {
	id := nats.NewInbox()[len(nats.InboxPrefix):]
	if len(id) > 64 {
		id = id[:64]
	}
	for i, m := range msgs {
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i == len(msgs)-1 {
			m.Header.Set("Nats-Batch-Commit", "1")
			break
		}
		if err := s.e.nc.PublishMsg(m); err != nil {
			return nil, engineErr(err)
		}
	}
	ack, err := s.e.js.PublishMsg(ctx, msgs[len(msgs)-1])
	if err != nil {
		return nil, engineErr(err)
	}
	return ack, nil
}

// Scan implements kv.KV. It lists the subjects under the prefix's complete
// segments, then reads each: it costs a request per key, so keep scanned
// ranges small (people, clients, pending approvals), not logs.
func (s *space) Scan(ctx context.Context, o kv.ScanOptions, fn func(kv.Entry) bool) error {
	filter := s.base + ">"
	if i := strings.LastIndexByte(o.Prefix, '/'); i >= 0 {
		filter = s.subject(o.Prefix[:i]) + ".>"
	}
	info, err := s.e.stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return engineErr(err)
	}
	keys := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		k, err := s.key(subj)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(k, o.Prefix) {
			continue
		}
		if o.Start != "" && ((!o.Reverse && k < o.Start) || (o.Reverse && k > o.Start)) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if o.Reverse {
		slices.Reverse(keys)
	}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, e, live, err := s.last(ctx, k)
		if err != nil {
			return err
		}
		if !live {
			continue
		}
		if o.KeysOnly {
			e.Value = nil
		}
		if !fn(e) {
			return nil
		}
	}
	return nil
}
