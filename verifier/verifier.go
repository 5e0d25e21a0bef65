package verifier

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/rs/zerolog"

	"github.com/mandate-dev/mandate/internal/callfacts"
	"github.com/mandate-dev/mandate/internal/datalog"
	"github.com/mandate-dev/mandate/token"
)

// RevocationChecker reports revoked revocation IDs. Revoked returns the
// index of the first revoked ID in ids, or -1. It is called on every
// decision and must be fast and safe for concurrent use; the stores of
// package verifier/revocation implement it.
type RevocationChecker interface {
	Revoked(ids [][]byte) int
}

// Config configures a Verifier. Keys and Revocations are required.
type Config struct {
	// Keys are the trusted root keys. Replace them with Keys.Set as the
	// authority rotates keys.
	Keys *token.KeySet
	// Revocations is consulted before any Datalog runs.
	Revocations RevocationChecker
	// Fresh, when set, is called on every decision and denies it when it
	// returns an error: the revocation feed follower returns one once its
	// replica is older than the configured staleness bound.
	Fresh func() error
	// CacheSize bounds the verified-chain cache (entries). Zero selects
	// DefaultCacheSize; a negative value disables the cache.
	CacheSize int
	// Now is the verifier's clock; nil means time.Now.
	Now func() time.Time
	// Audit receives one event per decision. Nil disables audit events.
	Audit *zerolog.Logger
	// Approvals checks the approvals requests carry (package
	// verifier/approval). Nil: a call that an approval caveat stops is
	// denied (KindApprovalRequired), approval or not.
	Approvals ApprovalChecker
	// Limits counts calls against the usage limits tokens declare
	// (package verifier/usage). Nil: a token that declares a limit is
	// denied (ErrLimitUnenforced).
	Limits LimitEnforcer
	// Decisions receives every decision, after the audit event (package
	// verifier/decisionlog ships them to the authority's decision log).
	// Nil records nothing.
	Decisions DecisionRecorder
	// InsecureNoRevocation allows a nil Revocations. Tokens can then never
	// be revoked at this verifier: use it only in tests and offline tools.
	InsecureNoRevocation bool
}

// DefaultCacheSize is the default number of verified chains kept.
const DefaultCacheSize = 10000

// Verifier decides tool calls. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	now    func() time.Time
	cache  *chainCache
	pool   sync.Pool
	prefix string
	seq    atomic.Uint64
}

// New returns a Verifier.
func New(cfg Config) (*Verifier, error) {
	if cfg.Keys == nil {
		return nil, errors.New("verifier: Config.Keys is required")
	}
	if cfg.Revocations == nil && !cfg.InsecureNoRevocation {
		return nil, errors.New("verifier: Config.Revocations is required (use revocation.NewMemory() or a badgerstore)")
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	v := &Verifier{cfg: cfg, now: cfg.Now, cache: newChainCache(cfg.CacheSize)}
	if v.now == nil {
		v.now = time.Now
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	v.prefix = "d_" + hex.EncodeToString(b[:]) + "_"
	v.pool.New = func() any { return &scratch{ev: datalog.NewEvaluator(token.EvalLimits)} }
	return v, nil
}

type scratch struct {
	ev    *datalog.Evaluator
	facts []datalog.Predicate
	terms []datalog.Term // the request facts' terms
	limit LimitCall
}

// FailedCheck locates the check that denied a request.
type FailedCheck struct {
	Block int    `json:"block"` // 0 is the authority block
	Check int    `json:"check"`
	Text  string `json:"text"`
}

// Decision is the outcome of Authorize.
type Decision struct {
	Allowed     bool         `json:"allowed"`
	Reason      string       `json:"reason"`
	FailedCheck *FailedCheck `json:"failed_check,omitempty"`
	DecisionID  string       `json:"decision_id"`
	// RevocationIDs are the token's block revocation IDs, hex, in block
	// order (empty when the token could not be parsed).
	RevocationIDs []string      `json:"revocation_ids,omitempty"`
	Session       string        `json:"session,omitempty"`
	Agent         string        `json:"agent,omitempty"`
	User          string        `json:"user,omitempty"`
	Org           string        `json:"org,omitempty"`
	Blocks        int           `json:"blocks"`
	Duration      time.Duration `json:"duration_ns"`
	// CallDigest is the call's token.CallDigest in hex when an approval
	// caveat decided (KindApprovalRequired, KindApprovalInvalid): what to
	// ask the authority to approve.
	CallDigest string `json:"call_digest,omitempty"`
	// ApprovalID is the ID of the approval the request carried, once it
	// verified.
	ApprovalID string `json:"approval_id,omitempty"`
	// Err is nil when allowed; otherwise it matches ErrDenied and the
	// specific cause (errors.Is).
	Err error `json:"-"`
}

// InvalidToken reports whether the denial is about the token itself
// (malformed, unverifiable, expired or revoked) rather than about the
// request being outside it: HTTP adapters answer 401 invalid_token for
// these. See [Decision.Kind] for every other kind.
func (d *Decision) InvalidToken() bool { return d.Kind() == KindInvalidToken }

// Authorize decides whether tok (URL-safe base64, padded or not) allows req.
// It never panics and never blocks: every error is a deny with a reason.
// Order: signature chain (cached by token hash), revocation of every block,
// then Datalog with the verifier's own request facts.
func (v *Verifier) Authorize(ctx context.Context, tok string, req Request) (d Decision) {
	var vt *token.Verified
	defer v.begin(&d)(&req, &vt)
	if err := req.validate(); err != nil {
		return deny(d, err)
	}
	vt, now, err := v.check(ctx, tok, &d)
	if err != nil {
		return deny(d, err)
	}
	if vt.AuthorityStatesApproval() {
		return deny(d, fmt.Errorf("%w: %w: the authority block states approved facts, which only a verifier adds; mandate never mints such a token", ErrDenied, token.ErrInvalid))
	}

	sc := v.pool.Get().(*scratch)
	defer v.pool.Put(sc)
	facts, err := req.facts(now, sc)
	if err != nil {
		return deny(d, err)
	}
	facts = v.limitFacts(vt, facts)
	sc.facts = facts
	out, err := sc.ev.RunProgram(vt.Program(), facts, func(w *datalog.World) bool { return covered(w, &req) })
	if err == nil && out.Block >= 0 && token.IsApprovalCheck(&vt.Datalog()[out.Block].Checks[out.Check]) {
		var done bool
		if d, out, done, err = v.approve(ctx, d, tok, vt, &req, now, sc, out); done {
			if d.Allowed {
				d = v.spendLimits(ctx, d, vt, &req, now, sc)
			}
			return d
		}
	}
	switch {
	case err != nil && out.Block >= 0:
		d.FailedCheck = &FailedCheck{Block: out.Block, Check: out.Check, Text: out.CheckText}
		return deny(d, fmt.Errorf("%w: block %d check %d: %w", ErrEvaluation, out.Block, out.Check, err))
	case err != nil:
		return deny(d, fmt.Errorf("%w: %w", ErrEvaluation, err))
	case out.Allowed:
		d.Allowed = true
		d.Reason = "allowed"
		return v.spendLimits(ctx, d, vt, &req, now, sc)
	case out.PolicyFailed:
		// No grant lifts a caveat: report the caveat if one denies too.
		if cav, cerr, ok := attenuationDenies(sc.ev, vt, facts); ok {
			out, err = cav, cerr
			break
		}
		return deny(d, &NoRightError{Right: token.Right{Service: req.Service, Tool: req.Tool, Operation: req.Operation, Resource: req.Resource}})
	}
	d.FailedCheck = &FailedCheck{Block: out.Block, Check: out.Check, Text: out.CheckText}
	if err == nil && token.IsLimitCheck(&vt.Datalog()[out.Block].Checks[out.Check]) {
		return deny(d, fmt.Errorf("%w: block %d declares a usage limit (check %d: %s) and this verifier does not enforce usage limits (set Config.Limits, package verifier/usage)", ErrLimitUnenforced, out.Block, out.Check, out.CheckText))
	}
	if exp := vt.EffectiveExpiry(); !exp.IsZero() && now.After(exp) {
		return deny(d, fmt.Errorf("%w: %w", ErrDenied, &token.ExpiredError{ExpiresAt: exp, Now: now}))
	}
	if err != nil {
		return deny(d, fmt.Errorf("%w: block %d check %d: %w", ErrEvaluation, out.Block, out.Check, err))
	}
	return deny(d, fmt.Errorf("%w: block %d check %d: %s", ErrCheckFailed, out.Block, out.Check, out.CheckText))
}

// check runs everything that concerns the token rather than the call:
// context, signature chain (cached), freshness of the revocation state and
// revocation of every block, filling in d's token fields as it learns them.
func (v *Verifier) check(ctx context.Context, tok string, d *Decision) (*token.Verified, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %w", ErrCanceled, err)
	}
	now := v.now()
	vt, err := v.verified(tok, now)
	if err != nil {
		return nil, now, fmt.Errorf("%w: %w", ErrDenied, err)
	}
	ids := vt.RevocationIDs()
	d.RevocationIDs = slices.Clone(vt.RevocationIDsHex())
	s := vt.Subject()
	d.Session, d.Agent, d.User, d.Org = s.Session, s.Agent, s.User, s.Org
	d.Blocks = vt.BlockCount()
	if v.cfg.Fresh != nil {
		if err := v.cfg.Fresh(); err != nil {
			return nil, now, fmt.Errorf("%w: %w", ErrStale, err)
		}
	}
	if v.cfg.Revocations != nil {
		if i := v.cfg.Revocations.Revoked(ids); i >= 0 {
			return nil, now, fmt.Errorf("%w: block %d (revocation ID %.16s…) was revoked", ErrRevoked, i, d.RevocationIDs[i])
		}
	}
	return vt, now, nil
}

// begin starts a decision: its ID, and on return its duration, the audit
// event, the decision recorder and the conversion of any panic into a deny.
// vt points at the verified token once there is one.
func (v *Verifier) begin(d *Decision) func(req *Request, vt **token.Verified) {
	start := time.Now()
	d.DecisionID = v.prefix + strconv.FormatUint(v.seq.Add(1), 36)
	return func(req *Request, vt **token.Verified) {
		if r := recover(); r != nil {
			*d = deny(*d, fmt.Errorf("%w: internal error", ErrEvaluation))
		}
		d.Duration = time.Since(start)
		v.audit(d, req)
		if v.cfg.Decisions != nil {
			var t *token.Verified
			if vt != nil && d.Blocks > 0 {
				t = *vt
			}
			v.cfg.Decisions.RecordDecision(d, req, t)
		}
	}
}

// DecisionRecorder receives every decision a Verifier makes
// (Config.Decisions); package verifier/decisionlog implements it.
//
// RecordDecision is called on the decision's own goroutine, after the
// decision is final and before Authorize returns: it must return at once
// (never block, never do I/O) and must not keep d or req, which belong to
// the caller; it copies what it needs. t is the verified token the decision
// was made on, or nil when there was none (unparsable, unverifiable); it is
// immutable and may be kept.
type DecisionRecorder interface {
	RecordDecision(d *Decision, req *Request, t *token.Verified)
}

func deny(d Decision, err error) Decision {
	d.Allowed = false
	d.Err = err
	d.Reason = reason(err)
	return d
}

// reason turns an error into a sentence a caller can act on.
func reason(err error) string {
	msg := strings.TrimPrefix(err.Error(), ErrDenied.Error()+": ")
	switch {
	case errors.Is(err, token.ErrUnsupported):
		return msg + "; re-attenuate with Biscuit v3 (Datalog 3.0) features only: see \"Writing caveats with other Biscuit libraries\" in the README"
	case errors.Is(err, token.ErrUnknownKey):
		return msg + "; the token was minted by another authority or with a retired key"
	case errors.Is(err, token.ErrExpired):
		return msg + "; ask the authority for a new token"
	case errors.Is(err, ErrRevoked):
		return msg + "; ask the delegating agent for a new token"
	case errors.Is(err, ErrStale):
		return msg + "; the verifier cannot reach the authority's revocation feed"
	case errors.Is(err, ErrNoRight):
		return msg + "; the token grants no such right"
	case errors.Is(err, ErrApprovalRequired):
		return msg + "; ask the authority to approve this call and retry with the approval"
	case errors.Is(err, ErrApprovalInvalid):
		return msg + "; this approval does not decide this call"
	case errors.Is(err, ErrLimitExceeded):
		return msg + "; wait until the limit resets, or ask the delegating agent for a token with room"
	case errors.Is(err, ErrLimitUnenforced):
		return msg + "; send the call to a verifier that enforces usage limits"
	case errors.Is(err, ErrLimitUnavailable):
		return msg + "; the verifier cannot reach the authority's usage ledger: retry later"
	case errors.Is(err, ErrCheckFailed):
		return msg + "; an attenuation forbids this call"
	}
	return msg
}

// covered is mandate's fixed policy (callfacts.Covered) for req.
func covered(w *datalog.World, req *Request) bool {
	return callfacts.Covered(w, req.Service, req.Tool, req.Operation, req.Resource)
}

// verified returns the verified chain of tok, from the cache when this
// exact token was verified before and its root key is still trusted.
func (v *Verifier) verified(tok string, now time.Time) (*token.Verified, error) {
	tok = strings.TrimRight(strings.TrimSpace(tok), "=")
	if len(tok) > token.MaxEncodedBytes {
		return nil, fmt.Errorf("%w: %d bytes of base64 is over the %d-byte token limit", token.ErrTooLarge, len(tok), token.MaxEncodedBytes)
	}
	// Hash the string's bytes in place: sha256 neither keeps nor changes
	// them, and a copy would cost an allocation of the token's size.
	key := cacheKey(sha256.Sum256(unsafe.Slice(unsafe.StringData(tok), len(tok))))
	if vt := v.cache.get(key); vt != nil && v.cfg.Keys.Trusted(vt.RootKey(), now) {
		return vt, nil
	}
	u, err := token.ParseString(tok)
	if err != nil {
		return nil, err
	}
	vt, err := u.Verify(v.cfg.Keys, now)
	if err != nil {
		return nil, err
	}
	v.cache.put(key, vt)
	return vt, nil
}

func (v *Verifier) audit(d *Decision, req *Request) {
	if v.cfg.Audit == nil {
		return
	}
	ev := v.cfg.Audit.Info()
	if !d.Allowed {
		ev = v.cfg.Audit.Warn()
	}
	ev.Str("event", "decision").
		Str("decision_id", d.DecisionID).
		Bool("allowed", d.Allowed).
		Str("reason", d.Reason).
		Str("service", req.Service).Str("tool", req.Tool).
		Str("operation", req.Operation).Str("resource", req.Resource).
		Str("session", d.Session).Str("agent", d.Agent).
		Str("user", d.User).Str("org", d.Org).
		Strs("revocation_ids", d.RevocationIDs).
		Int("blocks", d.Blocks).
		Float64("duration_ms", float64(d.Duration)/float64(time.Millisecond))
	if d.CallDigest != "" {
		ev = ev.Str("kind", string(d.Kind())).Str("call_digest", d.CallDigest)
	}
	if d.ApprovalID != "" {
		ev = ev.Str("approval_id", d.ApprovalID)
	}
	if d.FailedCheck != nil {
		ev = ev.Int("failed_block", d.FailedCheck.Block).Int("failed_check", d.FailedCheck.Check).Str("failed_check_text", d.FailedCheck.Text)
	}
	ev.Msg("authorization decision")
}
