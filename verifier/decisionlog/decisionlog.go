// Package decisionlog ships a verifier's decisions to the authority's
// decision log (POST /v1/decisions), where people see them in the console
// and export them with their hash chain. A tool server imports it only if
// it ships decisions.
//
// Shipping never blocks or slows a decision:
//
//  1. Create a [Shipper] with the authority's URL and a verifier
//     credential (the admin creates one with "mandate authority verifier
//     add NAME", which prints its secret once).
//  2. Set it as verifier.Config.Decisions. The verifier hands it every
//     decision; [Shipper.RecordDecision] copies what the log needs into a
//     bounded buffer and returns (well under a microsecond). When the
//     buffer is full, the decision is dropped and counted
//     ([Stats].Dropped): a verifier never waits for the log.
//  3. A background goroutine ships batches (BatchSize decisions, or what
//     the buffer holds every FlushInterval), retrying with exponential
//     backoff while the authority is unreachable or answers 5xx, 429, 401
//     or 403. A batch the authority refuses as invalid (another 4xx) is
//     dropped and counted ([Stats].Rejected): sending it again cannot help.
//  4. [Shipper.Close] flushes what is buffered, within its context.
//
// What is shipped: the decision's ID, time, outcome, reason code
// (verifier.Kind) and text, the failed block and check, the call's service,
// tool, operation, resource and argument names, the token's session, agent,
// user, org, delegated_to chain and every block's revocation ID, and the
// decision's duration (token.DecisionRecord). Argument values only with
// Config.ArgValues. Never the token, and never the credential.
package decisionlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mandate-dev/mandate/token"
	"github.com/mandate-dev/mandate/verifier"
)

// Defaults and bounds of a Shipper's Config.
const (
	// DefaultBufferSize is how many decisions wait for shipping before new
	// ones are dropped: at 10,000 decisions a second, about a second of
	// the authority being slow or away.
	DefaultBufferSize = 16384
	// DefaultBatchSize is the most decisions in one request; the
	// authority accepts at most MaxBatchSize.
	DefaultBatchSize = 500
	// MaxBatchSize is the authority's limit on decisions per request.
	MaxBatchSize = 1000
	// MaxBatchBytes is the authority's limit on a request body. Records
	// are bounded (token.TrimDecision), so MaxBatchSize records of the
	// usual few hundred bytes fit; a batch that would pass it is split.
	MaxBatchBytes = 4 << 20
	// DefaultFlushInterval is the longest a decision waits in the buffer
	// when traffic is light.
	DefaultFlushInterval = 500 * time.Millisecond
	// DefaultMinBackoff and DefaultMaxBackoff bound the wait between
	// retries of a batch (doubling, with jitter).
	DefaultMinBackoff = 200 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
	// requestTimeout bounds one POST.
	requestTimeout = 30 * time.Second
	// maxErrorBody bounds what is read of an error answer.
	maxErrorBody = 4 << 10
)

// Config configures a Shipper. URL and Credential are required.
type Config struct {
	// URL is the authority's base URL, such as "http://127.0.0.1:8421".
	URL string
	// Credential is the verifier credential ("mdv_NAME.SECRET") the admin
	// created with POST /v1/verifiers. It is sent as a bearer token and
	// never logged.
	Credential string
	// HTTPClient sends the batches (default: a client of its own).
	HTTPClient *http.Client
	// BufferSize bounds the decisions waiting to be shipped (default
	// DefaultBufferSize).
	BufferSize int
	// BatchSize is the most decisions per request (default
	// DefaultBatchSize, at most MaxBatchSize).
	BatchSize int
	// FlushInterval ships a partial batch after this long (default
	// DefaultFlushInterval).
	FlushInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries (defaults
	// DefaultMinBackoff, DefaultMaxBackoff).
	MinBackoff, MaxBackoff time.Duration
	// ArgValues ships argument values, not only their names. Leave it off
	// when arguments may hold personal data or secrets: the log keeps
	// what it receives for its whole retention.
	ArgValues bool
	// Logger receives shipping errors (never a credential). Nil: none.
	Logger *zerolog.Logger
}

// Stats are a Shipper's counters.
type Stats struct {
	Recorded uint64 // decisions handed to the shipper
	Shipped  uint64 // decisions the authority acknowledged
	Dropped  uint64 // decisions dropped: buffer full, or shipper closed
	Rejected uint64 // decisions in batches the authority refused as invalid
	Retries  uint64 // failed attempts that were retried
	Queued   int    // decisions waiting in the buffer now
}

// Shipper ships decisions to the authority. It implements
// verifier.DecisionRecorder. It is safe for concurrent use.
type Shipper struct {
	cfg      Config
	endpoint string
	http     *http.Client
	log      zerolog.Logger
	buf      chan item
	closed   atomic.Bool
	stop     chan struct{} // closed by Close: flush and return
	giveUp   chan struct{} // closed when Close's context is done: stop sending
	done     chan struct{} // closed when the shipping goroutine returned
	once     sync.Once

	recorded, shipped, dropped, rejected, retries atomic.Uint64
}

// item is what RecordDecision copies: everything the record needs, taken
// from the caller's decision and request without keeping either.
type item struct {
	d        verifier.Decision
	service  string
	tool     string
	op       string
	resource string
	argNames []string
	args     map[string]any // only with ArgValues
	t        *token.Verified
	at       time.Time
}

// New returns a Shipper and starts its background goroutine; call Close
// when done.
func New(cfg Config) (*Shipper, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("decisionlog: Config.URL %q is not the authority's http(s) base URL (such as http://127.0.0.1:8421)", cfg.URL)
	}
	if cfg.Credential == "" {
		return nil, errors.New("decisionlog: Config.Credential is required: ask the authority's admin for one (mandate authority verifier add NAME)")
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = DefaultBufferSize
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	cfg.BatchSize = min(cfg.BatchSize, MaxBatchSize)
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	s := &Shipper{
		cfg:      cfg,
		endpoint: strings.TrimRight(cfg.URL, "/") + "/v1/decisions",
		http:     cfg.HTTPClient,
		log:      zerolog.Nop(),
		buf:      make(chan item, cfg.BufferSize),
		stop:     make(chan struct{}),
		giveUp:   make(chan struct{}),
		done:     make(chan struct{}),
	}
	if s.http == nil {
		s.http = &http.Client{Timeout: requestTimeout}
	}
	if cfg.Logger != nil {
		s.log = *cfg.Logger
	}
	go s.run()
	return s, nil
}

// RecordDecision implements verifier.DecisionRecorder: it copies the
// decision into the buffer, or drops and counts it when the buffer is full.
// It never blocks.
func (s *Shipper) RecordDecision(d *verifier.Decision, req *verifier.Request, t *token.Verified) {
	s.recorded.Add(1)
	if s.closed.Load() {
		s.dropped.Add(1)
		return
	}
	it := item{d: *d, service: req.Service, tool: req.Tool, op: req.Operation, resource: req.Resource, t: t, at: time.Now()}
	if n := len(req.Args); n > 0 {
		it.argNames = make([]string, 0, n)
		for k := range req.Args {
			it.argNames = append(it.argNames, k)
		}
		if s.cfg.ArgValues {
			it.args = make(map[string]any, n)
			for k, v := range req.Args {
				it.args[k] = v
			}
		}
	}
	select {
	case s.buf <- it:
	default:
		s.dropped.Add(1)
	}
}

// Stats returns the shipper's counters.
func (s *Shipper) Stats() Stats {
	return Stats{
		Recorded: s.recorded.Load(), Shipped: s.shipped.Load(), Dropped: s.dropped.Load(),
		Rejected: s.rejected.Load(), Retries: s.retries.Load(), Queued: len(s.buf),
	}
}

// Close stops taking decisions (later ones are dropped and counted) and
// ships what is buffered until ctx is done; what is left then is dropped
// and counted. It returns ctx's error if it gave up.
func (s *Shipper) Close(ctx context.Context) error {
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		go func() {
			select {
			case <-ctx.Done():
				close(s.giveUp)
			case <-s.done:
			}
		}()
	})
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		<-s.done
		return ctx.Err()
	}
}

// run collects batches and ships them until Close.
func (s *Shipper) run() {
	defer close(s.done)
	batch := newBatch(s.cfg.BatchSize)
	timer := time.NewTimer(s.cfg.FlushInterval)
	defer timer.Stop()
	for {
		select {
		case it := <-s.buf:
			if s.add(batch, it) {
				s.ship(batch, s.stop)
				resetTimer(timer, s.cfg.FlushInterval)
			}
		case <-timer.C:
			if batch.n > 0 {
				s.ship(batch, s.stop)
			}
			timer.Reset(s.cfg.FlushInterval)
		case <-s.stop:
			s.drain(batch)
			return
		}
	}
}

// drain ships the rest after Close, until Close's context is done.
func (s *Shipper) drain(batch *batch) {
	for {
		select {
		case it := <-s.buf:
			if s.add(batch, it) && !s.ship(batch, s.giveUp) {
				s.dropRest(batch)
				return
			}
		default:
			if batch.n > 0 && !s.ship(batch, s.giveUp) {
				s.dropRest(batch)
			}
			return
		}
	}
}

func (s *Shipper) dropRest(b *batch) {
	s.dropped.Add(uint64(b.n + len(s.buf)))
	b.reset()
	for len(s.buf) > 0 {
		<-s.buf
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	t.Reset(d)
}

// batch is the JSON body being built: {"decisions":[r1,r2,...]}.
type batch struct {
	body []byte
	n    int
	max  int
}

func newBatch(max int) *batch {
	b := &batch{max: max}
	b.reset()
	return b
}

func (b *batch) reset() {
	b.body = append(b.body[:0], `{"decisions":[`...)
	b.n = 0
}

// add appends one decision to the batch and reports whether the batch is
// due to be shipped (full by count or size).
func (s *Shipper) add(b *batch, it item) bool {
	r := record(&it)
	token.TrimDecision(&r)
	raw, err := json.Marshal(&r)
	if err != nil {
		// Only argument values can fail to encode: ship without them.
		r.Args = nil
		if raw, err = json.Marshal(&r); err != nil {
			s.dropped.Add(1)
			return false
		}
	}
	if len(b.body)+len(raw)+3 > MaxBatchBytes && b.n > 0 {
		// Ship what is there first; this record starts the next batch.
		s.ship(b, s.stop)
	}
	if b.n > 0 {
		b.body = append(b.body, ',')
	}
	b.body = append(b.body, raw...)
	b.n++
	return b.n >= b.max
}

// record builds the shipped record from a buffered item.
func record(it *item) token.DecisionRecord {
	d := &it.d
	r := token.DecisionRecord{
		ID: d.DecisionID, Time: it.at.UTC(), Allowed: d.Allowed, Kind: string(d.Kind()), Reason: d.Reason,
		Service: it.service, Tool: it.tool, Operation: it.op, Resource: it.resource,
		ArgNames: it.argNames, Session: d.Session, Agent: d.Agent, User: d.User, Org: d.Org,
		RevocationIDs: d.RevocationIDs, DurationNS: int64(d.Duration),
		ApprovalID: d.ApprovalID, CallDigest: d.CallDigest,
	}
	slices.Sort(r.ArgNames)
	if fc := d.FailedCheck; fc != nil {
		b, c := fc.Block, fc.Check
		r.FailedBlock, r.FailedCheck, r.CheckText = &b, &c, fc.Text
	}
	if it.t != nil {
		r.DelegatedTo = DelegatedTo(it.t)
	}
	if it.args != nil {
		if raw, err := json.Marshal(it.args); err == nil {
			r.Args = raw
		}
	}
	return r
}

// DelegatedTo returns the delegated_to chain of a verified token: the name
// each attenuation block states with delegated_to("NAME"), in block order.
// These are claims of attacker-controlled blocks, kept as a record.
func DelegatedTo(t *token.Verified) []string {
	var out []string
	for i, b := range t.Datalog() {
		if i == 0 {
			continue
		}
		for _, f := range b.Facts {
			if f.Name == token.FactDelegatedTo && len(f.Terms) == 1 && f.Terms[0].Str != "" {
				out = append(out, f.Terms[0].Str)
			}
		}
	}
	return out
}

// ship sends the batch until the authority acknowledges or refuses it, or
// until stop is closed while it waits to retry (then it reports false and
// keeps the batch; s.stop only ends the waiting, the retries go on until
// Close gives up). A request in flight is abandoned only when Close gives
// up: abandoning it earlier could store the batch twice. The batch is reset
// when it is done with.
func (s *Shipper) ship(b *batch, stop <-chan struct{}) bool {
	body := append(b.body, "]}"...)
	wait := s.cfg.MinBackoff
	for {
		retry, err := s.post(body)
		switch {
		case err == nil:
			s.shipped.Add(uint64(b.n))
			b.reset()
			return true
		case !retry:
			s.rejected.Add(uint64(b.n))
			s.log.Error().Err(err).Int("decisions", b.n).Msg("the authority refused a batch of decisions; dropped it")
			b.reset()
			return true
		}
		s.retries.Add(1)
		s.log.Warn().Err(err).Int("decisions", b.n).Dur("retry_in", wait).Msg("shipping decisions failed; will retry")
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			if stop == s.stop {
				// Close began: retry until it gives up.
				return s.ship(b, s.giveUp)
			}
			return false
		}
		wait = min(wait*2, s.cfg.MaxBackoff)
	}
}

// post sends one request. retry says whether sending it again may help.
func (s *Shipper) post(body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.giveUp:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.cfg.Credential)
	resp, err := s.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL's method noise
		}
		return true, fmt.Errorf("POST %s: %w", s.endpoint, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return false, nil
	case c >= 500, c == http.StatusTooManyRequests, c == http.StatusUnauthorized, c == http.StatusForbidden, c == http.StatusRequestTimeout:
		return true, fmt.Errorf("POST %s: %s: %s", s.endpoint, resp.Status, bytes.TrimSpace(msg))
	default:
		return false, fmt.Errorf("POST %s: %s: %s", s.endpoint, resp.Status, bytes.TrimSpace(msg))
	}
}
