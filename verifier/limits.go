package verifier

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mandate-dev/mandate/internal/callfacts"
	"github.com/mandate-dev/mandate/internal/datalog"
	"github.com/mandate-dev/mandate/token"
)

var (
	// ErrLimitExceeded: a usage limit the token declares has no room left
	// for the call (KindLimitExceeded). The cause is a *LimitExceededError.
	ErrLimitExceeded = fmt.Errorf("%w: usage limit exceeded", ErrDenied)
	// ErrLimitUnenforced: the token declares a usage limit and this
	// verifier does not enforce usage limits (Config.Limits is nil), so
	// the declaring block's check fails (KindDenied).
	ErrLimitUnenforced = fmt.Errorf("%w: usage limit not enforced", ErrDenied)
	// ErrLimitUnavailable: the verifier could not learn whether a usage
	// limit has room (the authority is unreachable and no lease is left):
	// denied, never counted on trust (KindUnavailable).
	ErrLimitUnavailable = fmt.Errorf("%w: usage limit unavailable", ErrDenied)
)

// LimitEnforcer counts calls against the usage limits that tokens declare
// (token.Limit). Package verifier/usage implements it; set it as
// Config.Limits. Without one, a token that declares a limit is denied
// (ErrLimitUnenforced): the declaring block's check asks for a limit_ok
// fact that only an enforcing verifier adds.
//
// The verifier adds limit_ok facts for every limit of the token, evaluates,
// and calls Spend only for a call the token allows, so that a denied call is
// never counted. Spend must count the call against every limit of c, all or
// none, atomically with respect to every other Spend: of 64 concurrent calls
// under a limit of 10, exactly 10 may return nil. It returns nil once the
// call is counted, an error matching ErrLimitExceeded (a
// *LimitExceededError) when a limit has no room, and any other error when it
// cannot tell; the verifier denies on every error. It must be safe for
// concurrent use and must not keep c, which the verifier reuses.
type LimitEnforcer interface {
	Spend(ctx context.Context, c *LimitCall) error
}

// LimitCall is what a LimitEnforcer sees of one allowed call.
type LimitCall struct {
	// Token is the verified, unrevoked token.
	Token *token.Verified
	// Limits are the token's limits that apply to the call's tool, and
	// Amounts what the call counts against each: 1 for a call count, the
	// argument (≥ 0) for a sum.
	Limits     []*token.DeclaredLimit
	Amounts    []int64
	Tool       string
	DecisionID string
	Now        time.Time
	// Local is set by the enforcer when the limits were counted at this
	// verifier only (no authority): the decision's reason says so.
	Local bool
}

// LimitExceededError says which limit stopped a call, how much of it is
// used and when it resets. It matches ErrLimitExceeded.
type LimitExceededError struct {
	Limit token.DeclaredLimit
	// Used is what the ledger has counted in the current window (calls,
	// or the argument's sum), Need what this call would add.
	Used, Need int64
	// ResetsAt is when the current window ends; zero for a limit that
	// runs for the life of its block.
	ResetsAt time.Time
	// Local: counted at this verifier only.
	Local bool
	// Held, when set, says how much of the limit other verifiers hold in
	// leases they have not spent or returned yet.
	Held int64
}

func (e *LimitExceededError) Error() string {
	l := &e.Limit
	s := "usage limit " + l.String() + " of block " + strconv.Itoa(l.Block) + " (limit ID " + shortLimitID(l.ID) + ") has no room: " +
		strconv.FormatInt(e.Used, 10) + " of " + strconv.FormatInt(l.Max, 10) + " used"
	if l.Measure == token.LimitSum {
		s += ", this call adds " + strconv.FormatInt(e.Need, 10)
	}
	if e.Held > 0 {
		s += " (" + strconv.FormatInt(e.Held, 10) + " of it held unspent in other verifiers' leases)"
	}
	if e.ResetsAt.IsZero() {
		s += "; it never resets (it holds for the life of the block)"
	} else {
		s += "; it resets at " + e.ResetsAt.UTC().Format(time.RFC3339)
	}
	if e.Local {
		s += "; counted at this verifier only"
	}
	return s
}

// Unwrap makes errors.Is(err, ErrLimitExceeded) hold.
func (e *LimitExceededError) Unwrap() error { return ErrLimitExceeded }

func shortLimitID(id string) string {
	if len(id) > 16 {
		// The revocation ID's first 16 hex digits and the index.
		for i := len(id) - 1; i >= 0; i-- {
			if id[i] == '/' {
				return id[:16] + "…" + id[i:]
			}
		}
	}
	return id
}

// limitFacts appends the limit_ok fact of every limit vt declares, when
// this verifier enforces limits.
func (v *Verifier) limitFacts(vt *token.Verified, facts []datalog.Predicate) []datalog.Predicate {
	if v.cfg.Limits == nil {
		return facts
	}
	ls := vt.Limits()
	for i := range ls {
		facts = append(facts, ls[i].OKFact())
	}
	return facts
}

// spendLimits counts an allowed call against the limits that apply to it,
// turning d into a denial when one has no room.
func (v *Verifier) spendLimits(ctx context.Context, d Decision, vt *token.Verified, req *Request, now time.Time, sc *scratch) Decision {
	ls := vt.Limits()
	if len(ls) == 0 || v.cfg.Limits == nil {
		return d
	}
	c := &sc.limit
	*c = LimitCall{Token: vt, Limits: c.Limits[:0], Amounts: c.Amounts[:0], Tool: req.Tool, DecisionID: d.DecisionID, Now: now}
	for i := range ls {
		l := &ls[i]
		if !l.Applies(req.Tool) {
			continue
		}
		n := int64(1)
		if l.Measure == token.LimitSum {
			var err error
			if n, err = limitAmount(l, req); err != nil {
				return deny(d, err)
			}
		}
		c.Limits = append(c.Limits, l)
		c.Amounts = append(c.Amounts, n)
	}
	if len(c.Limits) == 0 {
		return d
	}
	err := v.cfg.Limits.Spend(ctx, c)
	c.Token = nil
	if err != nil {
		if !errors.Is(err, ErrLimitExceeded) {
			err = fmt.Errorf("%w: %w", ErrLimitUnavailable, err)
		}
		return deny(d, err)
	}
	if c.Local {
		d.Reason = "allowed (usage limits counted at this verifier only)"
	}
	return d
}

// limitAmount reads the integer argument a sum limit adds up. A call
// without it, or with a negative or non-integer one, is denied: a limit
// fails closed.
func limitAmount(l *token.DeclaredLimit, req *Request) (int64, error) {
	v, ok := req.Args[l.Arg]
	if !ok {
		return 0, fmt.Errorf("%w: the call has no argument %q, which the usage limit %s of block %d adds up", ErrBadRequest, l.Arg, l.Limit, l.Block)
	}
	t, _, err := callfacts.ArgTerm(v)
	if err != nil || t.Kind != datalog.KindInteger {
		return 0, fmt.Errorf("%w: argument %q is not an integer, and the usage limit %s of block %d adds it up", ErrBadRequest, l.Arg, l.Limit, l.Block)
	}
	if t.Int < 0 {
		return 0, fmt.Errorf("%w: argument %q is negative (%d), and the usage limit %s of block %d adds it up", ErrBadRequest, l.Arg, t.Int, l.Limit, l.Block)
	}
	return t.Int, nil
}

// limitRetryAfter is the Retry-After of a limit_exceeded answer: the
// seconds until the limit's window resets, or "" for a limit that never
// does.
func limitRetryAfter(d *Decision) string {
	var le *LimitExceededError
	if !errors.As(d.Err, &le) || le.ResetsAt.IsZero() {
		return ""
	}
	s := int64(time.Until(le.ResetsAt)/time.Second) + 1
	return strconv.FormatInt(max(s, 1), 10)
}
